package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/fabric"
)

// peerBook remembers the certified nodes this node has seen, beyond the
// registry's few seconds of liveness: a node that was down when an
// erasure was made may still hold a tenant's captures, and the erasure
// must say so (and be repeated) rather than report itself complete.
type peerBook struct {
	d *db.DB
}

// The table and its migration keep the names they had in cmd/hearth, so
// a node's database is migrated once, as before.
var peerBookSteps = []string{
	`CREATE TABLE fleet_peer (
		id           TEXT PRIMARY KEY,
		jurisdiction TEXT NOT NULL,
		last_seen    INTEGER NOT NULL
	);
	CREATE INDEX fleet_peer_jurisdiction ON fleet_peer(jurisdiction, last_seen);`,
}

func openPeerBook(ctx context.Context, d *db.DB) (*peerBook, error) {
	if err := d.Migrate(ctx, "fleet_peer", peerBookSteps); err != nil {
		return nil, fmt.Errorf("peer book: %w", err)
	}
	return &peerBook{d: d}, nil
}

// note records the certified peers among ps as seen now.
func (b *peerBook) note(ctx context.Context, ps []fabric.Peer, now time.Time) error {
	for _, p := range ps {
		if !p.Certified || p.Self {
			continue
		}
		if _, err := b.d.ExecContext(ctx, `INSERT INTO fleet_peer (id, jurisdiction, last_seen) VALUES (?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET jurisdiction = excluded.jurisdiction, last_seen = excluded.last_seen`,
			p.ID, p.Jurisdiction, now.UnixMilli()); err != nil {
			return fmt.Errorf("peer book: %w", err)
		}
	}
	return nil
}

// seen returns the nodes seen since since, by id, with their
// jurisdiction; j, if not empty, keeps only that jurisdiction's.
func (b *peerBook) seen(ctx context.Context, j string, since time.Time) (map[string]string, error) {
	q, args := `SELECT id, jurisdiction FROM fleet_peer WHERE last_seen >= ?`, []any{since.UnixMilli()}
	if j != "" {
		q += ` AND jurisdiction = ?`
		args = append(args, j)
	}
	rows, err := b.d.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("peer book: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, jur string
		if err := rows.Scan(&id, &jur); err != nil {
			return nil, fmt.Errorf("peer book: %w", err)
		}
		out[id] = jur
	}
	return out, rows.Err()
}
