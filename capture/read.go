package capture

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Get returns one of the tenant's records, decrypted, with its feedback.
// Another tenant's response id is ErrNotFound, as is an unknown one.
func (s *Store) Get(ctx context.Context, tenantID, responseID string) (Record, error) {
	var keyID string
	var t, exp int64
	var sealed []byte
	err := s.d.QueryRowContext(ctx, `SELECT key_id, time, expires, sealed FROM capture_record WHERE tenant_id = ? AND response_id = ?`,
		tenantID, responseID).Scan(&keyID, &t, &exp, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return Record{}, fmt.Errorf("%w: response %q", ErrNotFound, responseID)
	}
	if err != nil {
		return Record{}, fmt.Errorf("capture: get %s: %w", responseID, err)
	}
	keys := map[string]*dataKey{}
	rec, err := s.decrypt(ctx, keys, tenantID, responseID, keyID, exp, sealed)
	if err != nil {
		return Record{}, fmt.Errorf("capture: get %s: %w", responseID, err)
	}
	fbs, err := s.feedbackOf(ctx, keys, tenantID, []string{responseID})
	if err != nil {
		return Record{}, err
	}
	rec.Feedback = fbs[responseID]
	return rec, nil
}

// decrypt opens a record's row; keys caches the data keys used.
func (s *Store) decrypt(ctx context.Context, keys map[string]*dataKey, tenantID, responseID, keyID string, expires int64, sealed []byte) (Record, error) {
	k, err := s.cachedKey(ctx, keys, tenantID, keyID)
	if err != nil {
		return Record{}, err
	}
	plain, err := open(k.aead, sealed, recordAAD(tenantID, responseID))
	if err != nil {
		return Record{}, fmt.Errorf("record does not open under its key: %w", err)
	}
	var sr sealedRecord
	if err := json.Unmarshal(plain, &sr); err != nil {
		return Record{}, fmt.Errorf("record does not decode: %w", err)
	}
	return Record{
		Interaction: Interaction{ResponseID: responseID, TenantID: tenantID, KeyID: sr.KeyID, EndUser: sr.EndUser, Model: sr.Model,
			Endpoint: sr.Endpoint, Messages: sr.Messages, Output: sr.Output, Params: sr.Params, Time: sr.Time},
		Scrubbed: sr.Scrubbed,
		Expires:  time.Unix(0, expires),
	}, nil
}

func (s *Store) cachedKey(ctx context.Context, keys map[string]*dataKey, tenantID, keyID string) (*dataKey, error) {
	if k, ok := keys[keyID]; ok {
		if k == nil {
			return nil, ErrKeyDeleted
		}
		return k, nil
	}
	k, err := s.keyByID(ctx, tenantID, keyID)
	if errors.Is(err, ErrKeyDeleted) {
		keys[keyID] = nil
	} else if err == nil {
		keys[keyID] = k
	}
	return k, err
}

// List returns the tenant's records selected by f, oldest first, with
// their feedback. Records under a deleted key are left out; if every
// selected record is, the error is ErrKeyDeleted.
func (s *Store) List(ctx context.Context, tenantID string, f Filter) ([]Record, error) {
	q := `SELECT response_id, key_id, expires, sealed FROM capture_record r WHERE tenant_id = ?`
	args := []any{tenantID}
	if !f.Since.IsZero() {
		q += ` AND time >= ?`
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		q += ` AND time < ?`
		args = append(args, f.Until.UnixNano())
	}
	if f.Model != "" {
		q += ` AND model = ?`
		args = append(args, f.Model)
	}
	if f.WithFeedback {
		q += ` AND EXISTS (SELECT 1 FROM capture_feedback fb WHERE fb.tenant_id = r.tenant_id AND fb.response_id = r.response_id)`
	}
	q += ` ORDER BY time, response_id`
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return nil, fmt.Errorf("%w: filter: until %s is not after since %s", ErrInvalid, f.Until.Format(time.RFC3339), f.Since.Format(time.RFC3339))
	}
	type row struct {
		id, keyID string
		exp       int64
		sealed    []byte
	}
	var rows []row
	rs, err := s.d.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("capture: list: %w", err)
	}
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.id, &r.keyID, &r.exp, &r.sealed); err != nil {
			rs.Close()
			return nil, fmt.Errorf("capture: list: %w", err)
		}
		rows = append(rows, r)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("capture: list: %w", err)
	}
	keys := map[string]*dataKey{}
	out := make([]Record, 0, len(rows))
	ids := make([]string, 0, len(rows))
	shredded := 0
	for _, r := range rows {
		rec, err := s.decrypt(ctx, keys, tenantID, r.id, r.keyID, r.exp, r.sealed)
		if errors.Is(err, ErrKeyDeleted) {
			shredded++
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("capture: list: response %s: %w", r.id, err)
		}
		out = append(out, rec)
		ids = append(ids, r.id)
	}
	if shredded > 0 && len(out) == 0 {
		return nil, fmt.Errorf("capture: list: %d records: %w", shredded, ErrKeyDeleted)
	}
	fbs, err := s.feedbackOf(ctx, keys, tenantID, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Feedback = fbs[out[i].ResponseID]
	}
	return out, nil
}

// Export writes the tenant's records selected by f as JSON lines, one
// Record per line, and returns how many it wrote.
func (s *Store) Export(ctx context.Context, tenantID string, w io.Writer, f Filter) (int, error) {
	recs, err := s.List(ctx, tenantID, f)
	if err != nil {
		return 0, err
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i, r := range recs {
		if err := enc.Encode(r); err != nil {
			return i, fmt.Errorf("capture: export: %w", err)
		}
	}
	return len(recs), nil
}

// feedbackOf loads the feedback of the given responses, oldest first.
func (s *Store) feedbackOf(ctx context.Context, keys map[string]*dataKey, tenantID string, ids []string) (map[string][]Feedback, error) {
	out := map[string][]Feedback{}
	// Chunks keep the statement under SQLite's variable limit.
	for len(ids) > 0 {
		n := min(len(ids), 500)
		chunk := ids[:n]
		ids = ids[n:]
		args := []any{tenantID}
		for _, id := range chunk {
			args = append(args, id)
		}
		rs, err := s.d.QueryContext(ctx, `SELECT id, response_id, key_id, sealed FROM capture_feedback WHERE tenant_id = ? AND response_id IN (?`+
			strings.Repeat(",?", n-1)+`) ORDER BY time, id`, args...)
		if err != nil {
			return nil, fmt.Errorf("capture: feedback: %w", err)
		}
		type row struct {
			id, resp, keyID string
			sealed          []byte
		}
		var rows []row
		for rs.Next() {
			var r row
			if err := rs.Scan(&r.id, &r.resp, &r.keyID, &r.sealed); err != nil {
				rs.Close()
				return nil, fmt.Errorf("capture: feedback: %w", err)
			}
			rows = append(rows, r)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return nil, fmt.Errorf("capture: feedback: %w", err)
		}
		for _, r := range rows {
			k, err := s.cachedKey(ctx, keys, tenantID, r.keyID)
			if errors.Is(err, ErrKeyDeleted) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("capture: feedback %s: %w", r.id, err)
			}
			plain, err := open(k.aead, r.sealed, feedbackAAD(tenantID, r.resp, r.id))
			if err != nil {
				return nil, fmt.Errorf("capture: feedback %s does not open under its key: %w", r.id, err)
			}
			var fb Feedback
			if err := json.Unmarshal(plain, &fb); err != nil {
				return nil, fmt.Errorf("capture: feedback %s does not decode: %w", r.id, err)
			}
			out[r.resp] = append(out[r.resp], fb)
		}
	}
	return out, nil
}

func feedbackAAD(tenantID, responseID, id string) []byte {
	return []byte(aadFeedback + tenantID + "\x00" + responseID + "\x00" + id)
}
