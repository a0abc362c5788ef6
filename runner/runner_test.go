package runner_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/synth"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/store"
)

const stories = "../../shared/testdata/models/stories260K.gguf"

func newRunner(t *testing.T, cfg runner.Config) *runner.Runner {
	t.Helper()
	r, err := runner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	return r
}

func TestModelsFilesAndStore(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	synthPath := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := synth.Write(synthPath, synth.Spec{Type: 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Import(context.Background(), synthPath, "tiny:test"); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, runner.Config{Files: []string{stories}, Store: st})
	models, err := r.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range models {
		names = append(names, m.Name)
	}
	if !slices.Equal(names, []string{"stories260k", "tiny:test"}) {
		t.Fatalf("models %v; want [stories260k tiny:test]", names)
	}
	if m := models[0]; m.Architecture != "llama" || m.Parameters != 292800 || m.Quantization != "F32" || m.Loaded {
		t.Errorf("stories260k described as %+v", m)
	}
	for _, name := range []string{"stories260k", "stories260k:latest", "STORIES260K", "tiny:test"} {
		m, release, err := r.Acquire(context.Background(), name)
		if err != nil {
			t.Fatalf("Acquire(%q): %v", name, err)
		}
		release()
		if !m.Info().Loaded {
			t.Errorf("Acquire(%q) returned a model not marked loaded", name)
		}
	}
	for _, name := range []string{"nope", "tiny", "../etc/passwd"} {
		if _, _, err := r.Acquire(context.Background(), name); !errors.Is(err, api.ErrModelNotFound) {
			t.Errorf("Acquire(%q): %v; want ErrModelNotFound", name, err)
		}
	}
}

func TestLoadOnceAndGenerate(t *testing.T) {
	r := newRunner(t, runner.Config{Files: []string{stories}})
	if got := r.Loaded(); len(got) != 0 {
		t.Fatalf("loaded before any request: %v", got)
	}
	var wg sync.WaitGroup
	models := make([]api.Model, 8)
	for i := range models {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, release, err := r.Acquire(context.Background(), "stories260k")
			if err != nil {
				t.Error(err)
				return
			}
			defer release()
			models[i] = m
			res, err := m.Generate(context.Background(), engine.Request{Prompt: m.Tokenize("Lily", true, false), MaxTokens: 8}, nil)
			if err != nil || len(res.Tokens) != 8 {
				t.Errorf("generate: %v %v", res, err)
			}
		}()
	}
	wg.Wait()
	for _, m := range models[1:] {
		if m != models[0] {
			t.Fatal("concurrent first requests loaded the model more than once")
		}
	}
	if got := r.Loaded(); !slices.Equal(got, []string{"stories260k"}) {
		t.Errorf("loaded %v", got)
	}
}

func TestKeepAlive(t *testing.T) {
	r := newRunner(t, runner.Config{Files: []string{stories}, KeepAlive: 30 * time.Millisecond})
	_, release, err := r.Acquire(context.Background(), "stories260k")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if len(r.Loaded()) != 1 {
		t.Fatal("a model in use was unloaded")
	}
	release()
	testfixture.WaitFor(t, "the keep-alive unload", func() bool { return len(r.Loaded()) == 0 })
	// It loads again on the next request.
	_, release, err = r.Acquire(context.Background(), "stories260k")
	if err != nil {
		t.Fatal(err)
	}
	release()
}

func TestMemoryPressure(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.gguf"), filepath.Join(dir, "b.gguf")
	for i, p := range []string{a, b} {
		if err := synth.Write(p, synth.Spec{Seed: uint64(i), Context: 64}); err != nil {
			t.Fatal(err)
		}
	}
	// Room for one model (its file plus a KV cache of 4 slots x 64 tokens x
	// 2 blocks x K and V x 32 floats) but not two.
	st, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	one := st.Size() + 4*64*2*2*32*4
	r := newRunner(t, runner.Config{Files: []string{a, b}, MemoryLimit: one + one/2})
	_, releaseA, err := r.Acquire(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// A is busy: B cannot push it out.
	if _, _, err := r.Acquire(context.Background(), "b"); !errors.Is(err, api.ErrOverloaded) {
		t.Fatalf("loading b while a is busy: %v; want ErrOverloaded", err)
	}
	releaseA()
	// A is idle now: loading B unloads it.
	_, releaseB, err := r.Acquire(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	defer releaseB()
	if got := r.Loaded(); !slices.Equal(got, []string{"b"}) {
		t.Errorf("loaded %v; want [b]", got)
	}
}

func TestBadFile(t *testing.T) {
	if _, err := runner.New(runner.Config{Files: []string{"runner.go"}}); err == nil {
		t.Error("a non-GGUF model file was accepted")
	}
}
