package dataset

import (
	"fmt"
	"slices"
	"strings"
)

// Options choose what Build keeps. The zero value means the defaults.
type Options struct {
	// MinRating is the lowest Score (1..5) an uncorrected interaction needs
	// to be kept; 0 means 4 (four stars or a thumbs-up).
	MinRating int `json:"min_rating"`
	// MinChars and MaxChars bound an example's length in characters
	// (runes, all messages together); 0 means no bound.
	MinChars int `json:"min_chars,omitempty"`
	MaxChars int `json:"max_chars,omitempty"`
	// Languages keeps only examples detected as one of these codes (see
	// Languages()); empty keeps every language, undetermined included.
	Languages []string `json:"languages,omitempty"`
	// NearDup is the Jaccard similarity of word shingles at or above which
	// two examples are near duplicates and only the better one is kept;
	// 0 means 0.8, 1 drops only examples whose word sequences are equal.
	NearDup float64 `json:"near_dup"`
	// EvalFraction is the share of examples put in the eval split; 0 means
	// 0.1. The split is by a hash of the response id and Seed.
	EvalFraction float64 `json:"eval_fraction"`
	Seed         int64   `json:"seed"`
}

// Defaults.
const (
	DefaultMinRating    = 4
	DefaultNearDup      = 0.8
	DefaultEvalFraction = 0.1
)

// resolve fills defaults and checks ranges, so that a version records the
// options that were really used.
func (o Options) resolve() (Options, error) {
	if o.MinRating == 0 {
		o.MinRating = DefaultMinRating
	}
	if o.NearDup == 0 {
		o.NearDup = DefaultNearDup
	}
	if o.EvalFraction == 0 {
		o.EvalFraction = DefaultEvalFraction
	}
	switch {
	case o.MinRating < 1 || o.MinRating > 5:
		return o, fmt.Errorf("%w options: min rating %d outside 1..5", ErrInvalid, o.MinRating)
	case o.MinChars < 0 || o.MaxChars < 0:
		return o, fmt.Errorf("%w options: negative length bound", ErrInvalid)
	case o.MaxChars > 0 && o.MinChars > o.MaxChars:
		return o, fmt.Errorf("%w options: min chars %d above max chars %d", ErrInvalid, o.MinChars, o.MaxChars)
	case !(o.NearDup > 0 && o.NearDup <= 1): // also rejects NaN
		return o, fmt.Errorf("%w options: near-duplicate threshold %v outside (0, 1]", ErrInvalid, o.NearDup)
	case !(o.EvalFraction > 0 && o.EvalFraction < 1):
		return o, fmt.Errorf("%w options: eval fraction %v outside (0, 1)", ErrInvalid, o.EvalFraction)
	}
	langs := make([]string, 0, len(o.Languages))
	for _, l := range o.Languages {
		l = strings.ToLower(strings.TrimSpace(l))
		if l != Undetermined && !slices.Contains(Languages(), l) {
			return o, fmt.Errorf("%w options: unknown language %q (known: %s, %s)", ErrInvalid, l, strings.Join(Languages(), ", "), Undetermined)
		}
		if !slices.Contains(langs, l) {
			langs = append(langs, l)
		}
	}
	slices.Sort(langs)
	if len(langs) == 0 {
		langs = nil
	}
	o.Languages = langs
	return o, nil
}
