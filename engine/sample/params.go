// Package sample turns a vector of logits into the next token id.
//
// A Sampler applies the llama.cpp default chain: repetition, presence and
// frequency penalties, then top-k, top-p, min-p and temperature, and finally
// draws from the remaining distribution with its own seeded generator. It
// works in scratch buffers it owns, so the caller's logits are never touched
// and a call allocates nothing once the buffers exist.
package sample

import (
	"fmt"
	"math"
)

// Params configures a Sampler. The zero value is valid and means greedy
// decoding with every filter and penalty switched off.
type Params struct {
	// Temperature divides the logits before the draw. 0 (or anything below
	// 1e-6) means greedy: the highest logit wins, ties going to the lowest id.
	Temperature float32
	// TopK keeps only the K most likely tokens. 0 means off.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probabilities
	// add up to at least TopP. 0 and 1 both mean off.
	TopP float32
	// MinP drops tokens whose probability is below MinP times that of the
	// most likely token. 0 means off.
	MinP float32
	// RepeatPenalty divides positive logits and multiplies negative ones of
	// tokens seen in the window (CTRL / llama.cpp). 0 and 1 both mean off.
	RepeatPenalty float32
	// RepeatLastN is how many of the most recent history tokens the three
	// penalties look at. 0 means 64 (the llama.cpp default), -1 means the
	// whole history.
	RepeatLastN int
	// PresencePenalty is subtracted once from the logit of every token seen
	// in the window; FrequencyPenalty is subtracted once per occurrence
	// (both as OpenAI defines them). 0 means off.
	PresencePenalty, FrequencyPenalty float32
	// Seed seeds the sampler's generator. Every value, 0 included, is a
	// fixed seed: the same seed and inputs give the same tokens.
	Seed uint64
}

// DefaultRepeatLastN is the penalty window used when Params.RepeatLastN is 0.
const DefaultRepeatLastN = 64

// greedyBelow is the temperature under which sampling becomes argmax.
const greedyBelow = 1e-6

// DefaultParams returns llama.cpp's command-line defaults: temperature 0.8,
// top-k 40, top-p 0.95, min-p 0.05, repetition penalty off, window 64.
func DefaultParams() Params {
	return Params{
		Temperature:   0.8,
		TopK:          40,
		TopP:          0.95,
		MinP:          0.05,
		RepeatPenalty: 1.0,
		RepeatLastN:   DefaultRepeatLastN,
	}
}

// Greedy reports whether p selects argmax decoding.
func (p Params) Greedy() bool { return p.Temperature < greedyBelow }

// Validate reports the first parameter that is out of range.
func (p Params) Validate() error {
	finite := func(name string, v float32) error {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("sample: %s is %v, want a finite number", name, v)
		}
		return nil
	}
	for _, f := range []struct {
		name string
		v    float32
	}{
		{"temperature", p.Temperature}, {"top_p", p.TopP}, {"min_p", p.MinP},
		{"repeat_penalty", p.RepeatPenalty}, {"presence_penalty", p.PresencePenalty},
		{"frequency_penalty", p.FrequencyPenalty},
	} {
		if err := finite(f.name, f.v); err != nil {
			return err
		}
	}
	switch {
	case p.Temperature < 0:
		return fmt.Errorf("sample: temperature %v is negative", p.Temperature)
	case p.TopK < 0:
		return fmt.Errorf("sample: top_k %d is negative (0 turns it off)", p.TopK)
	case p.TopP < 0 || p.TopP > 1:
		return fmt.Errorf("sample: top_p %v is outside (0, 1] (0 turns it off)", p.TopP)
	case p.MinP < 0 || p.MinP > 1:
		return fmt.Errorf("sample: min_p %v is outside [0, 1]", p.MinP)
	case p.RepeatPenalty < 0:
		return fmt.Errorf("sample: repeat_penalty %v is negative (1 or 0 turns it off)", p.RepeatPenalty)
	case p.RepeatLastN < -1:
		return fmt.Errorf("sample: repeat_last_n %d is below -1 (-1 means the whole history)", p.RepeatLastN)
	}
	return nil
}
