package model_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hearth-ai/hearth/engine/parallel"
)

const testdata = "../../../shared/testdata"

func argmax(x []float32) int32 {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return int32(best)
}

// TestStories260KGreedy checks the trained TinyStories model against the
// reference continuation in SOURCES.txt (an independent fp64 forward pass).
func TestStories260KGreedy(t *testing.T) {
	want := []int32{403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
		410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352}
	m := openModel(t, filepath.Join(testdata, "models/stories260K.gguf"))
	for _, threads := range []int{1, 2} {
		p := parallel.New(threads)
		m.SetPool(p)
		s := m.NewState(0)
		tok := int32(1)
		var got []int32
		for range want {
			logits, err := m.Forward(context.Background(), s, []int32{tok})
			if err != nil {
				t.Fatal(err)
			}
			tok = argmax(logits)
			got = append(got, tok)
		}
		p.Close()
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("threads %d: token %d = %d; want %d (got %v)", threads, i, got[i], want[i], got)
			}
		}
	}
}

// TestDecodeAllocs checks that a decode step of the forward pass allocates
// nothing: all activations live in preallocated scratch and cache.
func TestDecodeAllocs(t *testing.T) {
	m := openModel(t, filepath.Join(testdata, "models/stories260K.gguf"))
	p := parallel.New(2)
	defer p.Close()
	m.SetPool(p)
	s := m.NewState(0)
	tok := []int32{1}
	ctx := context.Background()
	m.Forward(ctx, s, tok)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := m.Forward(ctx, s, tok); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("a decode step allocates %v times; want 0", allocs)
	}
}
