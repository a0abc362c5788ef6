package replica

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/flywheel/registry"
)

// migrations are the replica table's schema steps. Append-only: never
// edit a step that has shipped, add another.
//
// adapter_replicas holds the copies this node received of other nodes'
// adapters: the signed manifest as it arrived (where the copy came from),
// the file sealed under this node's key for the tenant, when it arrived
// and when its home last vouched for it. It is apart from the registry's
// tables, so nothing that reads the registry (listing, export, a home
// node's answers to other nodes) ever sees a copy. Times are Unix
// nanoseconds.
var migrations = []string{
	`CREATE TABLE adapter_replicas (
		tenant_id TEXT NOT NULL,
		name      TEXT NOT NULL,
		version   INTEGER NOT NULL CHECK (version >= 1),
		sha256    TEXT NOT NULL,
		manifest  BLOB NOT NULL,
		sig       BLOB NOT NULL,
		received  INTEGER NOT NULL,
		confirmed INTEGER NOT NULL,
		file      BLOB NOT NULL,
		PRIMARY KEY (tenant_id, name, version)
	);`,
}

// Replica is a copy this node holds of a tenant's adapter version.
type Replica struct {
	TenantID  string
	Manifest  Manifest  // as its home signed it: the version, content, base, home node and jurisdiction
	Received  time.Time // when it arrived
	Confirmed time.Time // when its home last vouched for it
}

// Version is the registry's view of the copy, for the serving path: the
// home node and jurisdiction are where it came from.
func (r *Replica) Version() *registry.Version {
	m := &r.Manifest
	return &registry.Version{TenantID: r.TenantID, Name: m.Name, Version: m.Version, Created: m.Created, Base: m.Base,
		Node: m.Home, Jurisdiction: m.Jurisdiction, State: registry.StateActive, Size: m.Size, SHA256: m.SHA256}
}

// replicaAAD binds a sealed copy to its tenant, name and version, apart
// from the registry's own files.
func replicaAAD(tenantID, name string, version int) []byte {
	return fmt.Appendf(nil, "adapter-replica\x00%s\x00%s\x00%d", tenantID, name, version)
}

const replicaCols = `tenant_id, manifest, received, confirmed`

func scanReplica(row interface{ Scan(...any) error }, extra ...any) (Replica, error) {
	var (
		r                   Replica
		raw                 []byte
		received, confirmed int64
	)
	if err := row.Scan(append([]any{&r.TenantID, &raw, &received, &confirmed}, extra...)...); err != nil {
		return r, err
	}
	if err := json.Unmarshal(raw, &r.Manifest); err != nil {
		return r, fmt.Errorf("replica: a stored manifest does not decode: %w", err)
	}
	r.Received, r.Confirmed = time.Unix(0, received).UTC(), time.Unix(0, confirmed).UTC()
	return r, nil
}

// get reads the copy of name@version (version 0: the newest held), with
// its sealed file when file is set; ok is false when there is none.
func (x *Replicas) get(ctx context.Context, tenantID, name string, version int, file *[]byte) (Replica, bool, error) {
	cols, extra := replicaCols, []any(nil)
	if file != nil {
		cols, extra = cols+`, file`, []any{file}
	}
	q, args := `SELECT `+cols+` FROM adapter_replicas WHERE tenant_id = ? AND name = ? AND version = ?`, []any{tenantID, name, version}
	if version == 0 {
		q, args = `SELECT `+cols+` FROM adapter_replicas WHERE tenant_id = ? AND name = ? ORDER BY version DESC LIMIT 1`, args[:2]
	}
	r, err := scanReplica(x.db.QueryRowContext(ctx, q, args...), extra...)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("replica: read %s: %w", name, err)
	}
	return r, true, nil
}

// List returns the copies this node holds of the tenant's adapters, by
// name and version.
func (x *Replicas) List(ctx context.Context, tenantID string) ([]Replica, error) {
	return x.list(ctx, `WHERE tenant_id = ? ORDER BY name, version`, tenantID)
}

func (x *Replicas) list(ctx context.Context, where string, args ...any) ([]Replica, error) {
	rows, err := x.db.QueryContext(ctx, `SELECT `+replicaCols+` FROM adapter_replicas `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("replica: list: %w", err)
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		r, err := scanReplica(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// open unseals a copy and checks it against its manifest.
func (x *Replicas) open(r *Replica, sealed []byte) ([]byte, error) {
	m := &r.Manifest
	plain, err := x.cfg.Sealer.Open(r.TenantID, sealed, replicaAAD(r.TenantID, m.Name, m.Version))
	if err != nil {
		return nil, fmt.Errorf("replica: open the copy of %s: %w", m.Ref(), err)
	}
	if sum := sha256.Sum256(plain); hex.EncodeToString(sum[:]) != m.SHA256 {
		return nil, fmt.Errorf("replica: the copy of %s does not match its manifest's sha256", m.Ref())
	}
	return plain, nil
}

// put seals plain under the tenant's key and keeps it with its signed
// manifest, once the audit log holds its arrival: when the log cannot
// record, nothing is kept.
func (x *Replicas) put(ctx context.Context, tenantID string, m *Manifest, sm *SignedManifest, plain []byte) (Replica, error) {
	if x.cfg.EnsureKey != nil {
		if err := x.cfg.EnsureKey(ctx, tenantID); err != nil {
			return Replica{}, fmt.Errorf("replica: keep %s: the tenant's key: %w", m.Ref(), err)
		}
	}
	sealed, err := x.cfg.Sealer.Seal(tenantID, plain, replicaAAD(tenantID, m.Name, m.Version))
	if err != nil {
		return Replica{}, fmt.Errorf("replica: keep %s: seal: %w", m.Ref(), err)
	}
	now := x.now().UTC()
	tx, err := x.db.BeginTx(ctx, nil)
	if err != nil {
		return Replica{}, fmt.Errorf("replica: keep %s: %w", m.Ref(), err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO adapter_replicas (tenant_id, name, version, sha256, manifest, sig, received, confirmed, file)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, tenantID, m.Name, m.Version, m.SHA256, []byte(sm.Manifest), sm.Sig, now.UnixNano(), now.UnixNano(), sealed); err != nil {
		return Replica{}, fmt.Errorf("replica: keep %s: %w", m.Ref(), err)
	}
	if err := x.appendAudit(ctx, audit.Record{Tenant: tenantID, Model: m.Base.Name, Reason: "adapter.replica.receive",
		Detail: map[string]string{"adapter": m.Ref(), "sha256": m.SHA256, "bytes": strconv.FormatInt(m.Size, 10),
			"base_digest": m.Base.Digest, "from": m.Home, "from_jurisdiction": m.Jurisdiction}}); err != nil {
		return Replica{}, fmt.Errorf("replica: keep %s: its audit record could not be made durable: %w", m.Ref(), err)
	}
	if err := tx.Commit(); err != nil {
		x.auditAfter(ctx, audit.Record{Tenant: tenantID, Model: m.Base.Name, Reason: "adapter.replica.receive.rolled_back",
			Decision: audit.DecisionError, Detail: map[string]string{"adapter": m.Ref(), "err": err.Error()}})
		return Replica{}, fmt.Errorf("replica: keep %s: %w", m.Ref(), err)
	}
	return Replica{TenantID: tenantID, Manifest: *m, Received: now, Confirmed: now}, nil
}

// confirm notes that the home vouched for the copy again now.
func (x *Replicas) confirm(ctx context.Context, r *Replica) error {
	now := x.now().UTC()
	if _, err := x.db.ExecContext(ctx, `UPDATE adapter_replicas SET confirmed = ? WHERE tenant_id = ? AND name = ? AND version = ?`,
		now.UnixNano(), r.TenantID, r.Manifest.Name, r.Manifest.Version); err != nil {
		return fmt.Errorf("replica: %s: %w", r.Manifest.Ref(), err)
	}
	r.Confirmed = now
	return nil
}

// drop deletes the copies of name@version (version 0: every version of
// the name) and records why; a drop of nothing records nothing.
func (x *Replicas) drop(ctx context.Context, tenantID, name string, version int, why error) error {
	x.latest.forget(tenantID, name)
	where, args := `tenant_id = ? AND name = ?`, []any{tenantID, name}
	ref := name
	if version > 0 {
		where, args, ref = where+` AND version = ?`, append(args, version), fmt.Sprintf("%s@%d", name, version)
	}
	rows, err := x.db.QueryContext(ctx, `DELETE FROM adapter_replicas WHERE `+where+` RETURNING version`, args...)
	if err != nil {
		return fmt.Errorf("replica: drop %s: %w", ref, err)
	}
	var gone []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("replica: drop %s: %w", ref, err)
		}
		gone = append(gone, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("replica: drop %s: %w", ref, err)
	}
	for _, v := range gone {
		x.log.Info("adapter copy dropped", "tenant", tenantID, "adapter", fmt.Sprintf("%s@%d", name, v), "why", why)
		x.auditAfter(ctx, audit.Record{Tenant: tenantID, Reason: "adapter.replica.drop",
			Detail: map[string]string{"adapter": fmt.Sprintf("%s@%d", name, v), "why": why.Error()}})
		if x.cfg.OnDrop != nil {
			x.cfg.OnDrop(tenantID, name, v)
		}
	}
	return nil
}
