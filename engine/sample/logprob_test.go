package sample

import (
	"math"
	"slices"
	"testing"
)

func TestLogProbs(t *testing.T) {
	logits := []float32{1, 3, 3, -2, 0.5}
	// Reference log-softmax computed directly.
	sum := 0.0
	for _, l := range logits {
		sum += math.Exp(float64(l))
	}
	ref := func(id int32) float64 { return float64(logits[id]) - math.Log(sum) }

	got := LogProbs(logits, 3, nil)
	wantIDs := []int32{1, 2, 0} // 3, 3 (tie: lower id first), 1
	if len(got) != 3 {
		t.Fatalf("LogProbs n=3 returned %d entries", len(got))
	}
	for i, g := range got {
		if g.ID != wantIDs[i] {
			t.Errorf("rank %d: id %d, want %d", i, g.ID, wantIDs[i])
		}
		if math.Abs(g.LogProb-ref(g.ID)) > 1e-12 {
			t.Errorf("id %d: logprob %v, want %v", g.ID, g.LogProb, ref(g.ID))
		}
		if lp := LogProb(logits, g.ID); math.Abs(lp-g.LogProb) > 1e-12 {
			t.Errorf("LogProb(%d) = %v, want %v", g.ID, lp, g.LogProb)
		}
	}

	all := LogProbs(logits, 100, nil) // n is capped at the vocabulary
	if len(all) != len(logits) {
		t.Fatalf("LogProbs n=100 on 5 logits returned %d entries", len(all))
	}
	total := 0.0
	for _, x := range all {
		total += math.Exp(x.LogProb)
	}
	if math.Abs(total-1) > 1e-12 {
		t.Errorf("probabilities sum to %v, want 1", total)
	}
	if !slices.IsSortedFunc(all, func(a, b TokenLogProb) int {
		if a.LogProb > b.LogProb {
			return -1
		}
		return 1
	}) {
		t.Errorf("LogProbs not sorted by descending logprob: %v", all)
	}
	if got := LogProbs(logits, 0, nil); len(got) != 0 {
		t.Errorf("LogProbs n=0 = %v, want empty", got)
	}
}

func TestLogProbsStable(t *testing.T) {
	// Huge logits overflow a naive exp; the result must still be finite.
	logits := []float32{1000, 999, -1000, float32(math.NaN())}
	got := LogProbs(logits, 4, nil)
	want := []TokenLogProb{
		{0, -math.Log1p(math.Exp(-1))},
		{1, -1 - math.Log1p(math.Exp(-1))},
		{2, -2000 - math.Log1p(math.Exp(-1))},
		{3, math.Inf(-1)},
	}
	for i := range want {
		if got[i].ID != want[i].ID || math.Abs(got[i].LogProb-want[i].LogProb) > 1e-9 && !math.IsInf(want[i].LogProb, -1) {
			t.Errorf("rank %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if !math.IsInf(got[3].LogProb, -1) {
		t.Errorf("NaN logit: logprob %v, want -Inf", got[3].LogProb)
	}
	if lp := LogProb(logits, 7); !math.IsInf(lp, -1) {
		t.Errorf("LogProb out of range = %v, want -Inf", lp)
	}
}

func TestLogProbsLarge(t *testing.T) {
	logits := randomLogits(32000, 9)
	got := LogProbs(logits, 10, make([]TokenLogProb, 0, 10))
	c := toCands(logits)
	sortDesc(c)
	lse := LogSumExp(logits)
	for i := range got {
		if got[i].ID != c[i].id || math.Abs(got[i].LogProb-(float64(c[i].logit)-lse)) > 1e-9 {
			t.Errorf("rank %d: got %+v, want id %d logprob %v", i, got[i], c[i].id, float64(c[i].logit)-lse)
		}
	}
}
