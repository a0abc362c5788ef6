package gateway

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestPeekDecodesLittle: a routing node reads only the model and the
// first message of a request; the rest of a padded conversation costs it
// no allocations (it used to decode every message's content into generic
// values, multiplying a padded body's size in memory before the serving
// node could refuse it).
func TestPeekDecodesLittle(t *testing.T) {
	body := []byte(`{"model":"m","messages":[{"role":"system","content":"be brief"},` +
		strings.TrimSuffix(strings.Repeat(`{"role":"user","content":[{"type":"text","text":"padding"}],"x":[1,2,3]},`, 20000), ",") + `]}`)
	var peek peekBody
	allocs := testing.AllocsPerRun(5, func() {
		peek = peekBody{}
		if err := json.Unmarshal(body, &peek); err != nil {
			t.Fatal(err)
		}
	})
	if peek.Model != "m" || peek.Messages.Role != "system" || peek.Messages.Content != "be brief" {
		t.Fatalf("peeked %+v", peek)
	}
	if allocs > 100 {
		t.Errorf("peeking a 20,000-message body took %.0f allocations; want a handful", allocs)
	}
	for _, odd := range []string{`{"model":"m","messages":{}}`, `{"model":"m","messages":[]}`, `{"model":"m","messages":[1]}`, `{"model":"m","messages":[{"role":"system","content":[{"type":"text"}]}]}`} {
		var p peekBody
		if err := json.Unmarshal([]byte(odd), &p); err != nil || p.Model != "m" || p.Messages.Content != "" {
			t.Errorf("%s: %+v %v", odd, p, err)
		}
	}
}
