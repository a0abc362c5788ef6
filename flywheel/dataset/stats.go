package dataset

import (
	"context"
	"strconv"
)

// Stats describes one version of a dataset.
type Stats struct {
	Name      string                `json:"name"`
	Version   int                   `json:"version"`
	Origin    string                `json:"origin"`
	Splits    map[string]SplitStats `json:"splits"` // "train", "eval" and "all"
	Languages map[string]int        `json:"languages"`
	Ratings   map[string]int        `json:"ratings"` // "1".."5" (Score) and "unrated"
	Corrected int                   `json:"corrected"`
	Report    Report                `json:"report"`  // what the build or import left out and why
	Removed   int                   `json:"removed"` // examples erased since, along lineage
}

// SplitStats are the sizes of a split's examples, in characters.
type SplitStats struct {
	Examples int     `json:"examples"`
	AvgChars float64 `json:"avg_chars"`
	MinChars int     `json:"min_chars"`
	MaxChars int     `json:"max_chars"`
}

func (s *SplitStats) add(chars int) {
	if s.Examples == 0 || chars < s.MinChars {
		s.MinChars = chars
	}
	if chars > s.MaxChars {
		s.MaxChars = chars
	}
	// AvgChars holds the sum until finish.
	s.AvgChars += float64(chars)
	s.Examples++
}

func (s *SplitStats) finish() {
	if s.Examples > 0 {
		s.AvgChars /= float64(s.Examples)
	}
}

// Stats summarises a version of the tenant's dataset (0: the latest).
func (s *Store) Stats(ctx context.Context, tenantID, name string, version int) (*Stats, error) {
	v, err := s.version(ctx, tenantID, name, version)
	if err != nil {
		return nil, err
	}
	examples, err := s.examples(ctx, v, "")
	if err != nil {
		return nil, err
	}
	st := &Stats{Name: v.Name, Version: v.Version, Origin: v.Origin, Report: v.Report, Removed: v.Removed,
		Languages: map[string]int{}, Ratings: map[string]int{}}
	var train, eval, all SplitStats
	for _, e := range examples {
		if e.Split == Eval {
			eval.add(e.Chars)
		} else {
			train.add(e.Chars)
		}
		all.add(e.Chars)
		st.Languages[e.Lang]++
		if e.Rating > 0 {
			st.Ratings[strconv.Itoa(e.Rating)]++
		} else {
			st.Ratings["unrated"]++
		}
		if e.Corrected {
			st.Corrected++
		}
	}
	train.finish()
	eval.finish()
	all.finish()
	st.Splits = map[string]SplitStats{Train: train, Eval: eval, "all": all}
	return st, nil
}
