package train

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/hearth-ai/hearth/engine/model"
)

// Config is a training run's settings. Zero Beta1, Beta2 and Eps mean
// AdamW's usual 0.9, 0.999 and 1e-8.
type Config struct {
	Targets []string // projection kinds: "q", "k", "v", "o", "gate", "up", "down"
	Rank    int
	Alpha   float64 // the update is scaled by Alpha/Rank
	Dropout float64 // on the LoRA input, in [0, 1)

	LR     float64 // peak learning rate
	Warmup int     // steps of linear warmup from 0 to LR
	Steps  int     // the cosine decay reaches MinLR at this step; 0: LR stays after warmup
	MinLR  float64

	WeightDecay float64 // decoupled (AdamW)
	Beta1       float64
	Beta2       float64
	Eps         float64
	Clip        float64 // global gradient-norm clip; 0 means none

	Seed uint64
}

// Kinds are the projection kinds a run may target, in a block's order.
var Kinds = []string{"q", "k", "v", "o", "gate", "up", "down"}

// Architectures are those the trainer's backward pass covers.
var Architectures = []string{"llama", "qwen2"}

// ErrUnsupported is wrapped by errors for models the trainer cannot train.
var ErrUnsupported = errors.New("train: unsupported")

func (c *Config) resolve() error {
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.999
	}
	if c.Eps == 0 {
		c.Eps = 1e-8
	}
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	switch {
	case len(c.Targets) == 0:
		return errors.New("train: no target projections (choose from q, k, v, o, gate, up, down)")
	case c.Rank <= 0:
		return fmt.Errorf("train: rank %d: it must be at least 1", c.Rank)
	case !(c.Alpha > 0) || bad(c.Alpha):
		return fmt.Errorf("train: alpha %v: it must be positive", c.Alpha)
	case !(c.Dropout >= 0 && c.Dropout < 1):
		return fmt.Errorf("train: dropout %v: it must be in [0, 1)", c.Dropout)
	case !(c.LR > 0) || bad(c.LR):
		return fmt.Errorf("train: learning rate %v: it must be positive", c.LR)
	case !(c.MinLR >= 0 && c.MinLR <= c.LR):
		return fmt.Errorf("train: minimum learning rate %v: it must be in [0, %v]", c.MinLR, c.LR)
	case c.Warmup < 0 || c.Steps < 0:
		return fmt.Errorf("train: warmup %d and steps %d must not be negative", c.Warmup, c.Steps)
	case !(c.WeightDecay >= 0) || bad(c.WeightDecay):
		return fmt.Errorf("train: weight decay %v: it must not be negative", c.WeightDecay)
	case !(c.Beta1 > 0 && c.Beta1 < 1) || !(c.Beta2 > 0 && c.Beta2 < 1):
		return fmt.Errorf("train: Adam betas %v, %v: each must be in (0, 1)", c.Beta1, c.Beta2)
	case !(c.Eps > 0) || bad(c.Eps):
		return fmt.Errorf("train: Adam epsilon %v: it must be positive", c.Eps)
	case !(c.Clip >= 0) || bad(c.Clip):
		return fmt.Errorf("train: gradient clip %v: it must not be negative", c.Clip)
	}
	seen := map[string]bool{}
	for _, k := range c.Targets {
		if !slices.Contains(Kinds, k) {
			return fmt.Errorf("train: unknown target %q (choose from q, k, v, o, gate, up, down)", k)
		}
		if seen[k] {
			return fmt.Errorf("train: target %q given twice", k)
		}
		seen[k] = true
	}
	return nil
}

// lr is the learning rate of optimizer step s (1-based).
func (c *Config) lr(s int) float64 {
	if c.Warmup > 0 && s <= c.Warmup {
		return c.LR * float64(s) / float64(c.Warmup)
	}
	if c.Steps <= c.Warmup {
		return c.LR
	}
	p := min(float64(s-c.Warmup)/float64(c.Steps-c.Warmup), 1)
	return c.MinLR + (c.LR-c.MinLR)*0.5*(1+math.Cos(math.Pi*p))
}

// supported says why m cannot be trained, or nil.
func supported(m *model.Transformer) error {
	if !slices.Contains(Architectures, m.Arch) {
		return fmt.Errorf("%w: architecture %q (the trainer covers %v)", ErrUnsupported, m.Arch, Architectures)
	}
	return nil
}
