package capture

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/capture/pii"
	"github.com/hearth-ai/hearth/tenant"
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
	return s.addFeedback(ctx, tenantID, fb, nil)
}

// FeedbackFor records feedback from a caller of tenant t wherever t's
// responses are kept: here when this node is t's home, otherwise on the
// home node through the Forwarder, checked and scrubbed here first (and
// audited here as "feedback-forward"). The home node looks the response
// up under its own tenant of t's name, so another tenant's response is
// ErrNotFound there as here. Without a forwarder, a node outside t's home
// holds none of t's responses: ErrNotFound.
func (s *Store) FeedbackFor(ctx context.Context, t tenant.Tenant, fb Feedback) (Feedback, error) {
	if s.home(t) {
		return s.AddFeedback(ctx, t.ID, fb)
	}
	if err := CheckFeedback(fb); err != nil {
		return Feedback{}, err
	}
	fb = scrubFeedback(s.scr.NewSession(), fb)
	got, node, err := s.cfg.Forwarder.ForwardFeedback(ctx, t, fb)
	if errors.Is(err, ErrNoForwarder) {
		return Feedback{}, fmt.Errorf("%w: response %q (this node is not tenant %s's home %s, and cannot reach it): %w",
			ErrNotFound, fb.ResponseID, t.Name, t.Policy.Home, err)
	}
	if err != nil {
		return Feedback{}, fmt.Errorf("capture: feedback on %s, forwarded to %s: %w", fb.ResponseID, t.Policy.Home, err)
	}
	s.audit(ctx, audit.Record{Tenant: t.ID, KeyID: fb.KeyID, ResponseID: fb.ResponseID, Reason: "feedback-forward",
		Detail: map[string]string{"home": t.Policy.Home, "to_node": node, "feedback_id": got.ID}})
	return got, nil
}

// FeedbackForwarded records feedback that node from (a certified peer, as
// the fabric verified) received for this node's tenant t, the tenant of
// the same name there: on t's own response only, like AddFeedback, and
// only on t's home (ErrNotHome otherwise: it is never forwarded on).
func (s *Store) FeedbackForwarded(ctx context.Context, from string, t tenant.Tenant, fb Feedback) (Feedback, error) {
	if !s.home(t) {
		return Feedback{}, fmt.Errorf("%w: feedback forwarded by %s, but this node is in %q and tenant %s's home is %q", ErrNotHome, from, s.cfg.Jurisdiction, t.Name, t.Policy.Home)
	}
	return s.addFeedback(ctx, t.ID, fb, map[string]string{"from_node": from})
}

func (s *Store) addFeedback(ctx context.Context, tenantID string, fb Feedback, extra map[string]string) (Feedback, error) {
	if err := CheckFeedback(fb); err != nil {
		return Feedback{}, err
	}
	// One feedback at a time: each continues the record's numbering and
	// stores it back, and two at once would hand out the same numbers.
	s.fbMu.Lock()
	defer s.fbMu.Unlock()
	var keyID string
	var sealedRec []byte
	err := s.d.QueryRowContext(ctx, `SELECT key_id, sealed FROM capture_record WHERE tenant_id = ? AND response_id = ?`, tenantID, fb.ResponseID).Scan(&keyID, &sealedRec)
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
	recAAD := recordAAD(tenantID, fb.ResponseID)
	recPlain, err := open(key.aead, sealedRec, recAAD)
	if err != nil {
		return Feedback{}, fmt.Errorf("capture: feedback on %s: record does not open under its key: %w", fb.ResponseID, err)
	}
	var sr sealedRecord
	err = json.Unmarshal(recPlain, &sr)
	clear(recPlain)
	if err != nil {
		return Feedback{}, fmt.Errorf("capture: feedback on %s: record does not decode: %w", fb.ResponseID, err)
	}
	// The interaction's numbering, continued: a value of the prompt keeps
	// its placeholder in the correction, a new value gets the next number,
	// and placeholders already written (by earlier feedback, or in a
	// record kept before numberings were) are never reused.
	pk := key.placeholderKey()
	var num pii.Numbering
	if sr.Numbering != nil {
		num = *sr.Numbering
	}
	ss := s.scr.ResumeSession(pk, num)
	for _, m := range sr.Messages {
		ss.Reserve(m.Content)
	}
	ss.Reserve(sr.Output)
	earlier, err := s.feedbackOf(ctx, map[string]*dataKey{keyID: key}, tenantID, []string{fb.ResponseID})
	if err != nil {
		return Feedback{}, err
	}
	for _, e := range earlier[fb.ResponseID] {
		ss.Reserve(e.Correction)
		ss.Reserve(e.Comment)
	}
	if extra != nil {
		fb = rebaseFeedback(ss, fb) // scrubbed by the forwarding node's own session
	}
	fb = scrubFeedback(ss, fb)
	fb.Numbered = true
	fb.ID = "fb_" + randomHex(12)
	fb.Time = s.now().UTC()
	plain, err := json.Marshal(fb)
	if err != nil {
		return Feedback{}, fmt.Errorf("capture: feedback: %w", err)
	}
	sealed := seal(key.aead, plain, feedbackAAD(tenantID, fb.ResponseID, fb.ID))
	next := ss.Numbering(pk)
	sr.Numbering = &next
	recPlain, err = json.Marshal(sr)
	if err != nil {
		return Feedback{}, fmt.Errorf("capture: feedback: %w", err)
	}
	resealed := seal(key.aead, recPlain, recAAD)
	clear(recPlain)
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return Feedback{}, fmt.Errorf("capture: feedback: %w", err)
	}
	defer tx.Rollback()
	// The foreign key makes a record erased meanwhile fail the insert
	// rather than leave orphaned feedback.
	if _, err := tx.ExecContext(ctx, `INSERT INTO capture_feedback (id, tenant_id, response_id, key_id, time, sealed) VALUES (?, ?, ?, ?, ?, ?)`,
		fb.ID, tenantID, fb.ResponseID, keyID, fb.Time.UnixNano(), sealed); err != nil {
		if strings.Contains(err.Error(), "FOREIGN KEY") {
			return Feedback{}, fmt.Errorf("%w: response %q", ErrNotFound, fb.ResponseID)
		}
		return Feedback{}, fmt.Errorf("capture: feedback: %w", err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE capture_record SET sealed = ? WHERE tenant_id = ? AND response_id = ? AND sealed = ?`,
		resealed, tenantID, fb.ResponseID, sealedRec)
	if err != nil {
		return Feedback{}, fmt.Errorf("capture: feedback: keep the numbering: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return Feedback{}, fmt.Errorf("%w: response %q changed or was erased while feedback was recorded", ErrNotFound, fb.ResponseID)
	}
	detail := map[string]string{"feedback_id": fb.ID, "rating": strconv.Itoa(fb.Rating), "thumb": strconv.Itoa(fb.Thumb),
		"correction": strconv.FormatBool(fb.Correction != ""), "tags": strconv.Itoa(len(fb.Tags))}
	maps.Copy(detail, extra)
	ar := audit.Record{Tenant: tenantID, KeyID: fb.KeyID, ResponseID: fb.ResponseID, Reason: "feedback", Detail: detail}
	if err := s.commitAudited(ctx, tx, ar); err != nil {
		return Feedback{}, fmt.Errorf("capture: feedback: %w", err)
	}
	return fb, nil
}
