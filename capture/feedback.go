package capture

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hearth-ai/hearth/audit"
)

// Limits on feedback, so that a rating endpoint cannot be used to store
// arbitrary volumes.
const (
	MaxCorrectionBytes = 64 << 10
	MaxCommentBytes    = 4 << 10
	MaxTags            = 16
	MaxTagBytes        = 64
)

// CheckFeedback validates feedback before it is stored; its error wraps
// ErrInvalid and names the field.
func CheckFeedback(fb Feedback) error {
	if strings.TrimSpace(fb.ResponseID) == "" {
		return fmt.Errorf("%w: feedback: response_id is required", ErrInvalid)
	}
	if fb.Rating < 0 || fb.Rating > 5 {
		return fmt.Errorf("%w: feedback: rating %d: expected 1 to 5 stars", ErrInvalid, fb.Rating)
	}
	if fb.Thumb < -1 || fb.Thumb > 1 {
		return fmt.Errorf("%w: feedback: thumb %d: expected +1 (up) or -1 (down)", ErrInvalid, fb.Thumb)
	}
	if fb.Rating == 0 && fb.Thumb == 0 && strings.TrimSpace(fb.Correction) == "" && strings.TrimSpace(fb.Comment) == "" && len(fb.Tags) == 0 {
		return fmt.Errorf("%w: feedback: give a rating, a thumb, a correction, tags or a comment", ErrInvalid)
	}
	if len(fb.Correction) > MaxCorrectionBytes {
		return fmt.Errorf("%w: feedback: correction is %d bytes, more than %d", ErrInvalid, len(fb.Correction), MaxCorrectionBytes)
	}
	if len(fb.Comment) > MaxCommentBytes {
		return fmt.Errorf("%w: feedback: comment is %d bytes, more than %d", ErrInvalid, len(fb.Comment), MaxCommentBytes)
	}
	if len(fb.Tags) > MaxTags {
		return fmt.Errorf("%w: feedback: %d tags, more than %d", ErrInvalid, len(fb.Tags), MaxTags)
	}
	for i, t := range fb.Tags {
		if t = strings.TrimSpace(t); t == "" || len(t) > MaxTagBytes {
			return fmt.Errorf("%w: feedback: tags[%d] must be 1 to %d bytes", ErrInvalid, i, MaxTagBytes)
		}
	}
	return nil
}

// Feedback records feedback on one of the tenant's captured responses.
// A response id the tenant does not own, or that was never captured, is
// ErrNotFound.
func (s *Store) Feedback(ctx context.Context, tenantID string, fb Feedback) error {
	_, err := s.AddFeedback(ctx, tenantID, fb)
	return err
}

// AddFeedback is Feedback returning what was recorded (with its id and
// time, texts scrubbed).
func (s *Store) AddFeedback(ctx context.Context, tenantID string, fb Feedback) (Feedback, error) {
	if err := CheckFeedback(fb); err != nil {
		return Feedback{}, err
	}
	var keyID string
	err := s.d.QueryRowContext(ctx, `SELECT key_id FROM capture_record WHERE tenant_id = ? AND response_id = ?`, tenantID, fb.ResponseID).Scan(&keyID)
	if errors.Is(err, sql.ErrNoRows) {
		return Feedback{}, fmt.Errorf("%w: response %q", ErrNotFound, fb.ResponseID)
	}
	if err != nil {
		return Feedback{}, fmt.Errorf("capture: feedback: %w", err)
	}
	key, err := s.keyByID(ctx, tenantID, keyID)
	if err != nil {
		return Feedback{}, fmt.Errorf("capture: feedback on %s: %w", fb.ResponseID, err)
	}
	fb = scrubFeedback(s.scr, fb)
	fb.ID = "fb_" + randomHex(12)
	fb.Time = s.now().UTC()
	plain, err := json.Marshal(fb)
	if err != nil {
		return Feedback{}, fmt.Errorf("capture: feedback: %w", err)
	}
	sealed := seal(key.aead, plain, feedbackAAD(tenantID, fb.ResponseID, fb.ID))
	// The foreign key makes a record erased meanwhile fail the insert
	// rather than leave orphaned feedback.
	if _, err := s.d.ExecContext(ctx, `INSERT INTO capture_feedback (id, tenant_id, response_id, key_id, time, sealed) VALUES (?, ?, ?, ?, ?, ?)`,
		fb.ID, tenantID, fb.ResponseID, keyID, fb.Time.UnixNano(), sealed); err != nil {
		if strings.Contains(err.Error(), "FOREIGN KEY") {
			return Feedback{}, fmt.Errorf("%w: response %q", ErrNotFound, fb.ResponseID)
		}
		return Feedback{}, fmt.Errorf("capture: feedback: %w", err)
	}
	detail := map[string]string{"feedback_id": fb.ID, "rating": strconv.Itoa(fb.Rating), "thumb": strconv.Itoa(fb.Thumb),
		"correction": strconv.FormatBool(fb.Correction != ""), "tags": strconv.Itoa(len(fb.Tags))}
	s.audit(ctx, audit.Record{Tenant: tenantID, KeyID: fb.KeyID, ResponseID: fb.ResponseID, Reason: "feedback", Detail: detail})
	return fb, nil
}
