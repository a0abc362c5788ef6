package hostile

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestHostileJurisdictionHeader: a node that does not route applies
// X-Hearth-Jurisdiction (a KE node used to serve a request that asked for
// NG): another jurisdiction is a 503, a malformed one a 400, its own is
// served.
func TestHostileJurisdictionHeader(t *testing.T) {
	dir := t.TempDir()
	key := Tenant(t, dir, "acme", "--jurisdictions", "KE,NG")
	n := Start(t, dir, "--jurisdiction", "KE")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		header string
		status int
		says   string
	}{
		{"NG", 503, "NG"},
		{"ng", 400, "not a jurisdiction"},
		{"KE", 200, ""},
	} {
		for _, path := range []string{"/v1/chat/completions", "/api/chat"} {
			body := `{"model":"stories260k","max_tokens":4,"stream":false,"messages":[{"role":"user","content":"hi"}]}`
			status, resp, err := n.Post(ctx, path, body, "Authorization", "Bearer "+key, "X-Hearth-Jurisdiction", tc.header)
			if err != nil || status != tc.status || !strings.Contains(resp, tc.says) {
				t.Errorf("%s with X-Hearth-Jurisdiction %s: %d %v %s; want %d saying %q", path, tc.header, status, err, resp, tc.status, tc.says)
			}
		}
	}
}
