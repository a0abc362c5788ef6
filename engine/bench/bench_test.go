package bench_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hearth-ai/hearth/engine/bench"
	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/synth"
)

func TestRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := synth.Write(path, synth.Spec{Context: 128}); err != nil {
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
	res, err := bench.Run(context.Background(), m, bench.Params{Prompt: 40, Gen: 8, Reps: 3, Batch: 16})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Test != "pp40" || res[1].Test != "tg8" || len(res[0].Samples) != 3 {
		t.Fatalf("results %+v", res)
	}
	for _, r := range res {
		if mean, sd := r.TokensPerSec(); mean <= 0 || sd < 0 {
			t.Errorf("%s: %v ± %v tokens/s", r.Test, mean, sd)
		}
	}
	if _, err := bench.Run(context.Background(), m, bench.Params{Prompt: 100, Gen: 100}); err == nil {
		t.Error("a test beyond the context was accepted")
	}
}
