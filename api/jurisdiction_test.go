package api

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestJurisdictionHeader: a node that does not route applies
// X-Hearth-Jurisdiction itself, on both API shapes: it serves a request
// that asks for its own jurisdiction and refuses one that asks for another
// (a KE node used to serve a request that asked for NG).
func TestJurisdictionHeader(t *testing.T) {
	for _, tc := range []struct {
		name, node, header string
		status             int
		says               []string
	}{
		{"no header", "KE", "", 200, nil},
		{"this node's", "KE", "KE", 200, nil},
		{"another", "KE", "NG", 503, []string{"NG", "KE", "no permitted node"}},
		{"node without one", "", "KE", 503, []string{"KE", "no jurisdiction set"}},
		{"malformed", "KE", "ke", 400, []string{"ke", "not a jurisdiction"}},
		{"a zone of this node's country", "KE", "KE-NBO", 503, []string{"KE-NBO"}},
	} {
		for _, ep := range []struct{ path, body string }{
			{"/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":"hi"}]}`},
			{"/api/generate", `{"model":"fake","prompt":"hi","stream":false}`},
			{"/v1/embeddings", `{"model":"fake","input":"hi"}`},
		} {
			t.Run(tc.name+ep.path, func(t *testing.T) {
				h := newHarness(t, func(c *Config) { c.Jurisdiction = tc.node })
				req := httptest.NewRequest("POST", ep.path, strings.NewReader(ep.body))
				req.Header.Set("Content-Type", "application/json")
				if tc.header != "" {
					req.Header.Set(JurisdictionHeader, tc.header)
				}
				rec := httptest.NewRecorder()
				h.srv.ServeHTTP(rec, req)
				if rec.Code != tc.status {
					t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
				}
				for _, s := range tc.says {
					if !strings.Contains(rec.Body.String(), s) {
						t.Errorf("answer %s does not say %q", rec.Body, s)
					}
				}
				if tc.status != 200 && h.backend.models["fake"].generations() != 0 {
					t.Error("the model ran for a refused request")
				}
			})
		}
	}
}
