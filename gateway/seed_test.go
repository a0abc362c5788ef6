package gateway

import (
	"encoding/json"
	"testing"
)

func TestWithSeed(t *testing.T) {
	seedOf := func(t *testing.T, body []byte, ollama bool) (any, bool) {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if ollama {
			o, _ := m["options"].(map[string]any)
			s, ok := o["seed"]
			return s, ok
		}
		s, ok := m["seed"]
		return s, ok
	}
	for _, c := range []struct {
		name, path, body string
		ollama           bool
		keep             any // the seed that must stay, nil: a new one
	}{
		{"openai without", "/v1/chat/completions", `{"model":"m","messages":[],"temperature":0.8}`, false, nil},
		{"openai with", "/v1/chat/completions", `{"model":"m","seed":42}`, false, float64(42)},
		{"openai null", "/v1/completions", `{"model":"m","seed":null}`, false, nil},
		{"ollama without options", "/api/chat", `{"model":"m"}`, true, nil},
		{"ollama with options", "/api/generate", `{"model":"m","options":{"temperature":0.5}}`, true, nil},
		{"ollama with seed", "/api/chat", `{"model":"m","options":{"seed":9}}`, true, float64(9)},
		{"ollama seed -1", "/api/chat", `{"model":"m","options":{"seed":-1}}`, true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := withSeed([]byte(c.body), c.path)
			s, ok := seedOf(t, out, c.ollama)
			switch {
			case !ok:
				t.Errorf("%s: no seed", out)
			case c.keep != nil && s != c.keep:
				t.Errorf("%s: seed %v, want the request's %v", out, s, c.keep)
			case c.keep == nil && s == float64(-1):
				t.Errorf("%s: -1 kept", out)
			}
			if c.name == "ollama with options" {
				var m map[string]map[string]any
				json.Unmarshal(out, &m)
				if m["options"]["temperature"] != 0.5 {
					t.Errorf("%s: other options lost", out)
				}
			}
		})
	}
	for _, bad := range []string{`not json`, `[1,2]`, `{"model":"m","options":"x"}`} {
		if got := string(withSeed([]byte(bad), "/api/chat")); got != bad {
			t.Errorf("%q became %q; malformed bodies go on as they are", bad, got)
		}
	}
}
