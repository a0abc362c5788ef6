package tenant

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/db"
)

// migrations are the tenant component's schema steps. Append-only: never
// edit a step that has shipped, add another.
//
// Lists (models, jurisdictions, scopes) are comma-joined: their elements
// are validated to hold no commas, and Authenticate splits them faster
// than it could decode JSON. Times are Unix nanoseconds, 0 for none.
var migrations = []string{
	`CREATE TABLE tenants (
		id             TEXT PRIMARY KEY,
		name           TEXT NOT NULL UNIQUE,
		allowed_models TEXT NOT NULL DEFAULT '',
		jurisdictions  TEXT NOT NULL DEFAULT '',
		home           TEXT NOT NULL DEFAULT '',
		capture        TEXT NOT NULL DEFAULT 'off' CHECK (capture IN ('off', 'opt-in', 'on')),
		retention_days INTEGER NOT NULL DEFAULT 0 CHECK (retention_days >= 0),
		rpm            INTEGER NOT NULL DEFAULT 0 CHECK (rpm >= 0),
		tpm            INTEGER NOT NULL DEFAULT 0 CHECK (tpm >= 0),
		monthly_tokens INTEGER NOT NULL DEFAULT 0 CHECK (monthly_tokens >= 0),
		created        INTEGER NOT NULL,
		disabled       INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE api_keys (
		id             TEXT PRIMARY KEY,
		tenant_id      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
		name           TEXT NOT NULL DEFAULT '',
		prefix         TEXT NOT NULL,
		hash           BLOB NOT NULL UNIQUE,
		scopes         TEXT NOT NULL,
		rpm            INTEGER NOT NULL DEFAULT 0 CHECK (rpm >= 0),
		tpm            INTEGER NOT NULL DEFAULT 0 CHECK (tpm >= 0),
		monthly_tokens INTEGER NOT NULL DEFAULT 0 CHECK (monthly_tokens >= 0),
		created        INTEGER NOT NULL,
		expires        INTEGER NOT NULL DEFAULT 0,
		revoked        INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX api_keys_tenant ON api_keys (tenant_id);`,
	// 2: the policy's retire_erased_adapters.
	`ALTER TABLE tenants ADD COLUMN retire_erased_adapters INTEGER NOT NULL DEFAULT 0;`,
}

// Store holds tenants and keys. It is safe for concurrent use, and several
// Stores (in several processes) may share one database.
type Store struct {
	d    *db.DB
	now  func() time.Time
	auth *sql.Stmt // Authenticate's lookup, prepared once
}

// Open applies the tenant migrations to d and returns a Store. now is the
// clock for creation, expiry and revocation times (nil: time.Now).
func Open(ctx context.Context, d *db.DB, now func() time.Time) (*Store, error) {
	if d == nil {
		return nil, fmt.Errorf("tenant: open: nil database")
	}
	if now == nil {
		now = time.Now
	}
	if err := d.Migrate(ctx, "tenant", migrations); err != nil {
		return nil, fmt.Errorf("tenant: open: %w", err)
	}
	auth, err := d.PrepareContext(ctx, authQuery)
	if err != nil {
		return nil, fmt.Errorf("tenant: open: %w", err)
	}
	return &Store{d: d, now: now, auth: auth}, nil
}

// Close releases the Store's prepared statements; the database stays open.
func (s *Store) Close() error { return s.auth.Close() }

const tenantCols = `id, name, allowed_models, jurisdictions, home, capture, retention_days, rpm, tpm, monthly_tokens, created, disabled, retire_erased_adapters`

// Validate checks a tenant's name, policy and limits, and returns it with
// its policy in canonical form.
func (t Tenant) Validate() (Tenant, error) {
	if t.Name == ReservedName {
		return t, invalid("tenant name %q is reserved: it names the requests a node with no tenants serves without a key; choose another name", t.Name)
	}
	return t.validate()
}

// validate is Validate without the reserved name.
func (t Tenant) validate() (Tenant, error) {
	if err := ValidateName("tenant", t.Name); err != nil {
		return t, err
	}
	p, err := t.Policy.Validate()
	if err != nil {
		return t, err
	}
	if err := t.Limits.Validate(); err != nil {
		return t, err
	}
	t.Policy = p
	return t, nil
}

// CreateTenant validates t and stores it with a new ID and the current
// time; t.ID and t.Created are ignored. A taken name gives ErrExists.
// hooks run before the insert commits (see CommitHook).
func (s *Store) CreateTenant(ctx context.Context, t Tenant, hooks ...CommitHook) (Tenant, error) {
	t, err := t.Validate()
	if err != nil {
		return Tenant{}, err
	}
	t.ID = newID(tenantIDPrefix)
	t.Created = s.now().UTC()
	insert := func(ctx context.Context, c execer) error {
		_, err := c.ExecContext(ctx, `INSERT INTO tenants (`+tenantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, join(t.Policy.AllowedModels), join(t.Policy.Jurisdictions), t.Policy.Home, t.Policy.Capture,
			t.Policy.RetentionDays, t.Limits.RequestsPerMinute, t.Limits.TokensPerMinute, t.Limits.MonthlyTokens,
			nanos(t.Created), t.Disabled, t.Policy.RetireErasedAdapters)
		if isUnique(err) {
			return fmt.Errorf("%w: tenant %q", ErrExists, t.Name)
		}
		if err != nil {
			return fmt.Errorf("tenant: create %s: %w", t.Name, err)
		}
		return nil
	}
	err = s.hooked(ctx, hooks, insert, func() Change { return Change{Tenant: t} })
	if err != nil {
		return Tenant{}, err
	}
	return t, nil
}

// GetTenant returns a tenant by name or by ID ("tnt_...").
func (s *Store) GetTenant(ctx context.Context, nameOrID string) (Tenant, error) {
	return getTenant(ctx, s.d, nameOrID)
}

// Resolve is GetTenant for what outlives a tenant (its usage, its audit
// records): a deleted tenant can still be named by its ID, and for an ID
// no tenant has any more Resolve returns a Tenant with only that ID, and
// gone true.
func (s *Store) Resolve(ctx context.Context, nameOrID string) (t Tenant, gone bool, err error) {
	t, err = s.GetTenant(ctx, nameOrID)
	if errors.Is(err, ErrNotFound) && strings.HasPrefix(nameOrID, tenantIDPrefix) {
		return Tenant{ID: nameOrID}, true, nil
	}
	return t, false, err
}

// querier is what both *sql.DB and *sql.Conn offer.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// execer is what both *sql.DB and *sql.Conn offer for writes.
type execer interface {
	querier
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func getTenant(ctx context.Context, q querier, nameOrID string) (Tenant, error) {
	// No name or ID is this long; a client's megabyte of one is not
	// worth a query, nor repeating in the error.
	if len(nameOrID) > maxNameLen {
		return Tenant{}, fmt.Errorf("%w: no tenant %q... (%d bytes)", ErrNotFound, nameOrID[:maxNameLen], len(nameOrID))
	}
	col := "name"
	if strings.HasPrefix(nameOrID, tenantIDPrefix) {
		col = "id"
	}
	t, err := scanTenant(q.QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE `+col+` = ?`, nameOrID))
	if errors.Is(err, sql.ErrNoRows) {
		return Tenant{}, fmt.Errorf("%w: no tenant %q", ErrNotFound, nameOrID)
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("tenant: get %s: %w", nameOrID, err)
	}
	return t, nil
}

// ListTenants returns every tenant, by name.
func (s *Store) ListTenants(ctx context.Context) ([]Tenant, error) {
	rows, err := s.d.QueryContext(ctx, `SELECT `+tenantCols+` FROM tenants ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("tenant: list: %w", err)
	}
	defer rows.Close()
	var out []Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, fmt.Errorf("tenant: list: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tenant: list: %w", err)
	}
	return out, nil
}

// CountTenants returns how many tenants exist, disabled ones included: a
// node with any tenant has authentication configured.
func (s *Store) CountTenants(ctx context.Context) (int, error) {
	var n int
	if err := s.d.QueryRowContext(ctx, `SELECT count(*) FROM tenants`).Scan(&n); err != nil {
		return 0, fmt.Errorf("tenant: count: %w", err)
	}
	return n, nil
}

// UpdateTenant applies fn to the tenant named nameOrID and stores the
// result, atomically: no other writer changes the tenant in between. fn
// may change the name, policy, limits and Disabled; ID and Created are
// kept. If fn fails or the result is invalid, nothing changes. hooks run
// before the update commits (see CommitHook).
func (s *Store) UpdateTenant(ctx context.Context, nameOrID string, fn func(*Tenant) error, hooks ...CommitHook) (Tenant, error) {
	var out Tenant
	err := s.writeTx(ctx, func(c *sql.Conn) error {
		old, err := getTenant(ctx, c, nameOrID)
		if err != nil {
			return err
		}
		t := old
		t.Policy.AllowedModels = append([]string(nil), old.Policy.AllowedModels...)
		t.Policy.Jurisdictions = append([]string(nil), old.Policy.Jurisdictions...)
		if err := fn(&t); err != nil {
			return err
		}
		t.ID, t.Created = old.ID, old.Created
		validate := Tenant.Validate
		if t.Name == ReservedName && old.Name == ReservedName {
			// A tenant made before the name was reserved can still be
			// changed (or renamed away) rather than be stuck.
			validate = Tenant.validate
		}
		if t, err = validate(t); err != nil {
			return err
		}
		_, err = c.ExecContext(ctx, `UPDATE tenants SET name = ?, allowed_models = ?, jurisdictions = ?, home = ?, capture = ?,
			retention_days = ?, rpm = ?, tpm = ?, monthly_tokens = ?, disabled = ?, retire_erased_adapters = ? WHERE id = ?`,
			t.Name, join(t.Policy.AllowedModels), join(t.Policy.Jurisdictions), t.Policy.Home, t.Policy.Capture,
			t.Policy.RetentionDays, t.Limits.RequestsPerMinute, t.Limits.TokensPerMinute, t.Limits.MonthlyTokens,
			t.Disabled, t.Policy.RetireErasedAdapters, t.ID)
		if isUnique(err) {
			return fmt.Errorf("%w: tenant %q", ErrExists, t.Name)
		}
		if err != nil {
			return err
		}
		out = t
		return runHooks(ctx, hooks, Change{Tenant: t})
	})
	if err != nil {
		return Tenant{}, wrap("update "+nameOrID, err)
	}
	return out, nil
}

// DeleteTenant removes a tenant and all its keys, returning how many keys
// went with it. hooks run before the deletion commits (see CommitHook).
func (s *Store) DeleteTenant(ctx context.Context, nameOrID string, hooks ...CommitHook) (keys int, err error) {
	err = s.writeTx(ctx, func(c *sql.Conn) error {
		t, err := getTenant(ctx, c, nameOrID)
		if err != nil {
			return err
		}
		// The foreign key cascades too; deleting explicitly counts the
		// keys and does not depend on the connection's foreign_keys pragma.
		res, err := c.ExecContext(ctx, `DELETE FROM api_keys WHERE tenant_id = ?`, t.ID)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		keys = int(n)
		if _, err = c.ExecContext(ctx, `DELETE FROM tenants WHERE id = ?`, t.ID); err != nil {
			return err
		}
		return runHooks(ctx, hooks, Change{Tenant: t, KeysDeleted: keys})
	})
	if err != nil {
		return 0, wrap("delete "+nameOrID, err)
	}
	return keys, nil
}

// writeTx runs fn in a transaction that takes the write lock up front
// (BEGIN IMMEDIATE): a read-then-write transaction that started as a
// reader could otherwise fail with SQLITE_BUSY when another process wrote
// in between, where busy_timeout does not help.
func (s *Store) writeTx(ctx context.Context, fn func(*sql.Conn) error) error {
	c, err := s.d.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		return err
	}
	if err := fn(c); err != nil {
		if _, rerr := c.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
			// Never hand a connection inside a transaction back to the pool.
			c.Raw(func(any) error { return driver.ErrBadConn })
		}
		return err
	}
	if _, err := c.ExecContext(context.WithoutCancel(ctx), `COMMIT`); err != nil {
		c.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
		c.Raw(func(any) error { return driver.ErrBadConn })
		return err
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanTenant(r scanner) (Tenant, error) {
	var t Tenant
	var models, zones string
	var created int64
	err := r.Scan(&t.ID, &t.Name, &models, &zones, &t.Policy.Home, &t.Policy.Capture, &t.Policy.RetentionDays,
		&t.Limits.RequestsPerMinute, &t.Limits.TokensPerMinute, &t.Limits.MonthlyTokens, &created, &t.Disabled,
		&t.Policy.RetireErasedAdapters)
	t.Policy.AllowedModels = split(models)
	t.Policy.Jurisdictions = split(zones)
	t.Created = fromNanos(created)
	return t, err
}

// wrap adds context to database errors; the package's own errors already
// say what failed and pass through unchanged.
func wrap(op string, err error) error {
	for _, e := range []error{ErrNotFound, ErrExists, ErrInvalid, ErrUnauthenticated} {
		if errors.Is(err, e) {
			return err
		}
	}
	return fmt.Errorf("tenant: %s: %w", op, err)
}

// isUnique reports a UNIQUE or PRIMARY KEY constraint failure.
func isUnique(err error) bool {
	if err == nil {
		return false
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		// SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
		return coded.Code() == 2067 || coded.Code() == 1555
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func join(s []string) string { return strings.Join(s, ",") }

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
