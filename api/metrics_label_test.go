package api

import (
	"strings"
	"testing"
)

// TestMetricsLabelIsTheModel: however a client spells a model, its
// requests count under the model's own name. Each spelling the node
// accepted used to get its own series (case variants, ":latest"), so a
// client could make /metrics grow without bound.
func TestMetricsLabelIsTheModel(t *testing.T) {
	h := newHarness(t, nil)
	for _, name := range []string{"fake", "fake:latest"} {
		if rec := h.do("POST", "/v1/chat/completions", `{"model":"`+name+`","messages":[{"role":"user","content":"hi"}]}`); rec.Code != 200 {
			t.Fatalf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "model" && l.GetValue() != "fake" {
					t.Errorf("%s has a series for model %q", mf.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestMetricsLabelOfAnAdapter: an adapter's requests count under its
// base. /metrics answers whoever reaches it; labelled by the served
// name, it listed every tenant's adapters (and a series per version),
// while the response header and the log line still name the adapter.
func TestMetricsLabelOfAnAdapter(t *testing.T) {
	h := newHarness(t, nil)
	m := h.backend.models["long"]
	m.info.Name, m.info.Base = "fake:secret-project@3", "fake"
	rec := h.do("POST", "/v1/chat/completions", `{"model":"long","messages":[{"role":"user","content":"hi"}]}`)
	if rec.Code != 200 || rec.Header().Get(ModelHeader) != "fake:secret-project@3" {
		t.Fatalf("%d %s, %s %q", rec.Code, rec.Body, ModelHeader, rec.Header().Get(ModelHeader))
	}
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "model" {
					seen = seen || l.GetValue() == "fake"
					if strings.Contains(l.GetValue(), "secret") {
						t.Errorf("%s has a series for model %q", mf.GetName(), l.GetValue())
					}
				}
			}
		}
	}
	if !seen {
		t.Error("no series for the base")
	}
	if !strings.Contains(h.log(), `"model":"fake:secret-project@3"`) {
		t.Errorf("the log line does not name the adapter:\n%s", h.log())
	}
}
