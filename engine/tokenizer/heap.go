package tokenizer

// A bigram is a candidate merge of two adjacent symbols. The queue pops the
// best candidate first: for SPM the highest score, for BPE the lowest rank;
// ties go to the leftmost pair, as in llama.cpp.
type bigram struct {
	left, right int32
	prio        float64 // lower is better
	a, b        int32   // BPE: the ids the pair had when queued; SPM: merged length in a
	id          int32   // the token the pair becomes
}

type bigramQueue []bigram

func (q bigramQueue) less(i, j int) bool {
	if q[i].prio != q[j].prio {
		return q[i].prio < q[j].prio
	}
	return q[i].left < q[j].left
}

func (q *bigramQueue) push(x bigram) {
	*q = append(*q, x)
	h := *q
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (q *bigramQueue) pop() bigram {
	h := *q
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	*q = h
	return top
}

// symbol is one piece of a word during merging, kept in a doubly linked
// list over a slice.
type symbol struct {
	start, end int32 // byte range in the word (SPM) or unused (BPE)
	prev, next int32 // -1 at the ends
	id         int32 // current token id (BPE)
	dead       bool
}
