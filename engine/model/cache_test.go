package model_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/model"
)

// An F16 KV cache takes half the memory of an F32 one and changes the
// model's output by no more than rounding keys and values to F16 can:
// stories260K's greedy reference continuation is unchanged, and the
// logits stay close to the F32 cache's at every step.
func TestKVF16(t *testing.T) {
	f, err := gguf.Open(filepath.Join(testdata, "models/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run := func(f16 bool) (logits [][]float32, bytes int64) {
		m, err := model.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		m.KVF16 = f16
		s := m.NewState(0)
		tok := int32(1)
		for range 60 {
			l, err := m.Forward(context.Background(), s, []int32{tok})
			if err != nil {
				t.Fatal(err)
			}
			logits = append(logits, append([]float32(nil), l...))
			tok = argmax(l)
		}
		return logits, m.NewCache(64).Bytes()
	}
	ref, refBytes := run(false)
	half, halfBytes := run(true)
	if halfBytes*2 != refBytes {
		t.Errorf("F16 cache of 64 tokens takes %d bytes; F32 takes %d", halfBytes, refBytes)
	}
	worst := 0.0
	for step := range ref {
		if a, b := argmax(ref[step]), argmax(half[step]); a != b {
			t.Fatalf("step %d: greedy token %d with the F16 cache, %d with F32", step, b, a)
		}
		for i := range ref[step] {
			worst = max(worst, math.Abs(float64(ref[step][i]-half[step][i])))
		}
	}
	t.Logf("largest logit difference over 60 steps: %.2g", worst)
	if worst > 0.05 || worst == 0 {
		t.Errorf("largest logit difference %.2g: want small but not zero (is the F16 cache in use?)", worst)
	}
}
