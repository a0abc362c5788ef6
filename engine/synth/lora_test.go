package synth

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/model"
)

// TestLoRA checks that LoRA updates exactly the projections of the kinds
// asked for, in shapes the model accepts, and the same for the same seed.
func TestLoRA(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := Write(path, Spec{Blocks: 2}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := model.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	set := LoRA(m, 4, []string{"q", "down"}, 0.1, 1)
	var names []string
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.1.attn_q.weight", "blk.1.ffn_down.weight"}
	if !slices.Equal(names, want) {
		t.Fatalf("updates of %v; want %v", names, want)
	}
	if _, err := m.NewAdapter(set); err != nil {
		t.Fatal(err)
	}
	again, other := LoRA(m, 4, []string{"q", "down"}, 0.1, 1), LoRA(m, 4, []string{"q", "down"}, 0.1, 2)
	for _, n := range names {
		if !slices.Equal(set[n].B, again[n].B) || !slices.Equal(set[n].A, again[n].A) {
			t.Errorf("%s: not the same for the same seed", n)
		}
		if slices.Equal(set[n].B, other[n].B) {
			t.Errorf("%s: the same for another seed", n)
		}
	}
}
