package dataset

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/hearth-ai/hearth/db"
)

// TestConcurrentBuilds builds one name from four database handles at once,
// as four processes would: each gets its own version, none fails.
func TestConcurrentBuilds(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/hearth.db"
	set := newSynth(t)
	stores := make([]*Store, 4)
	for i := range stores {
		d, err := db.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if stores[i], err = Open(ctx, d, nil); err != nil {
			t.Fatal(err)
		}
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		versions []int
	)
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.Build(ctx, Static(set.all), "tnt_a", "support", synthOptions)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			versions = append(versions, v.Version)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(versions)
	if !slices.Equal(versions, []int{1, 2, 3, 4}) {
		t.Errorf("versions %v; want 1..4", versions)
	}
}
