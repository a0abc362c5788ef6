// Package bench measures a model's prompt processing and generation speed
// the way llama.cpp's llama-bench does, so the two line up: pp<N> runs a
// prompt of N tokens through an empty cache in batches; tg<N> generates N
// tokens one at a time from an empty cache. Each test repeats and reports
// tokens/s as mean and standard deviation. CPUName and PeakRSS say what
// ran it and how much memory it took.
package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/hearth-ai/hearth/engine/model"
)

// Params selects the tests. Zero fields take the defaults noted.
type Params struct {
	Prompt int // pp test size; 0 skips it (llama-bench default 512)
	Gen    int // tg test size; 0 skips it (llama-bench default 128)
	Reps   int // repetitions, default 5
	Batch  int // prompt tokens per forward step, default 512
	// Warmup runs one untimed repetition first, as llama-bench does.
	NoWarmup bool
}

// Result is one test, in llama-bench's terms.
type Result struct {
	Test    string    // "pp512" or "tg128"
	NPrompt int       // n_prompt
	NGen    int       // n_gen
	Samples []float64 // seconds per repetition
}

// TokensPerSec returns the mean and standard deviation of tokens/s over the
// repetitions.
func (r Result) TokensPerSec() (mean, sd float64) {
	n := float64(r.NPrompt + r.NGen)
	ts := make([]float64, len(r.Samples))
	for i, s := range r.Samples {
		ts[i] = n / s
	}
	return meanSD(ts)
}

// Seconds returns the mean and standard deviation of the repetitions' wall
// time.
func (r Result) Seconds() (mean, sd float64) { return meanSD(r.Samples) }

func meanSD(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(xs)-1))
}

// Run measures m. Tokens are random ids (the speed of a dense model does not
// depend on which tokens it sees).
func Run(ctx context.Context, m *model.Transformer, p Params) ([]Result, error) {
	if p.Reps <= 0 {
		p.Reps = 5
	}
	if p.Batch <= 0 {
		p.Batch = 512
	}
	if p.Prompt+p.Gen > m.Context {
		return nil, fmt.Errorf("bench: %d+%d tokens exceed the model's context of %d", p.Prompt, p.Gen, m.Context)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	randomTokens := func(n int) []int32 {
		t := make([]int32, n)
		for i := range t {
			t[i] = int32(rng.IntN(m.Vocab))
		}
		return t
	}
	cache := m.NewCache(max(p.Prompt, p.Gen))
	var out []Result
	if p.Prompt > 0 {
		sc := m.NewScratch(min(p.Batch, p.Prompt), 1)
		prompt := randomTokens(p.Prompt)
		r := Result{Test: fmt.Sprintf("pp%d", p.Prompt), NPrompt: p.Prompt}
		run := func() error {
			cache.Pos = 0
			for rest := prompt; len(rest) > 0; {
				if err := ctx.Err(); err != nil {
					return err
				}
				n := min(len(rest), sc.MaxTokens())
				if _, err := m.ForwardBatch(sc, []model.Seq{{Cache: cache, Tokens: rest[:n], Logits: n == len(rest)}}); err != nil {
					return err
				}
				rest = rest[n:]
			}
			return nil
		}
		if err := repeat(p, run, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if p.Gen > 0 {
		sc := m.NewScratch(1, 1)
		toks := randomTokens(p.Gen)
		r := Result{Test: fmt.Sprintf("tg%d", p.Gen), NGen: p.Gen}
		seq := []model.Seq{{Cache: cache, Logits: true}}
		run := func() error {
			cache.Pos = 0
			for i := range toks {
				if i%16 == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				seq[0].Tokens = toks[i : i+1]
				if _, err := m.ForwardBatch(sc, seq); err != nil {
					return err
				}
			}
			return nil
		}
		if err := repeat(p, run, &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func repeat(p Params, run func() error, r *Result) error {
	if !p.NoWarmup {
		if err := run(); err != nil {
			return err
		}
	}
	for i := 0; i < p.Reps; i++ {
		start := time.Now()
		if err := run(); err != nil {
			return err
		}
		r.Samples = append(r.Samples, time.Since(start).Seconds())
	}
	return nil
}
