package sample

import (
	"math"
	"slices"
)

// better orders candidates: higher logit first, lower id on ties, so that
// every selection below is deterministic.
func better(a, b candidate) bool {
	return a.logit > b.logit || (a.logit == b.logit && a.id < b.id)
}

func cmpDesc(a, b candidate) int {
	switch {
	case better(a, b):
		return -1
	case better(b, a):
		return 1
	}
	return 0
}

// sortDesc sorts candidates from most to least likely.
func sortDesc(c []candidate) { slices.SortFunc(c, cmpDesc) }

// topK moves the k best candidates to the front of c, sorted, and returns
// them. It keeps a min-heap of the best k seen so far (worst at the root),
// which costs O(n log k) and needs no extra memory; only the k survivors
// get sorted.
func topK(c []candidate, k int) []candidate {
	h := c[:k]
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for i := k; i < len(c); i++ {
		if better(c[i], h[0]) {
			h[0], c[i] = c[i], h[0]
			siftDown(h, 0)
		}
	}
	sortDesc(h)
	return h
}

// siftDown restores the heap order below index i: every parent is worse
// than its children, so the root is the worst of the k kept.
func siftDown(h []candidate, i int) {
	for {
		worst := i
		l, r := 2*i+1, 2*i+2
		if l < len(h) && better(h[worst], h[l]) {
			worst = l
		}
		if r < len(h) && better(h[worst], h[r]) {
			worst = r
		}
		if worst == i {
			return
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
}

// topP keeps the shortest run of most likely candidates whose softmax
// probabilities (at temperature 1, as in llama.cpp's default chain) add up
// to at least p, and returns it sorted. At least one candidate stays.
//
// If c is not sorted yet, it avoids sorting the whole vocabulary: the
// nucleus is usually small, so it selects the best 64, 256, 1024...
// candidates until their mass reaches p, which gives the same prefix as a
// full sort at a fraction of the cost.
func topP(c []candidate, p float64, sorted bool) []candidate {
	top := c[0].logit
	if !sorted {
		for _, x := range c[1:] {
			if x.logit > top {
				top = x.logit
			}
		}
	}
	if math.IsInf(float64(top), -1) {
		if !sorted {
			sortDesc(c)
		}
		return c[:1]
	}
	sum := 0.0
	for _, x := range c {
		sum += math.Exp(float64(x.logit) - float64(top))
	}
	want := p * sum
	if sorted {
		return nucleus(c, top, want)
	}
	for k := 64; k < len(c); k *= 4 {
		if h := nucleus(topK(c, k), top, want); len(h) < k {
			return h
		}
	}
	sortDesc(c)
	return nucleus(c, top, want)
}

// nucleus returns the shortest prefix of sorted c whose weights
// exp(logit-top) add up to want, or all of c if they never do.
func nucleus(c []candidate, top float32, want float64) []candidate {
	acc := 0.0
	for i, x := range c {
		acc += math.Exp(float64(x.logit) - float64(top))
		if acc >= want {
			return c[:i+1]
		}
	}
	return c
}

// minP drops candidates whose probability is below p times the largest,
// that is whose logit is below max + ln p. Order is preserved; if c is
// sorted the survivors are a prefix.
func minP(c []candidate, p float64, sorted bool) []candidate {
	top := c[0].logit
	if !sorted {
		for _, x := range c[1:] {
			if x.logit > top {
				top = x.logit
			}
		}
	}
	if math.IsInf(float64(top), -1) {
		return c
	}
	// float32, as llama.cpp compares, so the two agree at the boundary.
	threshold := top + float32(math.Log(p))
	if sorted {
		for i, x := range c {
			if x.logit < threshold {
				return c[:max(i, 1)]
			}
		}
		return c
	}
	kept := c[:0]
	for _, x := range c {
		if x.logit >= threshold {
			kept = append(kept, x)
		}
	}
	return kept // never empty: the maximum always passes
}
