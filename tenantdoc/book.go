package tenantdoc

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/tenant"
)

// Book keeps the newest verified document of each tenant and applies
// documents to the node's tenant store.
type Book struct {
	d        *db.DB
	tenants  *tenant.Store
	operator ed25519.PublicKey
}

var steps = []string{
	`CREATE TABLE tenant_doc (
		name   TEXT PRIMARY KEY,
		issued INTEGER NOT NULL,
		doc    BLOB NOT NULL
	);`,
}

// Open migrates the book's table. Documents are verified with operator.
func Open(ctx context.Context, d *db.DB, tenants *tenant.Store, operator ed25519.PublicKey) (*Book, error) {
	if len(operator) != ed25519.PublicKeySize {
		return nil, errors.New("tenantdoc: open: an operator key is required to verify documents")
	}
	if err := d.Migrate(ctx, "tenant_doc", steps); err != nil {
		return nil, fmt.Errorf("tenantdoc: open: %w", err)
	}
	return &Book{d: d, tenants: tenants, operator: operator}, nil
}

// Apply verifies a document and, if it is newer than the one held for its
// tenant, makes the tenant store agree with it (creating, updating or
// deleting the tenant; keys are left alone, except that deleting a
// tenant deletes its keys) and keeps it. It reports whether it applied
// the document; an older or equal one is not an error, just not news.
// hooks run inside the tenant store's change (see tenant.CommitHook): one
// that fails, such as an audit record that cannot be written, leaves the
// tenant and the book as they were, and the document is applied when it
// comes again.
func (b *Book) Apply(ctx context.Context, data []byte, hooks ...tenant.CommitHook) (applied bool, d *Doc, err error) {
	if d, err = Parse(data); err != nil {
		return false, nil, err
	}
	applied, err = b.apply(ctx, data, d, hooks)
	return applied, d, err
}

// apply is Apply of d, parsed from data.
func (b *Book) apply(ctx context.Context, data []byte, d *Doc, hooks []tenant.CommitHook) (applied bool, err error) {
	if err := d.Verify(b.operator); err != nil {
		return false, err
	}
	var held int64
	err = b.d.QueryRowContext(ctx, `SELECT issued FROM tenant_doc WHERE name = ?`, d.Tenant).Scan(&held)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return false, fmt.Errorf("tenantdoc: apply %s: %w", d.Tenant, err)
	case d.Issued.UnixNano() <= held:
		return false, nil
	}
	if err := b.applyTenant(ctx, d, hooks); err != nil {
		return false, fmt.Errorf("tenantdoc: apply %s: %w", d.Tenant, err)
	}
	// Kept after the tenant store has it: a crash in between leaves the
	// document to be applied again, which changes nothing twice.
	if _, err := b.d.ExecContext(ctx, `INSERT INTO tenant_doc (name, issued, doc) VALUES (?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET issued = excluded.issued, doc = excluded.doc`,
		d.Tenant, d.Issued.UnixNano(), data); err != nil {
		return false, fmt.Errorf("tenantdoc: keep %s: %w", d.Tenant, err)
	}
	return true, nil
}

// applyTenant makes the tenant store's tenant d.Tenant what d says.
func (b *Book) applyTenant(ctx context.Context, d *Doc, hooks []tenant.CommitHook) error {
	t, err := b.tenants.GetTenant(ctx, d.Tenant)
	exists := err == nil && t.Name == d.Tenant // a name, never another tenant's id
	if err != nil && !errors.Is(err, tenant.ErrNotFound) {
		return err
	}
	switch {
	case d.Deleted && !exists:
		return nil
	case d.Deleted:
		_, err := b.tenants.DeleteTenant(ctx, t.ID, hooks...)
		return err
	case !exists:
		_, err := b.tenants.CreateTenant(ctx, tenant.Tenant{Name: d.Tenant, Policy: d.Policy, Limits: d.Limits}, hooks...)
		return err
	}
	_, err = b.tenants.UpdateTenant(ctx, t.ID, func(t *tenant.Tenant) error {
		t.Policy, t.Limits = d.Policy, d.Limits
		return nil
	}, hooks...)
	return err
}

// All returns the documents the book holds, as they were received, for
// passing on to nodes that missed them.
func (b *Book) All(ctx context.Context) ([][]byte, error) {
	rows, err := b.d.QueryContext(ctx, `SELECT doc FROM tenant_doc ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("tenantdoc: list: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("tenantdoc: list: %w", err)
		}
		out = append(out, doc)
	}
	return out, rows.Err()
}

// List returns the documents a node's database holds, parsed (they were
// verified when they were kept), by tenant name.
func List(ctx context.Context, d *db.DB) ([]Doc, error) {
	if err := d.Migrate(ctx, "tenant_doc", steps); err != nil {
		return nil, fmt.Errorf("tenantdoc: list: %w", err)
	}
	b := &Book{d: d}
	raw, err := b.All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Doc, 0, len(raw))
	for _, r := range raw {
		doc, err := Parse(r)
		if err != nil {
			return nil, err
		}
		out = append(out, *doc)
	}
	return out, nil
}
