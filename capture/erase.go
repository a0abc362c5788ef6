package capture

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/hearth-ai/hearth/audit"
)

// EraseResponse deletes one of the tenant's records and its feedback, then
// tells the erase hooks. It returns how many records were deleted (0 or 1).
func (s *Store) EraseResponse(ctx context.Context, tenantID, responseID string) (int, error) {
	res, err := s.d.ExecContext(ctx, `DELETE FROM capture_record WHERE tenant_id = ? AND response_id = ?`, tenantID, responseID)
	if err != nil {
		return 0, fmt.Errorf("capture: erase %s: %w", responseID, err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return 0, nil
	}
	s.audit(ctx, audit.Record{Tenant: tenantID, ResponseID: responseID, Reason: "erase", Detail: map[string]string{"by": "response", "records": "1"}})
	return 1, s.erased(ctx, tenantID, []string{responseID})
}

// EraseUser deletes every record of one end user of the tenant (OpenAI's
// "user" field), with their feedback, then tells the erase hooks.
func (s *Store) EraseUser(ctx context.Context, tenantID, endUser string) (int, error) {
	if endUser == "" {
		return 0, fmt.Errorf("%w: erase: the end-user id is empty", ErrInvalid)
	}
	keys, err := s.liveKeys(ctx, tenantID)
	if err != nil {
		return 0, fmt.Errorf("capture: erase user: %w", err)
	}
	// Records under a deleted key are unreadable already (and their tags
	// cannot be computed any more); the sweeper removes them.
	var ids []string
	for _, k := range keys {
		rows, err := s.d.QueryContext(ctx, `DELETE FROM capture_record WHERE tenant_id = ? AND key_id = ? AND user_tag = ? RETURNING response_id`,
			tenantID, k.id, k.userTag(endUser))
		if err != nil {
			return 0, fmt.Errorf("capture: erase user: %w", err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return 0, fmt.Errorf("capture: erase user: %w", err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("capture: erase user: %w", err)
		}
	}
	// The end-user id itself stays out of the audit log: the record says
	// that a user was erased and which responses went.
	s.audit(ctx, audit.Record{Tenant: tenantID, Reason: "erase", Detail: map[string]string{"by": "user", "records": strconv.Itoa(len(ids)),
		"responses": strings.Join(ids, ",")}})
	if len(ids) == 0 {
		return 0, nil
	}
	return len(ids), s.erased(ctx, tenantID, ids)
}

// erased runs the erase hook.
func (s *Store) erased(ctx context.Context, tenantID string, ids []string) error {
	if s.cfg.OnErase == nil {
		return nil
	}
	if err := s.cfg.OnErase(ctx, tenantID, ids); err != nil {
		return fmt.Errorf("capture: erased %d records, but data derived from them may remain: %w", len(ids), err)
	}
	return nil
}

// DeleteTenantKey crypto-shreds the tenant's captured data: its data keys
// are overwritten (the rows stay, marked deleted, so reads report
// ErrKeyDeleted rather than not found), and with them every record and
// every copy of one becomes unreadable. Later captures get a new key.
// secure_delete and a WAL checkpoint keep the old wrapped key from lingering
// in free pages or the write-ahead log.
func (s *Store) DeleteTenantKey(ctx context.Context, tenantID string) error {
	conn, err := s.d.Conn(ctx)
	if err != nil {
		return fmt.Errorf("capture: delete key: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return fmt.Errorf("capture: delete key: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA secure_delete = OFF`)
	res, err := conn.ExecContext(ctx, `UPDATE capture_key SET wrapped = NULL, deleted = ? WHERE tenant_id = ? AND wrapped IS NOT NULL`,
		s.now().UnixNano(), tenantID)
	if err != nil {
		return fmt.Errorf("capture: delete key: %w", err)
	}
	n, _ := res.RowsAffected()
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		s.log.Warn("capture: checkpoint after key deletion failed", "err", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: tenant %q has no capture key", ErrNotFound, tenantID)
	}
	s.audit(ctx, audit.Record{Tenant: tenantID, Reason: "shred", Detail: map[string]string{"keys": strconv.FormatInt(n, 10)}})
	return nil
}

// Sweep deletes records past their retention: the expiry set when they
// were saved, or sooner when Config.Tenants shows the tenant's retention
// has since been shortened (or its capture turned off: nothing new is kept,
// what was kept stays until it expires). It returns how many were deleted.
// Datasets built from swept records are not touched: they are their own
// artefacts; erasure (by response or user) reaches them.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	res, err := s.d.ExecContext(ctx, `DELETE FROM capture_record WHERE expires <= ?`, now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("capture: sweep: %w", err)
	}
	n, _ := res.RowsAffected()
	if s.cfg.Tenants != nil {
		ts, err := s.cfg.Tenants.ListTenants(ctx)
		if err != nil {
			return int(n), fmt.Errorf("capture: sweep: %w", err)
		}
		for _, t := range ts {
			cut := now.Add(-t.Policy.Retention())
			res, err := s.d.ExecContext(ctx, `DELETE FROM capture_record WHERE tenant_id = ? AND time <= ?`, t.ID, cut.UnixNano())
			if err != nil {
				return int(n), fmt.Errorf("capture: sweep: %w", err)
			}
			m, _ := res.RowsAffected()
			n += m
		}
	}
	if n > 0 {
		s.audit(ctx, audit.Record{Reason: "sweep", Detail: map[string]string{"records": strconv.FormatInt(n, 10)}})
	}
	return int(n), nil
}
