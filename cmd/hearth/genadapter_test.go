package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/model"
)

// gen-adapter writes an adapter the engine reads and uses: the same seed
// gives the same file, the requested projections only, and generating
// with it gives other text than the base alone.
func TestGenAdapter(t *testing.T) {
	dir := t.TempDir()
	stories := filepath.Join(models, "stories260K.gguf")
	one, again, other := filepath.Join(dir, "a.gguf"), filepath.Join(dir, "b.gguf"), filepath.Join(dir, "c.gguf")
	mustRun(t, dir, "gen-adapter", "--base", stories, "--rank", "4", "--targets", "q,v", "--seed", "3", one)
	mustRun(t, dir, "gen-adapter", "--base", stories, "--rank", "4", "--targets", "q,v", "--seed", "3", again)
	mustRun(t, dir, "gen-adapter", "--base", stories, "--rank", "4", "--targets", "q,v", "--seed", "4", other)
	a, _ := os.ReadFile(one)
	b, _ := os.ReadFile(again)
	c, _ := os.ReadFile(other)
	if !bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Errorf("same seed same file: %v; another seed another file: %v", bytes.Equal(a, b), !bytes.Equal(a, c))
	}
	ad, err := adapter.Read(one)
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range ad.LoRA {
		if k := model.Kind(name); (k != "q" && k != "v") || l.Rank != 4 {
			t.Errorf("%s: kind %q rank %d, want q or v at rank 4", name, k, l.Rank)
		}
	}
	gen := func(extra ...string) string {
		out, _ := mustRun(t, dir, append([]string{"generate", "--model", stories, "--prompt", "Lily", "-n", "16", "--temp", "0"}, extra...)...)
		return out
	}
	if gen() == gen("--lora-scaled", one+":8") {
		t.Error("the adapter does not change what the model says")
	}
	if _, _, err := runTenants(t, dir, "gen-adapter", "--base", stories, "--targets", "nope", filepath.Join(dir, "d.gguf")); err == nil || !strings.Contains(err.Error(), "no projection") {
		t.Errorf("unknown targets: %v", err)
	}
}
