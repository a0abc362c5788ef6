package dataset

import "testing"

// TestRenumberApart: a correction recorded before feedback shared its
// interaction's numbering says <PHONE_1> for its own first number, which
// need not be the prompt's <PHONE_1>; built into an example it gets
// numbers of its own. A correction that shares the numbering keeps its
// placeholders.
func TestRenumberApart(t *testing.T) {
	in := Interaction{Messages: []Message{{Role: "user", Content: "call me on <PHONE_1>, mail <EMAIL_1>"}}, Output: "I will call <PHONE_1>."}
	for _, tc := range []struct {
		fb   Feedback
		want string
	}{
		{Feedback{Rating: 1, Correction: "Call <PHONE_1> or <PHONE_2>; <PHONE_1> first. Mail <EMAIL_1>, not <NAME_1>."},
			"Call <PHONE_2> or <PHONE_3>; <PHONE_2> first. Mail <EMAIL_2>, not <NAME_1>."},
		{Feedback{Rating: 1, Correction: "Call <PHONE_1>, not <PHONE_2>.", Numbered: true}, "Call <PHONE_1>, not <PHONE_2>."},
		{Feedback{Rating: 1, Correction: "No numbers at all."}, "No numbers at all."},
	} {
		if got := in.WithFeedback([]Feedback{tc.fb}).Correction; got != tc.want {
			t.Errorf("correction %q (numbered %v) became %q, want %q", tc.fb.Correction, tc.fb.Numbered, got, tc.want)
		}
	}
}
