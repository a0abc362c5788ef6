package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// JurisdictionHeader narrows a request to one jurisdiction: it may run
// only on a node there. A routing node (the gateway) picks such a node; any
// node that runs the request checks it too, so a node that does not route
// refuses the request rather than ignore the header and serve it
// somewhere the client ruled out.
const JurisdictionHeader = "X-Hearth-Jurisdiction"

// checkNarrow applies the request's JurisdictionHeader before its model
// is loaded: a malformed value is a 400, a jurisdiction other than this
// node's (Config.Jurisdiction) a 503 naming both, as a gateway with no
// node there answers.
func (s *Server) checkNarrow(ctx context.Context) error {
	want := requestInfoFrom(ctx).narrow
	if want == "" {
		return nil
	}
	if !wellFormedJurisdiction(want) {
		return badRequest("", "%s %q is not a jurisdiction (an upper-case ISO 3166-1 code such as KE, or a zone such as KE-NBO)", JurisdictionHeader, clientText(want))
	}
	if want == s.cfg.Jurisdiction {
		return nil
	}
	here := "has no jurisdiction set"
	if s.cfg.Jurisdiction != "" {
		here = "is in " + s.cfg.Jurisdiction
	}
	return &Error{Status: http.StatusServiceUnavailable, Type: "no_permitted_node", Code: "no_permitted_node",
		Message: fmt.Sprintf("no permitted node: %s asks for %s, and this node %s and does not route requests to other nodes", JurisdictionHeader, want, here)}
}

// wellFormedJurisdiction reports whether j looks like a jurisdiction:
// 2 to 32 upper-case letters, digits and inner dashes, starting with a
// letter. (tenant.ValidateJurisdiction explains a bad one at length; here
// it is enough to refuse it.)
func wellFormedJurisdiction(j string) bool {
	if len(j) < 2 || len(j) > 32 || j[0] < 'A' || j[0] > 'Z' || strings.HasSuffix(j, "-") || strings.Contains(j, "--") {
		return false
	}
	return !strings.ContainsFunc(j, func(r rune) bool { return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') })
}
