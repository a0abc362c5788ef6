package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/sample"
)

// storiesAdapter writes a seeded random adapter for stories260K's q and v
// projections and returns its path.
func storiesAdapter(t *testing.T, arch string) string {
	t.Helper()
	m := load(t, stories, engine.Options{Threads: 1})
	rng := rand.New(rand.NewPCG(9, 9))
	a := &adapter.Adapter{Arch: arch, Alpha: 8, LoRA: map[string]*model.LoRA{}}
	for _, p := range m.Net.Projections() {
		if k := model.Kind(p.Name); k != "q" && k != "v" {
			continue
		}
		l := &model.LoRA{Rank: 4, Scale: 2, A: make([]float32, 4*p.W.Cols), B: make([]float32, p.W.Rows*4)}
		for i := range l.A {
			l.A[i] = float32(rng.NormFloat64() * 0.3)
		}
		for i := range l.B {
			l.B[i] = float32(rng.NormFloat64() * 0.3)
		}
		a.LoRA[p.Name] = l
	}
	path := filepath.Join(t.TempDir(), arch+"-lora.gguf")
	if err := a.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func greedy(t *testing.T, m *engine.Model) []int32 {
	t.Helper()
	res, err := m.Generate(context.Background(), engine.Request{
		Prompt: m.Tok.Encode("Lily", true, false), MaxTokens: 20, Sampling: sample.Params{Temperature: 0},
	}, func(engine.Token) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return res.Tokens
}

// resolverFunc is a Resolver for tests.
type resolverFunc func(string) (*adapter.Adapter, error)

func (f resolverFunc) Resolve(name string) (*adapter.Adapter, error) { return f(name) }

func TestLoadAttachesLoRA(t *testing.T) {
	path := storiesAdapter(t, "llama")
	base := greedy(t, load(t, stories, engine.Options{Threads: 2}))

	m := load(t, stories, engine.Options{Threads: 2, LoRA: []engine.LoRA{{Name: path, Scale: 1}}})
	adapted := 0
	for _, p := range m.Net.Projections() {
		if p.LoRA != nil {
			adapted++
		}
	}
	if adapted != 2*m.Net.Blocks {
		t.Errorf("%d projections adapted, want q and v of %d blocks", adapted, m.Net.Blocks)
	}
	if got := greedy(t, m); slices.Equal(got, base) {
		t.Errorf("the adapter did not change the greedy output %v", got)
	}

	// Scale 0 (--lora-scaled FILE 0) is the base.
	if got := greedy(t, load(t, stories, engine.Options{Threads: 2, LoRA: []engine.LoRA{{Name: path, Scale: 0}}})); !slices.Equal(got, base) {
		t.Errorf("at scale 0: %v, base %v", got, base)
	}

	// A resolver is asked for every name; what it returns is attached.
	var asked []string
	r := resolverFunc(func(name string) (*adapter.Adapter, error) {
		asked = append(asked, name)
		return adapter.Read(path)
	})
	m2 := load(t, stories, engine.Options{Threads: 2, Resolver: r, LoRA: []engine.LoRA{{Name: "support@2", Scale: 1}}})
	if !slices.Equal(asked, []string{"support@2"}) || !slices.Equal(greedy(t, m2), greedy(t, m)) {
		t.Errorf("resolver asked for %q; output differs from the file's adapter", asked)
	}
}

func TestLoadRefusesBadLoRA(t *testing.T) {
	wrong := storiesAdapter(t, "qwen2")
	cases := []struct {
		name string
		opts engine.Options
		want []string
		fits bool // the error wraps adapter.ErrMismatch
	}{
		{"missing file", engine.Options{LoRA: []engine.LoRA{{Name: "/nonexistent/a.gguf", Scale: 1}}}, []string{"/nonexistent/a.gguf"}, false},
		{"a model as adapter", engine.Options{LoRA: []engine.LoRA{{Name: stories, Scale: 1}}}, []string{"stories260K.gguf", "not an adapter file"}, false},
		{"other architecture", engine.Options{LoRA: []engine.LoRA{{Name: wrong, Scale: 1}}}, []string{"qwen2-lora.gguf", `architecture "qwen2"`}, true},
		{"resolver fails", engine.Options{Resolver: resolverFunc(func(n string) (*adapter.Adapter, error) {
			return nil, fmt.Errorf("registry: no adapter %s", n)
		}), LoRA: []engine.LoRA{{Name: "nope@1", Scale: 1}}}, []string{"no adapter nope@1"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := engine.Load(stories, tc.opts)
			if err == nil {
				m.Close()
				t.Fatal("loaded")
			}
			for _, w := range append(tc.want, "stories260K.gguf") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if errors.Is(err, adapter.ErrMismatch) != tc.fits {
				t.Errorf("error %q: wraps ErrMismatch %v, want %v", err, !tc.fits, tc.fits)
			}
		})
	}
}
