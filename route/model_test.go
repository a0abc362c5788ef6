package route

import "testing"

func TestSameModel(t *testing.T) {
	for _, c := range []struct {
		have, want string
		same       bool
	}{
		{"stories260k", "stories260k", true},
		{"stories260k", "stories260k:latest", true},
		{"llama3:latest", "llama3", true},
		{"Qwen2.5-0.5B:q4_k_m", "qwen2.5-0.5b:Q4_K_M", true},
		{"qwen2.5:q8_0", "qwen2.5:q4_k_m", false},
		{"qwen2.5:q8_0", "qwen2.5", false},
		{"llama3", "llama", false},
	} {
		if got := SameModel(c.have, c.want); got != c.same {
			t.Errorf("SameModel(%q, %q) = %v, want %v", c.have, c.want, got, c.same)
		}
	}
}
