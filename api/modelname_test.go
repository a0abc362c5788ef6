package api

import "testing"

// TestModelSpellings: a model answers to every spelling modelname.Same
// accepts, whether the request loads it (chat) or only looks it up (show,
// /v1/models/{id}), as the router and the store resolve names.
func TestModelSpellings(t *testing.T) {
	h := newHarness(t, nil)
	for _, name := range []string{"fake", "fake:latest", "Fake", "FAKE:Latest", " fake "} {
		if rec := h.do("POST", "/v1/chat/completions", `{"model":"`+name+`","messages":[{"role":"user","content":"hi"}]}`); rec.Code != 200 {
			t.Errorf("chat with %q: %d %s", name, rec.Code, rec.Body)
		}
		if rec := h.do("POST", "/api/show", `{"model":"`+name+`"}`); rec.Code != 200 {
			t.Errorf("show %q: %d %s", name, rec.Code, rec.Body)
		}
	}
	for _, id := range []string{"fake", "Fake:latest"} {
		if rec := h.do("GET", "/v1/models/"+id, ""); rec.Code != 200 {
			t.Errorf("GET /v1/models/%s: %d %s", id, rec.Code, rec.Body)
		}
	}
	for _, name := range []string{"fake:q8_0", "fak", "fake:latest:latest"} {
		if rec := h.do("POST", "/api/show", `{"model":"`+name+`"}`); rec.Code != 404 {
			t.Errorf("show %q: %d %s; want 404", name, rec.Code, rec.Body)
		}
	}
}
