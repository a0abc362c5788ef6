package api

import (
	"strings"
	"testing"
)

// TestModelRoutesAreRoutes: each route ModelRoutes lists (and the fleet's
// gateway forwards) is served under its name and takes only POST.
func TestModelRoutesAreRoutes(t *testing.T) {
	h := newHarness(t, nil)
	routes := ModelRoutes()
	if len(routes) == 0 {
		t.Fatal("no model routes")
	}
	for _, m := range routes {
		if rec := h.do("GET", m.Path, ""); rec.Code != 405 {
			t.Errorf("GET %s: %d; want 405", m.Path, rec.Code)
		}
		if rec := h.do("POST", m.Path, `{"model":"fake"}`); rec.Code == 404 || rec.Code == 405 {
			t.Errorf("POST %s: %d %s; want its handler's answer", m.Path, rec.Code, rec.Body)
		}
		if samples(m.Endpoint) != m.Samples || generates(m.Path) != m.Samples {
			t.Errorf("%s: samples %v, generates %v; want %v", m.Path, samples(m.Endpoint), generates(m.Path), m.Samples)
		}
		if m.Samples == strings.Contains(m.Path, "embed") {
			t.Errorf("%s: Samples %v", m.Path, m.Samples)
		}
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "hearth_http_requests_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "endpoint" {
					seen[l.GetValue()] = true
				}
			}
		}
	}
	for _, m := range routes {
		if !seen[m.Endpoint] {
			t.Errorf("no request counted under %q (%s); counted: %v", m.Endpoint, m.Path, seen)
		}
	}
}
