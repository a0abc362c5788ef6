package api

import (
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
