package access

import (
	"net"
	"net/http"
	"strings"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/tenant"
)

// Refused authentications (401s) are folded per remote address (see
// DenialWindow and fold.go): an address costs the log at most one record
// per window, however many bad keys it sends. The record holds the remote
// address, the path, the reason and the display prefix of a well-formed
// key (the 8 characters after "hk_" that `hearth keys list` shows), never
// the rest of a secret.
const (
	otherAddrs = "(other addresses)" // where refusals from untracked addresses fold
	maxPathLen = 128
)

// authFolder folds refused authentications per address, listing the key
// prefixes tried.
func authFolder() folder {
	return folder{
		collect:   func(r audit.Record) string { return r.Detail["key_prefix"] },
		collectAs: "key_prefix",
		other: func(_ string, r audit.Record) (string, audit.Record) {
			r.Detail = withDetail(r.Detail, "remote_addr", otherAddrs)
			return otherAddrs, r
		},
	}
}

// denied records a refused authentication of r (see DenialWindow).
func (g *Gate) denied(r *http.Request, cause error) {
	addr := remoteHost(r.RemoteAddr)
	secret := bearer(r)
	reason := "auth: no API key"
	if secret != "" {
		msg := strings.TrimPrefix(cause.Error(), api.ErrUnauthorized.Error()+": ")
		reason = "auth: " + strings.TrimPrefix(msg, tenant.ErrUnauthenticated.Error()+": ")
	}
	detail := map[string]string{"remote_addr": addr, "path": clip(r.URL.Path, maxPathLen)}
	if prefix := keyPrefix(secret); prefix != "" {
		detail["key_prefix"] = prefix
	}
	rec := bounded(audit.Record{Kind: audit.KindRequest, Node: g.cfg.Node, Jurisdiction: g.cfg.Jurisdiction,
		Decision: audit.DecisionDeny, Reason: reason, Detail: detail})
	g.appendAll(g.authDenials.add(g, g.now(), addr, rec))
}

// remoteHost is the address without its port: a client's connections
// come from many ports.
func remoteHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	if len(addr) > 64 {
		addr = addr[:64]
	}
	return addr
}

// keyPrefix is the display prefix of a token shaped like a Hearth key
// ("hk_" and at least 8 more characters of its alphabet), or "".
func keyPrefix(secret string) string {
	const n = len(tenant.SecretPrefix) + 8
	if len(secret) < n || !strings.HasPrefix(secret, tenant.SecretPrefix) {
		return ""
	}
	p := secret[len(tenant.SecretPrefix):n]
	for i := 0; i < len(p); i++ {
		if c := p[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return ""
		}
	}
	return p
}
