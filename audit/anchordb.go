package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-ai/hearth/db"
)

// anchorMigrations are the audit component's schema steps (append-only).
var anchorMigrations = []string{
	`CREATE TABLE audit_anchor (
		node TEXT PRIMARY KEY,
		seq  INTEGER NOT NULL,
		hash TEXT NOT NULL,
		time INTEGER NOT NULL
	);`,
}

// DBAnchor keeps logs' heads in the node's database, one row per node.
type DBAnchor struct{ d *db.DB }

// OpenDBAnchor applies the audit migrations to d.
func OpenDBAnchor(ctx context.Context, d *db.DB) (*DBAnchor, error) {
	if err := d.Migrate(ctx, "audit", anchorMigrations); err != nil {
		return nil, fmt.Errorf("audit: anchor: %w", err)
	}
	return &DBAnchor{d: d}, nil
}

// LoadAnchor returns the node's anchored head.
func (a *DBAnchor) LoadAnchor(ctx context.Context, node string) (Head, bool, error) {
	var h Head
	var t int64
	err := a.d.QueryRowContext(ctx, `SELECT seq, hash, time FROM audit_anchor WHERE node = ?`, node).Scan(&h.Seq, &h.Hash, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return Head{}, false, nil
	}
	if err != nil {
		return Head{}, false, fmt.Errorf("audit: anchor: %w", err)
	}
	h.Time = time.Unix(0, t).UTC()
	return h, true, nil
}

// SaveAnchor replaces the node's anchored head.
func (a *DBAnchor) SaveAnchor(ctx context.Context, node string, h Head) error {
	_, err := a.d.ExecContext(ctx, `INSERT INTO audit_anchor (node, seq, hash, time) VALUES (?, ?, ?, ?)
		ON CONFLICT (node) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, time = excluded.time`,
		node, h.Seq, h.Hash, h.Time.UnixNano())
	if err != nil {
		return fmt.Errorf("audit: anchor: %w", err)
	}
	return nil
}
