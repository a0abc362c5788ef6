package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestParseLoRAs(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    []LoRA
		errWith string // "" for none
	}{
		{`[]`, []LoRA{}, ""},
		{`[{"id":0,"scale":1},{"id":2,"scale":-0.5}]`, []LoRA{{0, 1}, {2, -0.5}}, ""},
		{`[{"id":1}]`, []LoRA{{1, 1}}, ""},
		{` [ {"scale":0.5,"id":3} ] `, []LoRA{{3, 0.5}}, ""},
		{`{"id":0}`, nil, "must be an array"},
		{`"0"`, nil, "must be an array"},
		{`[0]`, nil, "lora[0]"},
		{`[{"scale":1}]`, nil, "lora[0].id' is required"},
		{`[{"id":-1}]`, nil, "lora[0].id"},
		{`[{"id":1.5}]`, nil, "lora[0].id"},
		{`[{"id":1e300}]`, nil, "lora[0].id"},
		{`[{"id":99999999999999999999999}]`, nil, "lora[0].id"},
		{`[{"id":0,"scale":"NaN"}]`, nil, "lora[0]"},
		{`[{"id":"0"}]`, nil, `'lora[0].id' is "0"`}, // llama-server's ids are numbers
		{`[{"id":1},{"id":"2","scale":1}]`, nil, `'lora[1].id' is "2"`},
		{`[{"id":0,"scale":"0.5"}]`, nil, `'lora[0].scale' is "0.5"`},
		{`[{"id":null}]`, nil, "lora[0].id' is required"},
		{`[{"id":0,"scale":1e39}]`, nil, "lora[0].scale"},
		{`[{"id":0,"scale":-1001}]`, nil, "lora[0].scale"},
		{`[{"id":0},{"id":0}]`, nil, "listed twice"},
		{`[{"id":0}] [1]`, nil, "must be an array"},
		{`[{"id":0}`, nil, "must be an array"},
		{"[" + strings.Repeat(`{"id":1e400},`, 100) + `{"id":0}]`, nil, "lora[0].id"},
		{manyLoRAs(100), nil, "more than 64"},
	} {
		got, err := parseLoRAs([]byte(c.in), "lora")
		switch {
		case c.errWith == "" && err != nil:
			t.Errorf("%.40s: %v", c.in, err)
		case c.errWith != "" && (err == nil || !strings.Contains(err.Error(), c.errWith)):
			t.Errorf("%.40s: %v, want an error with %q", c.in, err, c.errWith)
		case c.errWith == "" && !equalLoRAs(got, c.want):
			t.Errorf("%.40s: %v, want %v", c.in, got, c.want)
		}
		if e, ok := err.(*Error); err != nil && (!ok || e.Status != http.StatusBadRequest) {
			t.Errorf("%.40s: %v is not a 400", c.in, err)
		}
	}
}

func manyLoRAs(n int) string {
	var b strings.Builder
	b.WriteString("[")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":%d}`, i)
	}
	return b.String() + "]"
}

func equalLoRAs(a, b []LoRA) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzParseLoRAs: any "lora" field is a list of at most maxLoRAs
// distinct ids with finite scales, or a 400.
func FuzzParseLoRAs(f *testing.F) {
	for _, s := range []string{`[]`, `[{"id":0,"scale":1}]`, `[{"id":1e400}]`, `[{"id":0},{"id":0}]`, `[[[[`, `null`, `[{"id":"0"}]`, `[{"id":0,"scale":"1"}]`, `[{"id":"1e400"}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseLoRAs([]byte(in), "lora")
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Status != http.StatusBadRequest {
				t.Fatalf("%q: %v", in, err)
			}
			return
		}
		if len(got) > maxLoRAs {
			t.Fatalf("%q: %d entries", in, len(got))
		}
		seen := map[int]bool{}
		for _, l := range got {
			if l.ID < 0 || seen[l.ID] || l.Scale != l.Scale || l.Scale > maxLoRAScale || l.Scale < -maxLoRAScale {
				t.Fatalf("%q: %v", in, got)
			}
			seen[l.ID] = true
		}
	})
}

// TestModelHeader: a generating response names the model that served it;
// a backend without LoRA adapters refuses a "lora" field and routes none
// of their endpoints.
func TestModelHeader(t *testing.T) {
	h := newHarness(t, nil)
	for _, path := range []string{"/v1/chat/completions", "/api/chat"} {
		rec := h.do("POST", path, `{"model":"fake","stream":false,"messages":[{"role":"user","content":"hi"}]}`)
		if rec.Code != http.StatusOK || rec.Header().Get(ModelHeader) != "fake" {
			t.Errorf("%s: %d, %s %q", path, rec.Code, ModelHeader, rec.Header().Get(ModelHeader))
		}
	}
	rec := h.do("POST", "/v1/chat/completions", `{"model":"fake","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if rec.Header().Get(ModelHeader) != "fake" {
		t.Errorf("a stream: %s %q", ModelHeader, rec.Header().Get(ModelHeader))
	}
	if rec := h.do("GET", "/v1/models", ""); rec.Header().Get(ModelHeader) != "" {
		t.Errorf("a model list says %s %q", ModelHeader, rec.Header().Get(ModelHeader))
	}
	rec = h.do("POST", "/v1/chat/completions", `{"model":"fake","lora":[{"id":0,"scale":1}],"messages":[{"role":"user","content":"hi"}]}`)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "lora") {
		t.Errorf("lora on a backend without adapters: %d %s", rec.Code, rec.Body)
	}
	rec = h.do("POST", "/v1/chat/completions", `{"model":"fake","lora":[{"id":0,"scale":NaN}],"messages":[{"role":"user","content":"hi"}]}`)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("a NaN scale: %d %s", rec.Code, rec.Body)
	}
	for _, path := range []string{"/lora-adapters", "/v1/load_lora_adapter"} {
		if rec := h.do("GET", path, ""); rec.Code != http.StatusNotFound {
			t.Errorf("%s on a backend without adapters: %d", path, rec.Code)
		}
	}
}
