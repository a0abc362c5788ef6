package engine_test

import (
	"math"
	"testing"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/model"
)

// One batched step over sequences with different adapters (and one with
// none) gives each sequence the logits of the base with its adapter
// attached alone: the base weights are shared, the updates are not.
func TestBatchOfAdapters(t *testing.T) {
	path := storiesAdapter(t, "llama")
	ad, err := adapter.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	m := load(t, stories, engine.Options{Threads: 2})
	half, err := adapter.Build(m.Net, adapter.Use{Adapter: ad, Scale: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	full, err := adapter.Build(m.Net, adapter.Use{Adapter: ad, Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	prompts := [][]int32{m.Tok.Encode("Lily", true, false), m.Tok.Encode("Once upon a time", true, false), m.Tok.Encode("Tom", true, false)}
	adapters := []*model.Adapter{full, nil, half}
	scales := []float32{1, 0, 0.5}

	sc := m.Net.NewScratch(64, 3)
	var seqs []model.Seq
	for i, p := range prompts {
		seqs = append(seqs, model.Seq{Cache: m.Net.NewCache(32), Tokens: p, Logits: true, Adapter: adapters[i]})
	}
	got, err := m.Net.ForwardBatch(sc, seqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range prompts {
		net := m.Net
		if scales[i] != 0 {
			if net, err = adapter.Attach(m.Net, adapter.Use{Adapter: ad, Scale: scales[i]}); err != nil {
				t.Fatal(err)
			}
		}
		want, err := net.Forward(t.Context(), net.NewState(32), p)
		if err != nil {
			t.Fatal(err)
		}
		var worst float64
		for j := range want {
			worst = max(worst, math.Abs(float64(want[j]-got[i][j])))
		}
		if worst > 1e-4 {
			t.Errorf("sequence %d (scale %v): logits differ from the attached model's by up to %g", i, scales[i], worst)
		}
	}
	// The adapter must change something, or the test above proves nothing.
	plain, _ := m.Net.Forward(t.Context(), m.Net.NewState(32), prompts[0])
	var moved float64
	for j := range plain {
		moved = max(moved, math.Abs(float64(plain[j]-got[0][j])))
	}
	if moved < 1e-2 {
		t.Errorf("the adapter moved the logits by only %g", moved)
	}
}
