package capture

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/tenant"
)

// TestNotKeptWhenUnaudited: a capture or a piece of feedback whose audit
// record cannot be made durable is not kept (both used to be stored, with
// only a log line about the record); the error says why, and wraps
// audit.ErrUnavailable for a 503.
func TestNotKeptWhenUnaudited(t *testing.T) {
	f := newFixture(t, "KE")
	ctx := context.Background()
	tn := tenantWith("t1", tenant.CaptureOn, "KE", 30)
	if err := f.s.Save(ctx, tn, interaction("r1", "")); err != nil {
		t.Fatal(err)
	}
	f.audit.Fail(fmt.Errorf("%w: disk full", audit.ErrUnavailable))
	if err := f.s.Save(ctx, tn, interaction("r2", "")); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Save with a failed audit log: %v, want audit.ErrUnavailable", err)
	}
	if _, err := f.s.Get(ctx, "t1", "r2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the unaudited capture was kept: Get = %v", err)
	}
	if _, err := f.s.FeedbackFor(ctx, tn, Feedback{ResponseID: "r1", Rating: 5, Correction: "better"}); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("feedback with a failed audit log: %v, want audit.ErrUnavailable", err)
	}
	rec, err := f.s.Get(ctx, "t1", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Feedback) != 0 {
		t.Errorf("the unaudited feedback was kept: %+v", rec.Feedback)
	}
	// Once the log records again, both work.
	f.audit.Fail(nil)
	if err := f.s.Save(ctx, tn, interaction("r2", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.FeedbackFor(ctx, tn, Feedback{ResponseID: "r1", Rating: 5}); err != nil {
		t.Fatal(err)
	}
}
