package dataset

import (
	"slices"
	"time"
)

// Feedback is one rating or correction of a response, shaped like the
// capture store's (same JSON names), so its records fold into an
// Interaction with WithFeedback and its JSONL export reads with
// ReadInteractions.
type Feedback struct {
	Rating     int       `json:"rating,omitempty"` // 1..5 stars
	Thumb      int       `json:"thumb,omitempty"`  // +1 or -1
	Correction string    `json:"correction,omitempty"`
	Tags       []string  `json:"tags,omitempty"`
	Time       time.Time `json:"time,omitzero"`
	// Numbered: the correction's placeholders share its interaction's
	// numbering (capture.Feedback.Numbered). A correction without it is
	// renumbered apart from the interaction's, so that two different
	// values never share a placeholder in one example.
	Numbered bool `json:"numbered,omitempty"`
}

// WithFeedback returns in with feedback folded into its Rating, Thumb,
// Correction and Tags, in time order (in the order given if any entry
// lacks a time): a later rating, thumb or correction replaces an earlier one, as
// a person changing their mind would mean; tags accumulate.
func (in Interaction) WithFeedback(fbs []Feedback) Interaction {
	if !slices.ContainsFunc(fbs, func(fb Feedback) bool { return fb.Time.IsZero() }) {
		fbs = slices.Clone(fbs)
		slices.SortStableFunc(fbs, func(a, b Feedback) int { return a.Time.Compare(b.Time) })
	}
	in.Tags = slices.Clone(in.Tags)
	for _, fb := range fbs {
		if fb.Rating != 0 {
			in.Rating = fb.Rating
		}
		if fb.Thumb != 0 {
			in.Thumb = fb.Thumb
		}
		if fb.Correction != "" {
			in.Correction = fb.Correction
			if !fb.Numbered {
				in.Correction = renumberApart(fb.Correction, in)
			}
		}
		for _, tag := range fb.Tags {
			if !slices.Contains(in.Tags, tag) {
				in.Tags = append(in.Tags, tag)
			}
		}
	}
	return in
}
