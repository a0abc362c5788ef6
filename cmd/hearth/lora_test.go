package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/model"
)

// storiesLoRA writes an adapter for stories260K's attention projections,
// with deterministic values large enough to change its greedy output.
func storiesLoRA(t *testing.T) string {
	t.Helper()
	m, err := engine.Load(filepath.Join(models, "stories260K.gguf"), engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a := &adapter.Adapter{Arch: m.Net.Arch, Alpha: 4, LoRA: map[string]*model.LoRA{}}
	for _, p := range m.Net.Projections() {
		if k := model.Kind(p.Name); k != "q" && k != "k" && k != "o" {
			continue
		}
		l := &model.LoRA{Rank: 2, Scale: 2, A: make([]float32, 2*p.W.Cols), B: make([]float32, 2*p.W.Rows)}
		for i := range l.A {
			l.A[i] = float32(0.4 * math.Sin(float64(i)*0.7))
		}
		for i := range l.B {
			l.B[i] = float32(0.4 * math.Cos(float64(i)*1.3))
		}
		a.LoRA[p.Name] = l
	}
	path := filepath.Join(t.TempDir(), "stories-lora.gguf")
	if err := a.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGenerateLoRA(t *testing.T) {
	stories := filepath.Join(models, "stories260K.gguf")
	lora := storiesLoRA(t)
	gen := func(extra ...string) string {
		t.Helper()
		out, err := run(t, "", append([]string{"generate", "--model", stories, "--prompt", "Lily", "-n", "20", "--temp", "0", "--json"}, extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	base := gen()
	adapted := gen("--lora", lora)
	if adapted == base {
		t.Errorf("--lora did not change the output %s", base)
	}
	if got := gen("--lora-scaled", lora+":1"); got != adapted {
		t.Errorf("--lora-scaled FILE:1 gives %s; --lora FILE %s", got, adapted)
	}
	if got := gen("--lora-scaled", lora+":0"); got != base {
		t.Errorf("--lora-scaled FILE:0 gives %s; the base %s", got, base)
	}
	// Half the scale twice is the scale once.
	if got := gen("--lora-scaled", lora+":0.5,"+lora+":0.5"); got != adapted {
		t.Errorf("two adapters at 0.5 give %s; one at 1 %s", got, adapted)
	}
	// With --tenant a file is still a file.
	if got := gen("--lora", lora, "--tenant", "acme"); got != adapted {
		t.Errorf("with --tenant: %s, want %s", got, adapted)
	}

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--lora-scaled", lora}, []string{"want FILE:SCALE"}},
		{[]string{"--lora-scaled", ":1"}, []string{"want FILE:SCALE"}},
		{[]string{"--lora-scaled", lora + ":lots"}, []string{`scale "lots" is not a number`}},
		{[]string{"--lora-scaled", lora + ":NaN"}, []string{`scale "NaN" is not a number`}},
		{[]string{"--lora", stories}, []string{"stories260K.gguf", "not an adapter file"}},
		{[]string{"--lora", "support@3"}, []string{"support@3"}},
		{[]string{"--lora", "support@3", "--tenant", "acme"}, []string{"support@3", "no such file", "no adapter registry", "acme"}},
	} {
		_, err := run(t, "", append([]string{"generate", "--model", stories, "-n", "1"}, tc.args...)...)
		if err == nil {
			t.Errorf("%q: no error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not mention %q", tc.args, err, w)
			}
		}
	}
}

func TestChatLoRA(t *testing.T) {
	stories := filepath.Join(models, "stories260K.gguf")
	lora := storiesLoRA(t)
	chat := func(extra ...string) string {
		t.Helper()
		out, err := run(t, "Tell me a story\n", append([]string{"chat", "--model", stories, "-n", "10", "--temp", "0"}, extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if base, adapted := chat(), chat("--lora-scaled", lora+":1.5"); base == adapted {
		t.Errorf("the adapter did not change the reply %q", base)
	}
	_, err := run(t, "", "chat", "--url", "http://127.0.0.1:1", "--lora", lora)
	if err == nil || !strings.Contains(err.Error(), "model run in this process") {
		t.Errorf("--lora with --url: %v", err)
	}
}
