package model

import (
	"sync/atomic"

	"github.com/hearth-ai/hearth/engine/parallel"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// lowRank is a LoRA update laid out for the grouped kernels: A as the
// LoRA holds it, one row per rank, and B transposed, one row of output
// width per rank, so that adding a token's update to a slice of output
// rows is Rank scaled row additions (tensor.Axpy8F32, eight ranks at a
// time) instead of one rank-long dot product per output.
type lowRank struct {
	// src is the LoRA a Linear's update was made from, for Forward to tell
	// a LoRA set since; nil in an Adapter, which must not keep B alive.
	src   *LoRA
	rank  int
	scale float32
	a     []float32 // (rank, in), shared with src
	bt    []float32 // (rank, out)
}

// newLowRank prepares l, checked against a projection of out outputs.
func newLowRank(l *LoRA, out int) *lowRank {
	r := l.Rank
	bt := make([]float32, r*out)
	for o := 0; o < out; o++ {
		for k, v := range l.B[o*r : (o+1)*r] {
			bt[k*out+o] = v
		}
	}
	return &lowRank{rank: r, scale: l.Scale, a: l.A, bt: bt}
}

func (lr *lowRank) bytes() int64 { return int64(len(lr.a)+len(lr.bt)) * 4 }

// Work items of the grouped kernels. A first-pass item is up to
// lrTokens tokens by up to lrRanks ranks of one run: its A rows stay in L1
// while every token's input passes over them. A second-pass item is a
// slice of a projection's output rows for every run: the slice of each
// rank's B row is read once per run, and a token's output slice stays in
// L1 while the run's ranks are added to it.
const (
	lrTokens = 8
	lrRanks  = 8
	// lrRowGrain is the granularity of output slices: the vector kernel's
	// block, so that every slice but a projection's last is computed by
	// the same instructions and results do not depend on where a batch
	// put the slice boundaries.
	lrRowGrain = 16
	// lrSlices is how many output slices per thread a projection is cut
	// into, for threads slowed by a neighbour to take fewer.
	lrSlices = 4
)

// lrTarget is one projection of a grouped update: its output and which
// segments update it.
type lrTarget struct {
	dst        []float32 // (tokens, out)
	out        int
	rows       int // output rows per second-pass item
	first      int // its first second-pass item
	seg0, seg1 int // its segments, job.segs[seg0:seg1]
}

// lrSeg is one run's update of one target: tokens lo..lo+n of the batch
// through lr, with its inner products at job.u[u:u+n*rank].
type lrSeg struct {
	lo, n  int
	lr     *lowRank
	u      int
	first  int // its first first-pass item
	rblock int // rank blocks per token block
}

// lowRankJob adds the low-rank updates of up to three projections that
// read the same input (q, k and v; gate and up) for every run of a batch
// in two parallel regions over the whole batch: first u = scale·A·x for
// every run's tokens, then y += Bᵀu for every run, split over output rows,
// so that even a decode step with one token per sequence keeps every
// thread busy. Threads take items from a shared counter, as Linear.Forward
// takes chunks. A job is reused from step to step; once its buffers have
// grown to a batch's size it allocates nothing.
type lowRankJob struct {
	x        []float32 // (tokens, in), the projections' input
	in       int
	tg       [3]lrTarget
	ntg      int
	segs     []lrSeg
	u        []float32
	items    int // first-pass items
	slices   int // second-pass items
	next     atomic.Int64
	down, up func(lo, hi int) // the passes, bound once
}

func newLowRankJob() *lowRankJob {
	j := new(lowRankJob)
	j.down, j.up = j.downRange, j.upRange
	return j
}

// reset starts a job over the input x of in elements per token.
func (j *lowRankJob) reset(x []float32, in int) {
	j.x, j.in = x, in
	j.ntg, j.segs, j.items, j.slices = 0, j.segs[:0], 0, 0
}

// target adds a projection of out outputs written to dst; segments added
// next update it.
func (j *lowRankJob) target(dst []float32, out int) {
	j.tg[j.ntg] = lrTarget{dst: dst, out: out, seg0: len(j.segs), seg1: len(j.segs)}
	j.ntg++
}

// seg adds tokens lo..lo+n, updated by lr, to the last target.
func (j *lowRankJob) seg(lo, n int, lr *lowRank) {
	rb := (lr.rank + lrRanks - 1) / lrRanks
	used := 0
	if k := len(j.segs); k > 0 {
		s := &j.segs[k-1]
		used = s.u + s.n*s.lr.rank
	}
	j.segs = append(j.segs, lrSeg{lo: lo, n: n, lr: lr, u: used, first: j.items, rblock: rb})
	j.items += (n + lrTokens - 1) / lrTokens * rb
	j.tg[j.ntg-1].seg1 = len(j.segs)
}

// run computes the updates on p's threads.
func (j *lowRankJob) run(p *parallel.Pool) {
	if len(j.segs) == 0 {
		return
	}
	last := &j.segs[len(j.segs)-1]
	j.u = grow(j.u, last.u+last.n*last.lr.rank)
	threads := p.Threads()
	for i := 0; i < j.ntg; i++ {
		t := &j.tg[i]
		t.first = j.slices
		if t.seg0 == t.seg1 {
			t.rows = t.out
			continue
		}
		// The slice size depends only on the projection and the pool, never
		// on the batch (see lrRowGrain).
		per := (t.out + threads*lrSlices - 1) / (threads * lrSlices)
		t.rows = max(lrRowGrain, (per+lrRowGrain-1)/lrRowGrain*lrRowGrain)
		j.slices += (t.out + t.rows - 1) / t.rows
	}
	j.next.Store(0)
	p.For(min(j.items, threads), 1, j.down)
	j.next.Store(0)
	p.For(min(j.slices, threads), 1, j.up)
	j.x = nil
	for i := range j.tg[:j.ntg] {
		j.tg[i].dst = nil
	}
}

// downRange is a thread's share of the first pass: u[t][k] = scale·A[k]·x[t].
func (j *lowRankJob) downRange(_, _ int) {
	in := j.in
	for {
		i := int(j.next.Add(1) - 1)
		if i >= j.items {
			return
		}
		s := &j.segs[j.segOf(i)]
		i -= s.first
		t0, k0 := i/s.rblock*lrTokens, i%s.rblock*lrRanks
		t1, k1 := min(t0+lrTokens, s.n), min(k0+lrRanks, s.lr.rank)
		r, a := s.lr.rank, s.lr.a
		for t := t0; t < t1; t++ {
			xt := j.x[(s.lo+t)*in : (s.lo+t+1)*in]
			ut := j.u[s.u+t*r : s.u+(t+1)*r]
			for k := k0; k < k1; k++ {
				ut[k] = s.lr.scale * tensor.DotF32(a[k*in:(k+1)*in], xt)
			}
		}
	}
}

// segOf returns the segment holding first-pass item i.
func (j *lowRankJob) segOf(i int) int {
	lo, hi := 0, len(j.segs)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if j.segs[mid].first <= i {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// upRange is a thread's share of the second pass: y[t] += Bᵀ u[t] over a
// slice of a target's output rows, for every segment of the target.
func (j *lowRankJob) upRange(_, _ int) {
	for {
		i := int(j.next.Add(1) - 1)
		if i >= j.slices {
			return
		}
		g := 0
		for g+1 < j.ntg && j.tg[g+1].first <= i {
			g++
		}
		t := &j.tg[g]
		o0 := (i - t.first) * t.rows
		o1 := min(o0+t.rows, t.out)
		out := t.out
		for _, s := range j.segs[t.seg0:t.seg1] {
			r, bt := s.lr.rank, s.lr.bt
			for tok := 0; tok < s.n; tok++ {
				y := t.dst[(s.lo+tok)*out+o0 : (s.lo+tok)*out+o1]
				ut := j.u[s.u+tok*r : s.u+(tok+1)*r]
				k := 0
				for ; k+8 <= r; k += 8 {
					tensor.Axpy8F32(y, (*[8]float32)(ut[k:k+8]), bt[k*out+o0:], out)
				}
				for ; k < r; k++ {
					tensor.AxpyF32(y, ut[k], bt[k*out+o0:k*out+o1])
				}
			}
		}
	}
}
