package runner

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/internal/testfixture"
)

const stories = "../../shared/testdata/models/stories260K.gguf"

// cacheRunner serves stories260K with one --lora adapter, whose built
// sets differ by scale; it returns the runner, the loaded base and one
// set's bytes.
func cacheRunner(t *testing.T, cfg Config) (*Runner, *loaded, int64) {
	t.Helper()
	if _, err := os.Stat(stories); err != nil {
		t.Skip(err)
	}
	cfg.Files = []string{stories}
	cfg.LoRA = []LoRAFile{{Path: testfixture.AdapterFor(t, stories, 5, 4), Scale: 0}}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	m, release, err := r.AcquireLoRA(context.Background(), "stories260k", []api.LoRA{{ID: 0, Scale: 1}})
	if err != nil {
		t.Fatal(err)
	}
	release()
	a := m.(*adapted)
	return r, a.loaded, a.c.bytes
}

func (r *Runner) cachedScales(l *loaded) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(l.adapters)
}

// TestAdapterCacheMemory: built adapter sets count in the memory limit;
// an idle one is dropped, least recently used first, to make room for
// another; one in use is not, and a set that cannot fit is a 503.
func TestAdapterCacheMemory(t *testing.T) {
	r, l, bytes := cacheRunner(t, Config{})
	if bytes <= 0 {
		t.Fatalf("a built adapter of %d bytes", bytes)
	}
	r.cfg.MemoryLimit = l.memory + bytes + bytes/2 // the model and one set
	ctx := context.Background()
	acquire := func(scale float32) (func(), error) {
		_, release, err := r.AcquireLoRA(ctx, "stories260k", []api.LoRA{{ID: 0, Scale: scale}})
		return release, err
	}
	release, err := acquire(0.5) // the scale-1 set is idle: dropped for this one
	if err != nil {
		t.Fatal(err)
	}
	if n := r.cachedScales(l); n != 1 {
		t.Errorf("%d sets cached, want 1", n)
	}
	if _, err := acquire(0.25); !errors.Is(err, api.ErrOverloaded) {
		t.Errorf("a set that fits only if the one in use went: %v", err)
	}
	release()
	r2, err := acquire(0.25)
	if err != nil {
		t.Fatalf("once the set in use is idle: %v", err)
	}
	r2()
	if n := r.cachedScales(l); n != 1 {
		t.Errorf("%d sets cached, want 1", n)
	}
	if got := r.Loaded(); len(got) != 1 {
		t.Errorf("the base itself was unloaded for an adapter: %v", got)
	}
}

// TestAdapterCacheCount: the sets per base are bounded too, the least
// recently used idle one going first.
func TestAdapterCacheCount(t *testing.T) {
	r, l, _ := cacheRunner(t, Config{MaxCachedAdapters: 2})
	ctx := context.Background()
	for _, s := range []float32{0.5, 0.25, 2} {
		_, release, err := r.AcquireLoRA(ctx, "stories260k", []api.LoRA{{ID: 0, Scale: s}})
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	if n := r.cachedScales(l); n != 2 {
		t.Errorf("%d sets cached, want at most 2", n)
	}
	r.mu.Lock()
	for k := range l.adapters {
		if !strings.HasSuffix(k, "*0.25;") && !strings.HasSuffix(k, "*2;") {
			t.Errorf("kept %q, not one of the two most recent", k)
		}
	}
	r.mu.Unlock()
}
