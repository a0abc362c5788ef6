package rollout

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// The intervals below are worked by hand from the Wilson formula with
// z = 1.959964 (95%): centre (p + z²/2n) / (1 + z²/n), half-width
// z / (1 + z²/n) × √(p(1−p)/n + z²/4n²).
func TestWilson(t *testing.T) {
	for _, tc := range []struct {
		k, n   int
		conf   float64
		lo, hi float64
	}{
		{50, 100, 0.95, 0.4038, 0.5962}, // centre 0.5, half 1.8875 × 0.05095
		{80, 100, 0.95, 0.7112, 0.8666}, // centre 0.7889, half 0.0777
		{70, 100, 0.95, 0.6041, 0.7810},
		{0, 10, 0.95, 0, 0.2775},        // centre = half = 0.1388
		{10, 10, 0.95, 0.7225, 1},       // the mirror of 0 in 10
		{0, 0, 0.95, 0, 1},              // no trials: anything
		{50, 100, 0.99, 0.3753, 0.6247}, // z = 2.5758
	} {
		got := Wilson(tc.k, tc.n, tc.conf)
		if math.Abs(got.Lo-tc.lo) > 5e-4 || math.Abs(got.Hi-tc.hi) > 5e-4 {
			t.Errorf("Wilson(%d, %d, %v) = [%.4f, %.4f], want [%.4f, %.4f]", tc.k, tc.n, tc.conf, got.Lo, got.Hi, tc.lo, tc.hi)
		}
	}
}

func TestRateCheck(t *testing.T) {
	for _, tc := range []struct {
		name           string
		higherBetter   bool
		sk, sn, ck, cn int
		min            int
		want           string
	}{
		// 80/100 is [0.711, 0.867]; 50/100 is [0.404, 0.596]: apart.
		{"thumbs worse", true, 80, 100, 50, 100, 20, Fail},
		// 70/100 is [0.604, 0.781]: overlaps 80/100.
		{"thumbs a little worse", true, 80, 100, 70, 100, 20, Pass},
		{"thumbs better", true, 50, 100, 80, 100, 20, Pass},
		{"too few", true, 80, 100, 0, 19, 20, Pending},
		{"min 0 decides at once", true, 0, 0, 0, 0, 0, Pass},
		// Lower is better: a candidate erring in 50 of 100 against 20 of
		// 100 ([0.133, 0.289]) fails.
		{"errors worse", false, 20, 100, 50, 100, 50, Fail},
		{"errors better", false, 50, 100, 20, 100, 50, Pass},
		{"errors alike", false, 5, 100, 8, 100, 50, Pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := rateCheck("g", tc.higherBetter, tc.sk, tc.sn, tc.ck, tc.cn, tc.min, 0.95)
			if c.Verdict != tc.want {
				t.Fatalf("verdict %s (%s), want %s", c.Verdict, c.Why, tc.want)
			}
			if tc.sn > 0 && c.Stable != float64(tc.sk)/float64(tc.sn) || c.StableN != tc.sn || c.CandidateN != tc.cn {
				t.Errorf("numbers %+v", c)
			}
		})
	}
}

func seconds(n int, each float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = each * float64(i+1)
	}
	return out
}

func TestP95AndLatency(t *testing.T) {
	if got := p95(seconds(20, 1)); got != 19 { // rank ceil(0.95 × 20) = 19
		t.Errorf("p95 of 1..20 = %v, want 19", got)
	}
	if got := p95(seconds(100, 0.01)); math.Abs(got-0.95) > 1e-9 {
		t.Errorf("p95 of 0.01..1 = %v, want 0.95", got)
	}
	if got := p95([]float64{3}); got != 3 {
		t.Errorf("p95 of one = %v", got)
	}
	if got := p95(nil); got != 0 {
		t.Errorf("p95 of none = %v", got)
	}
	stable := seconds(100, 0.01) // p95 0.95
	for _, tc := range []struct {
		name string
		cand []float64
		want string
	}{
		{"same", seconds(100, 0.01), Pass},
		{"1.4x", seconds(100, 0.014), Pass}, // p95 1.33 ≤ 1.425
		{"1.6x", seconds(100, 0.016), Fail}, // p95 1.52 > 1.425
		{"few", seconds(10, 1), Pending},    // 10 < 50
	} {
		c := latencyCheck(stable, tc.cand, 50, 1.5)
		if c.Verdict != tc.want {
			t.Errorf("%s: %s (%s), want %s", tc.name, c.Verdict, c.Why, tc.want)
		}
		if math.Abs(c.Limit-1.425) > 1e-9 {
			t.Errorf("%s: limit %v, want 1.5 × 0.95", tc.name, c.Limit)
		}
	}
}

func TestEvalGate(t *testing.T) {
	for _, tc := range []struct {
		stable, cand, margin float64
		want                 string
	}{
		{2.0, 1.96, 0.02, Pass}, // limit exactly 1.96
		{2.0, 1.97, 0.02, Fail},
		{2.0, 1.5, 0.02, Pass},
		{2.0, 2.0, 0, Pass},
		{2.0, math.NaN(), 0.02, Fail},
	} {
		c := evalGate(EvalResult{StableLoss: tc.stable, CandidateLoss: tc.cand, Examples: 3, Dataset: "d@1"}, tc.margin)
		if c.Verdict != tc.want {
			t.Errorf("stable %v candidate %v margin %v: %s (%s), want %s", tc.stable, tc.cand, tc.margin, c.Verdict, c.Why, tc.want)
		}
	}
}

func TestGatesCheck(t *testing.T) {
	if err := DefaultGates().check(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		edit  func(*Gates)
	}{
		{"eval_margin", func(g *Gates) { g.EvalMargin = -0.1 }},
		{"eval_margin", func(g *Gates) { g.EvalMargin = math.NaN() }},
		{"confidence", func(g *Gates) { g.Confidence = 1 }},
		{"min_feedback", func(g *Gates) { g.MinFeedback = -1 }},
		{"min_requests", func(g *Gates) { g.MinRequests = 1 << 40 }},
		{"max_latency_ratio", func(g *Gates) { g.MaxLatencyRatio = 0.5 }},
		{"steps", func(g *Gates) { g.Steps = nil }},
		{"steps", func(g *Gates) { g.Steps = []int{10, 5, 100} }},
		{"steps", func(g *Gates) { g.Steps = []int{10, 50} }},
		{"steps", func(g *Gates) { g.Steps = []int{0, 100} }},
		{"steps", func(g *Gates) { g.Steps = []int{50, 101} }},
		{"step_sample", func(g *Gates) { g.StepSample = -5 }},
		{"dwell_seconds", func(g *Gates) { g.DwellSeconds = -1 }},
		{"eval_dataset", func(g *Gates) { g.EvalDataset = "../../x" }},
		{"eval_dataset", func(g *Gates) { g.EvalDataset = "support@0x10" }},
		{"eval_dataset", func(g *Gates) { g.EvalDataset = strings.Repeat("d", 900_000) }},
	} {
		g := DefaultGates()
		tc.edit(&g)
		err := g.check()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "gates."+tc.field) || len(err.Error()) > 400 {
			t.Errorf("%.200v: %.300v, want a short ErrInvalid naming gates.%s", g, err, tc.field)
		}
	}
	for _, ok := range []string{"", "support", "support@3"} {
		g := DefaultGates()
		if g.EvalDataset = ok; g.check() != nil {
			t.Errorf("eval_dataset %q: %v", ok, g.check())
		}
	}
	g := DefaultGates()
	for share, want := range map[int]int{0: 10, 9: 10, 10: 25, 25: 50, 50: 100, 100: 100} {
		if got := g.next(share); got != want {
			t.Errorf("next(%d) = %d, want %d", share, got, want)
		}
	}
}
