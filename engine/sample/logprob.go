package sample

import (
	"math"
	"slices"
)

// TokenLogProb is a token id and its log-probability under the raw logits.
type TokenLogProb struct {
	ID      int32
	LogProb float64
}

// LogSumExp returns log(sum(exp(logits))), computed stably in float64 by
// factoring out the maximum. NaN logits count as -Inf. It is -Inf for an
// empty slice or when every logit is -Inf.
func LogSumExp(logits []float32) float64 {
	top := math.Inf(-1)
	for _, l := range logits {
		if float64(l) > top { // false for NaN
			top = float64(l)
		}
	}
	if math.IsInf(top, 0) {
		return top
	}
	sum := 0.0
	for _, l := range logits {
		if l == l {
			sum += math.Exp(float64(l) - top)
		}
	}
	return top + math.Log(sum)
}

// LogProb returns the log-softmax of logits at id. An id outside the
// vocabulary, or a NaN logit, has probability zero: -Inf.
func LogProb(logits []float32, id int32) float64 {
	if id < 0 || int(id) >= len(logits) || logits[id] != logits[id] {
		return math.Inf(-1)
	}
	return float64(logits[id]) - LogSumExp(logits)
}

// LogProbs appends to out[:0] the n most likely tokens under softmax(logits),
// most likely first (lower id first on ties), and returns it. It allocates
// only if out has less than n capacity. This is the raw distribution, before
// any penalty or truncation: what OpenAI's logprobs/top_logprobs report.
func LogProbs(logits []float32, n int, out []TokenLogProb) []TokenLogProb {
	out = out[:0]
	n = min(n, len(logits))
	if n <= 0 {
		return out
	}
	lse := LogSumExp(logits)
	// Keep the n best in a min-heap (worst at the root), holding the raw
	// logit in LogProb until the end.
	for i := range n {
		out = append(out, TokenLogProb{ID: int32(i), LogProb: clean(logits[i])})
	}
	for i := n/2 - 1; i >= 0; i-- {
		lpSiftDown(out, i)
	}
	for i := n; i < len(logits); i++ {
		t := TokenLogProb{ID: int32(i), LogProb: clean(logits[i])}
		if lpBetter(t, out[0]) {
			out[0] = t
			lpSiftDown(out, 0)
		}
	}
	slices.SortFunc(out, func(a, b TokenLogProb) int {
		if lpBetter(a, b) {
			return -1
		}
		if lpBetter(b, a) {
			return 1
		}
		return 0
	})
	for i := range out {
		out[i].LogProb -= lse
	}
	return out
}

func clean(l float32) float64 {
	if l != l {
		return math.Inf(-1)
	}
	return float64(l)
}

func lpBetter(a, b TokenLogProb) bool {
	return a.LogProb > b.LogProb || (a.LogProb == b.LogProb && a.ID < b.ID)
}

func lpSiftDown(h []TokenLogProb, i int) {
	for {
		worst := i
		l, r := 2*i+1, 2*i+2
		if l < len(h) && lpBetter(h[worst], h[l]) {
			worst = l
		}
		if r < len(h) && lpBetter(h[worst], h[r]) {
			worst = r
		}
		if worst == i {
			return
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
}
