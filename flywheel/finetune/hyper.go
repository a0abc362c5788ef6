package finetune

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/hearth-ai/hearth/engine/train"
)

// Hyper are a run's hyper-parameters. The zero value of a field means its
// default (see WithDefaults), so Hyper{} is a sensible run.
type Hyper struct {
	Rank    int      `json:"rank"`    // LoRA rank; default 16
	Alpha   float64  `json:"alpha"`   // LoRA alpha (the update is scaled by Alpha/Rank); default 32
	Dropout float64  `json:"dropout"` // dropout on the LoRA input; default 0
	Targets []string `json:"targets"` // projection kinds (q, k, v, o, gate, up, down); default q, k, v, o
	Epochs  int      `json:"epochs"`  // passes over the training examples; default 3
	LR      float64  `json:"lr"`      // peak learning rate; default 2e-4
	Batch   int      `json:"batch"`   // packed sequences per optimizer step; default 4
	Seq     int      `json:"seq"`     // most tokens per packed sequence; default 512, at most the model's context
	// Warmup is the number of steps of linear warmup before the cosine
	// decay (to LR/10 at the last step); 0 means none.
	Warmup      int     `json:"warmup"`
	Clip        float64 `json:"clip"`         // global gradient-norm clip; default 1, negative for none
	WeightDecay float64 `json:"weight_decay"` // AdamW's decoupled weight decay; default 0
	Seed        uint64  `json:"seed"`         // LoRA initialisation, dropout and data order
	// CheckpointEvery is the number of steps between checkpoints (there is
	// always one at the end); default 50, negative for only the last.
	CheckpointEvery int `json:"checkpoint_every"`
}

// Defaults of Hyper's fields.
const (
	DefaultRank            = 16
	DefaultAlpha           = 32
	DefaultEpochs          = 3
	DefaultLR              = 2e-4
	DefaultBatch           = 4
	DefaultSeq             = 512
	DefaultClip            = 1.0
	DefaultCheckpointEvery = 50
)

// DefaultTargets are the attention projections, where LoRA was first
// applied and where most adapters put it.
var DefaultTargets = []string{"q", "k", "v", "o"}

// Kinds are the projection kinds an adapter can target, in the order of
// a block's forward pass.
var Kinds = []string{"q", "k", "v", "o", "gate", "up", "down"}

// WithDefaults returns h with every zero field set to its default.
func (h Hyper) WithDefaults() Hyper {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&h.Rank, DefaultRank)
	deff(&h.Alpha, DefaultAlpha)
	def(&h.Epochs, DefaultEpochs)
	deff(&h.LR, DefaultLR)
	def(&h.Batch, DefaultBatch)
	def(&h.Seq, DefaultSeq)
	deff(&h.Clip, DefaultClip)
	def(&h.CheckpointEvery, DefaultCheckpointEvery)
	if len(h.Targets) == 0 {
		h.Targets = slices.Clone(DefaultTargets)
	}
	return h
}

// Limits that keep a typo from asking for a run no machine finishes.
const (
	maxRank   = 4096
	maxEpochs = 10000
	maxBatch  = 1 << 16
	maxSeq    = 1 << 20
)

// Validate reports the first hyper-parameter out of range, after
// defaults; the error names the field as the command line does.
func (h Hyper) Validate() error {
	h = h.WithDefaults()
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case h.Rank < 0 || h.Rank > maxRank:
		return fmt.Errorf("rank %d: want 1..%d", h.Rank, maxRank)
	case h.Alpha < 0 || !finite(h.Alpha):
		return fmt.Errorf("alpha %v: want a positive number", h.Alpha)
	case h.Dropout < 0 || h.Dropout >= 1 || !finite(h.Dropout):
		return fmt.Errorf("dropout %v: want 0 <= dropout < 1", h.Dropout)
	case h.Epochs < 0 || h.Epochs > maxEpochs:
		return fmt.Errorf("epochs %d: want 1..%d", h.Epochs, maxEpochs)
	case h.LR < 0 || h.LR > 1 || !finite(h.LR):
		return fmt.Errorf("lr %v: want 0 < lr <= 1", h.LR)
	case h.Batch < 0 || h.Batch > maxBatch:
		return fmt.Errorf("batch %d: want 1..%d", h.Batch, maxBatch)
	case h.Seq < 2 || h.Seq > maxSeq:
		return fmt.Errorf("seq %d: want 2..%d", h.Seq, maxSeq)
	case h.Warmup < 0:
		return fmt.Errorf("warmup %d: want 0 or more steps", h.Warmup)
	case !finite(h.Clip):
		return fmt.Errorf("clip %v: want a number", h.Clip)
	case h.WeightDecay < 0 || !finite(h.WeightDecay):
		return fmt.Errorf("weight_decay %v: want 0 or more", h.WeightDecay)
	}
	return checkTargets(h.Targets)
}

// checkTargets reports unknown and repeated projection kinds.
func checkTargets(targets []string) error {
	seen := map[string]bool{}
	for _, k := range targets {
		if !slices.Contains(Kinds, k) {
			return fmt.Errorf("target %q: not a projection kind (want some of %s)", k, strings.Join(Kinds, ","))
		}
		if seen[k] {
			return fmt.Errorf("target %q given twice", k)
		}
		seen[k] = true
	}
	if len(targets) == 0 {
		return errors.New("no targets")
	}
	return nil
}

// trainConfig is the trainer's configuration for a run of steps steps:
// AdamW with the usual betas, cosine decay to a tenth of the peak.
func (h Hyper) trainConfig(steps int) train.Config {
	clip := h.Clip
	if clip < 0 {
		clip = 0
	}
	return train.Config{
		Targets: slices.Clone(h.Targets),
		Rank:    h.Rank, Alpha: h.Alpha, Dropout: h.Dropout,
		LR: h.LR, Warmup: h.Warmup, Steps: steps, MinLR: h.LR / 10,
		WeightDecay: h.WeightDecay, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8,
		Clip: clip, Seed: h.Seed,
	}
}
