package capture

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/tenant"
)

// TestFeedbackContinuesNumbering: a correction given after the answer is
// numbered with the interaction, so that one example of a dataset never
// says <PHONE_1> for two different numbers: the prompt's number keeps its
// placeholder in the correction, a new number gets the next one, and so on
// across several feedbacks.
func TestFeedbackContinuesNumbering(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "KE")
	ten := tenantWith("t1", tenant.CaptureOn, "KE", 30)
	in := Interaction{ResponseID: "r1", Model: "stories260k", Messages: []Message{
		{Role: "system", Content: "Patient: Mary Wambui, 42."},
		{Role: "user", Content: "Is 0722 000 111 the right number for the clinic?"},
	}, Output: "Yes, call 0722 000 111."}
	if err := f.s.Save(ctx, ten, in); err != nil {
		t.Fatal(err)
	}
	rec, err := f.s.Get(ctx, "t1", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.Messages[0].Content + " | " + rec.Messages[1].Content; got != "Patient: <NAME_1>, 42. | Is <PHONE_1> the right number for the clinic?" {
		t.Fatalf("record scrubbed to %q", got)
	}
	steps := []struct{ correction, want string }{
		{"No: 0733 444 555 is the clinic, 0722 000 111 is John Smith's.", "No: <PHONE_2> is the clinic, <PHONE_1> is <NAME_2>'s."},
		{"Ask Mary Wambui; or 0711 222 333, or 0733 444 555.", "Ask <NAME_1>; or <PHONE_3>, or <PHONE_2>."},
	}
	for i, st := range steps {
		f.clock.Add(time.Minute)
		fb, err := f.s.AddFeedback(ctx, "t1", Feedback{ResponseID: "r1", Thumb: -1, Correction: st.correction})
		if err != nil {
			t.Fatal(err)
		}
		if fb.Correction != st.want {
			t.Errorf("feedback %d scrubbed to %q, want %q", i+1, fb.Correction, st.want)
		}
	}
	rec, err = f.s.Get(ctx, "t1", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Feedback) != 2 || rec.Feedback[1].Correction != steps[1].want {
		t.Errorf("stored feedback %+v", rec.Feedback)
	}
	if rec.Output != "Yes, call <PHONE_1>." {
		t.Errorf("record output changed to %q", rec.Output)
	}
	for _, fb := range rec.Feedback {
		if strings.Contains(fb.Correction, "0733") || strings.Contains(fb.Correction, "Smith") {
			t.Errorf("identifier left in %q", fb.Correction)
		}
	}
}
