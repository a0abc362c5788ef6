package rollout

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/hearth-ai/hearth/flywheel/dataset"
)

// Gates are a rollout's promotion and rollback rules. DefaultGates gives
// the defaults; a client that sets some fields starts from them (the admin
// API decodes into DefaultGates(), the command line's flags default to
// them), so a zero in a field is a zero, not "the default".
type Gates struct {
	// SkipEval starts the candidate without the held-out evaluation.
	SkipEval bool `json:"skip_eval"`
	// EvalMargin is how much lower, relatively, the candidate's held-out
	// loss must be than the stable's: pass when candidate <= stable ×
	// (1 − EvalMargin). Default 0.02.
	EvalMargin float64 `json:"eval_margin"`
	// EvalDataset is the tenant's dataset (NAME or NAME@VERSION) whose
	// eval split both versions are scored on; empty means the dataset the
	// candidate was trained on.
	EvalDataset string `json:"eval_dataset,omitempty"`

	// Confidence is the Wilson score intervals' (two-sided) confidence.
	// Default 0.95.
	Confidence float64 `json:"confidence"`
	// MinFeedback is the feedback per arm (answers rated up or down, or
	// corrected) below which the feedback gates are undecided. Default 20.
	MinFeedback int `json:"min_feedback"`
	// MinRequests is the requests per arm below which the error and
	// latency gates are undecided. Default 50.
	MinRequests int `json:"min_requests"`
	// MaxLatencyRatio bounds the candidate's p95 latency over the
	// stable's. Default 1.5.
	MaxLatencyRatio float64 `json:"max_latency_ratio"`

	// Steps are the candidate's traffic shares, in percent, rising to 100.
	// Default 10, 25, 50, 100.
	Steps []int `json:"steps"`
	// StepSample is the candidate requests needed at the current share
	// before the share rises (or, at 100, the candidate is promoted).
	// Default 50.
	StepSample int `json:"step_sample"`
	// DwellSeconds is the least time at each share. Default 0.
	DwellSeconds int `json:"dwell_seconds"`
}

// DefaultGates are the gates of a rollout started without any.
func DefaultGates() Gates {
	return Gates{EvalMargin: 0.02, Confidence: 0.95, MinFeedback: 20, MinRequests: 50, MaxLatencyRatio: 1.5,
		Steps: []int{10, 25, 50, 100}, StepSample: 50}
}

// maxSteps bounds Steps, and the bounds below keep every number a client
// sends meaningful; none of them sizes an allocation.
const (
	maxSteps        = 100
	maxSample       = 1_000_000
	maxDwellSeconds = 30 * 24 * 3600
	maxRefBytes     = 128 // a dataset's NAME@VERSION: a name of 64, a version of at most 19 digits
)

// check reports the first field that makes no sense, naming it.
func (g Gates) check() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w gates.%s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
	switch {
	case !(g.EvalMargin >= 0 && g.EvalMargin < 1):
		return bad("eval_margin", "%v: want a relative margin from 0 to below 1 (0.02 is 2%%)", g.EvalMargin)
	case !(g.Confidence >= 0.5 && g.Confidence < 1):
		return bad("confidence", "%v: want 0.5 to below 1 (0.95 is 95%%)", g.Confidence)
	case g.MinFeedback < 0 || g.MinFeedback > maxSample:
		return bad("min_feedback", "%d: want 0 to %d", g.MinFeedback, maxSample)
	case g.MinRequests < 0 || g.MinRequests > maxSample:
		return bad("min_requests", "%d: want 0 to %d", g.MinRequests, maxSample)
	case !(g.MaxLatencyRatio >= 1 && g.MaxLatencyRatio <= 100):
		return bad("max_latency_ratio", "%v: want 1 to 100", g.MaxLatencyRatio)
	case len(g.Steps) == 0 || len(g.Steps) > maxSteps:
		return bad("steps", "%d steps: want 1 to %d shares rising to 100", len(g.Steps), maxSteps)
	case g.StepSample < 0 || g.StepSample > maxSample:
		return bad("step_sample", "%d: want 0 to %d", g.StepSample, maxSample)
	case g.DwellSeconds < 0 || g.DwellSeconds > maxDwellSeconds:
		return bad("dwell_seconds", "%d: want 0 to %d (30 days)", g.DwellSeconds, maxDwellSeconds)
	case len(g.EvalDataset) > maxRefBytes:
		// Kept in the rollout and in three of its audit records: a body's
		// megabyte of it used to be.
		return bad("eval_dataset", "%d bytes: want a dataset NAME or NAME@VERSION", len(g.EvalDataset))
	}
	if g.EvalDataset != "" {
		if _, _, err := dataset.ParseRef(g.EvalDataset); err != nil {
			return bad("eval_dataset", "%v", err)
		}
	}
	for i, s := range g.Steps {
		if s < 1 || s > 100 || (i > 0 && s <= g.Steps[i-1]) {
			return bad("steps", "%v: want shares from 1 to 100, each above the one before", g.Steps)
		}
	}
	if g.Steps[len(g.Steps)-1] != 100 {
		return bad("steps", "%v: the last step must be 100 (the whole traffic, then promotion)", g.Steps)
	}
	return nil
}

// next is the step after share: the first step above it; 100 stays 100.
func (g Gates) next(share int) int {
	for _, s := range g.Steps {
		if s > share {
			return s
		}
	}
	return 100
}

func (g Gates) dwell() time.Duration { return time.Duration(g.DwellSeconds) * time.Second }

// Interval is a Wilson score interval for a proportion.
type Interval struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// Wilson is the Wilson score interval of k successes in n trials at
// two-sided confidence conf: the proportions p for which the normal
// approximation's test of p is not rejected. Unlike the plain normal
// interval it stays inside [0, 1] and is sound for small n and for
// proportions near 0 or 1. With no trials it is [0, 1].
func Wilson(k, n int, conf float64) Interval {
	if n <= 0 {
		return Interval{0, 1}
	}
	z := zScore(conf)
	p, fn := float64(k)/float64(n), float64(n)
	den := 1 + z*z/fn
	center := (p + z*z/(2*fn)) / den
	half := z / den * math.Sqrt(p*(1-p)/fn+z*z/(4*fn*fn))
	return Interval{Lo: max(0, center-half), Hi: min(1, center+half)}
}

// zScore is the standard normal quantile for two-sided confidence conf
// (1.96 for 0.95).
func zScore(conf float64) float64 { return math.Sqrt2 * math.Erfinv(conf) }

// Verdicts of one gate.
const (
	Pass    = "pass"
	Fail    = "fail"
	Pending = "pending" // too small a sample to decide
)

// Check is one live gate's result, with its numbers.
type Check struct {
	Gate    string `json:"gate"` // thumbs_up_rate, correction_rate, error_rate, p95_latency
	Verdict string `json:"verdict"`
	// Stable and Candidate are the arms' observed values: a rate, or the
	// p95 latency in seconds.
	Stable    float64 `json:"stable"`
	Candidate float64 `json:"candidate"`
	// StableN and CandidateN are the samples the values are over.
	StableN    int `json:"stable_n"`
	CandidateN int `json:"candidate_n"`
	// StableCI and CandidateCI are the rates' Wilson intervals (absent for
	// latency, whose bound is Limit).
	StableCI    *Interval `json:"stable_ci,omitempty"`
	CandidateCI *Interval `json:"candidate_ci,omitempty"`
	Limit       float64   `json:"limit,omitempty"` // latency: the candidate's p95 may be at most this
	Why         string    `json:"why"`
}

// The test of a rate: the candidate is worse when its Wilson interval
// lies wholly on the wrong side of the stable's, that is when the
// intervals do not overlap. Two non-overlapping 95% intervals are a
// stricter test than one 95% test of the difference (for equal samples it
// rejects at about the 99.4% level), so a rollback is seldom a fluke;
// with small samples the intervals are wide and nothing is decided early.
func rateCheck(gate string, higherBetter bool, sk, sn, ck, cn, min int, conf float64) Check {
	c := Check{Gate: gate, StableN: sn, CandidateN: cn}
	s, k := Wilson(sk, sn, conf), Wilson(ck, cn, conf)
	c.StableCI, c.CandidateCI = &s, &k
	if sn > 0 {
		c.Stable = float64(sk) / float64(sn)
	}
	if cn > 0 {
		c.Candidate = float64(ck) / float64(cn)
	}
	pct := strconv.FormatFloat(conf*100, 'g', -1, 64) + "%"
	switch {
	case sn < min || cn < min:
		c.Verdict, c.Why = Pending, fmt.Sprintf("needs %d per arm (stable %d, candidate %d)", min, sn, cn)
	case higherBetter && k.Hi < s.Lo:
		c.Verdict, c.Why = Fail, fmt.Sprintf("candidate's %s interval [%.4f, %.4f] lies below the stable's [%.4f, %.4f]", pct, k.Lo, k.Hi, s.Lo, s.Hi)
	case !higherBetter && k.Lo > s.Hi:
		c.Verdict, c.Why = Fail, fmt.Sprintf("candidate's %s interval [%.4f, %.4f] lies above the stable's [%.4f, %.4f]", pct, k.Lo, k.Hi, s.Lo, s.Hi)
	default:
		c.Verdict, c.Why = Pass, fmt.Sprintf("the %s intervals overlap or favour the candidate", pct)
	}
	return c
}

// latencyCheck bounds the candidate's p95 latency by ratio × the stable's.
func latencyCheck(s, k []float64, min int, ratio float64) Check {
	c := Check{Gate: "p95_latency", StableN: len(s), CandidateN: len(k), Stable: p95(s), Candidate: p95(k)}
	c.Limit = c.Stable * ratio
	switch {
	case len(s) < min || len(k) < min:
		c.Verdict, c.Why = Pending, fmt.Sprintf("needs %d per arm (stable %d, candidate %d)", min, len(s), len(k))
	case c.Candidate > c.Limit:
		c.Verdict, c.Why = Fail, fmt.Sprintf("candidate's p95 %.3fs is above %.2f × the stable's %.3fs", c.Candidate, ratio, c.Stable)
	default:
		c.Verdict, c.Why = Pass, fmt.Sprintf("candidate's p95 %.3fs is within %.2f × the stable's %.3fs", c.Candidate, ratio, c.Stable)
	}
	return c
}

// p95 is the nearest-rank 95th percentile of xs (seconds); 0 for none.
func p95(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(0.95 * float64(len(s))))
	return s[max(rank, 1)-1]
}

// Live evaluates the live gates on both arms' counts.
func (g Gates) Live(stable, candidate Counts) []Check {
	return []Check{
		rateCheck("thumbs_up_rate", true, stable.Up, stable.Up+stable.Down, candidate.Up, candidate.Up+candidate.Down, g.MinFeedback, g.Confidence),
		rateCheck("correction_rate", false, stable.Corrections, stable.Feedback, candidate.Corrections, candidate.Feedback, g.MinFeedback, g.Confidence),
		rateCheck("error_rate", false, stable.Errors, stable.Requests, candidate.Errors, candidate.Requests, g.MinRequests, g.Confidence),
		latencyCheck(stable.Latencies, candidate.Latencies, g.MinRequests, g.MaxLatencyRatio),
	}
}

// verdict sums checks up: Fail if any failed, else Pending if any is
// undecided, else Pass.
func verdict(cs []Check) string {
	v := Pass
	for _, c := range cs {
		switch c.Verdict {
		case Fail:
			return Fail
		case Pending:
			v = Pending
		}
	}
	return v
}

// EvalCheck is the held-out evaluation gate's result.
type EvalCheck struct {
	Verdict       string  `json:"verdict"` // Pass or Fail
	Dataset       string  `json:"dataset,omitempty"`
	Examples      int     `json:"examples,omitempty"`
	StableLoss    float64 `json:"stable_loss,omitempty"`
	CandidateLoss float64 `json:"candidate_loss,omitempty"`
	Margin        float64 `json:"margin"`
	// Limit is the loss the candidate had to reach: StableLoss × (1 − Margin).
	Limit float64 `json:"limit,omitempty"`
	Why   string  `json:"why"`
}

// evalGate compares held-out losses.
func evalGate(r EvalResult, margin float64) EvalCheck {
	c := EvalCheck{Dataset: r.Dataset, Examples: r.Examples, StableLoss: r.StableLoss, CandidateLoss: r.CandidateLoss, Margin: margin,
		Limit: r.StableLoss * (1 - margin)}
	if r.CandidateLoss <= c.Limit && !math.IsNaN(r.CandidateLoss) {
		c.Verdict, c.Why = Pass, fmt.Sprintf("held-out loss %.4f is at most %.4f (the stable's %.4f less %g%%)", r.CandidateLoss, c.Limit, r.StableLoss, margin*100)
	} else {
		c.Verdict, c.Why = Fail, fmt.Sprintf("held-out loss %.4f is above %.4f (the stable's %.4f less %g%%)", r.CandidateLoss, c.Limit, r.StableLoss, margin*100)
	}
	return c
}
