package tenant

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// KeyOptions describe a new key.
type KeyOptions struct {
	Name    string    // optional label, validated like a tenant name
	Scopes  []Scope   // empty: inference only
	Expires time.Time // zero: never; otherwise in the future, within MaxKeyLifetime
	Limits  Limits    // the key's own limits, on top of the tenant's
}

// MaxKeyLifetime bounds a key's expiry: 100 years from its creation. A
// later expiry means "never" in all but name and would not fit the
// database's nanosecond timestamps (which end in 2262); a key that should
// never expire has no expiry.
const MaxKeyLifetime = 36500 * 24 * time.Hour // 100 years of 365 days

const keyCols = `id, tenant_id, name, prefix, scopes, rpm, tpm, monthly_tokens, created, expires, revoked`

// CreateKey makes a key for the tenant named (or with ID) tenant and
// returns its secret, which exists nowhere else afterwards: the database
// keeps only its SHA-256 hash and a display prefix. hooks run before the
// insert commits (see CommitHook).
func (s *Store) CreateKey(ctx context.Context, tenant string, o KeyOptions, hooks ...CommitHook) (secret string, k Key, err error) {
	if o.Name != "" {
		if err := ValidateName("key", o.Name); err != nil {
			return "", Key{}, err
		}
	}
	scopes := o.Scopes
	if len(scopes) == 0 {
		scopes = []Scope{ScopeInference}
	}
	if scopes, err = validateScopes(scopes); err != nil {
		return "", Key{}, err
	}
	if err := o.Limits.Validate(); err != nil {
		return "", Key{}, err
	}
	now := s.now().UTC()
	switch {
	case o.Expires.IsZero():
	case !o.Expires.After(now):
		return "", Key{}, invalid("key expiry %s is not in the future", o.Expires.UTC().Format(time.RFC3339))
	case o.Expires.Sub(now) > MaxKeyLifetime:
		return "", Key{}, invalid("key expiry %s is more than 100 years away (give no expiry for a key that never expires)",
			o.Expires.UTC().Format(time.RFC3339))
	}
	secret = newSecret()
	k = Key{
		ID:      newID(keyIDPrefix),
		Name:    o.Name,
		Prefix:  secret[len(SecretPrefix) : len(SecretPrefix)+prefixLen],
		Scopes:  scopes,
		Limits:  o.Limits,
		Created: now,
		Expires: o.Expires.UTC(),
	}
	if o.Expires.IsZero() {
		k.Expires = time.Time{}
	}
	col := "name"
	if strings.HasPrefix(tenant, tenantIDPrefix) {
		col = "id"
	}
	insert := func(ctx context.Context, q execer) error {
		// One statement: the tenant cannot vanish between lookup and insert.
		err := q.QueryRowContext(ctx, `INSERT INTO api_keys (id, tenant_id, name, prefix, hash, scopes, rpm, tpm, monthly_tokens, created, expires, revoked)
			SELECT ?, id, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0 FROM tenants WHERE `+col+` = ? RETURNING tenant_id`,
			k.ID, k.Name, k.Prefix, hashSecret(secret), JoinScopes(k.Scopes), k.Limits.RequestsPerMinute, k.Limits.TokensPerMinute,
			k.Limits.MonthlyTokens, nanos(k.Created), nanos(k.Expires), tenant).Scan(&k.TenantID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no tenant %q", ErrNotFound, tenant)
		}
		if err != nil {
			return fmt.Errorf("tenant: create key for %s: %w", tenant, err)
		}
		return nil
	}
	err = s.hooked(ctx, hooks, insert, func() Change { return Change{Key: k} })
	if err != nil {
		return "", Key{}, err
	}
	return secret, k, nil
}

// ListKeys returns a tenant's keys, revoked and expired ones included,
// oldest first.
func (s *Store) ListKeys(ctx context.Context, tenant string) ([]Key, error) {
	t, err := s.GetTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	rows, err := s.d.QueryContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE tenant_id = ? ORDER BY created, rowid`, t.ID)
	if err != nil {
		return nil, fmt.Errorf("tenant: list keys of %s: %w", tenant, err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("tenant: list keys of %s: %w", tenant, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tenant: list keys of %s: %w", tenant, err)
	}
	return out, nil
}

// GetKey returns a key's record by ID.
func (s *Store) GetKey(ctx context.Context, id string) (Key, error) {
	return getKey(ctx, s.d, id)
}

func getKey(ctx context.Context, q querier, id string) (Key, error) {
	k, err := scanKey(q.QueryRowContext(ctx, `SELECT `+keyCols+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, fmt.Errorf("%w: no key %q", ErrNotFound, id)
	}
	if err != nil {
		return Key{}, fmt.Errorf("tenant: get key %s: %w", id, err)
	}
	return k, nil
}

// RevokeKey revokes a key: from the moment it returns, Authenticate
// refuses the key in every process using the database. Revoking a revoked
// key is not an error and keeps the first revocation time. It returns the
// key as revoked. hooks run before the revocation commits, and only if
// this call revoked the key (see CommitHook).
func (s *Store) RevokeKey(ctx context.Context, id string, hooks ...CommitHook) (Key, error) {
	if len(hooks) == 0 {
		_, err := s.d.ExecContext(ctx, `UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked = 0`, nanos(s.now().UTC()), id)
		if err != nil {
			return Key{}, fmt.Errorf("tenant: revoke key %s: %w", id, err)
		}
		// No row changed: unknown (GetKey says so) or revoked already (fine).
		return s.GetKey(ctx, id)
	}
	var k Key
	err := s.writeTx(ctx, func(c *sql.Conn) error {
		res, err := c.ExecContext(ctx, `UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked = 0`, nanos(s.now().UTC()), id)
		if err != nil {
			return fmt.Errorf("tenant: revoke key %s: %w", id, err)
		}
		n, _ := res.RowsAffected()
		if k, err = getKey(ctx, c, id); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		return runHooks(ctx, hooks, Change{Key: k})
	})
	if err != nil {
		return Key{}, err
	}
	return k, nil
}

func scanKey(r scanner) (Key, error) {
	var k Key
	var scopes string
	var created, expires, revoked int64
	err := r.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &scopes, &k.Limits.RequestsPerMinute, &k.Limits.TokensPerMinute,
		&k.Limits.MonthlyTokens, &created, &expires, &revoked)
	k.Scopes = splitScopes(scopes)
	k.Created, k.Expires, k.Revoked = fromNanos(created), fromNanos(expires), fromNanos(revoked)
	return k, err
}

// JoinScopes lists scopes as the store keeps them and as audit records and
// listings show them: comma-separated, in order.
func JoinScopes(s []Scope) string {
	parts := make([]string, len(s))
	for i, sc := range s {
		parts[i] = string(sc)
	}
	return strings.Join(parts, ",")
}

func splitScopes(s string) []Scope {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := make([]Scope, len(parts))
	for i, p := range parts {
		out[i] = Scope(p)
	}
	return out
}

// AuditDetail is what an audit record of k's creation says of it: ids,
// prefix, scopes, name and expiry, never the secret. The admin API and the
// command line record the same.
func (k Key) AuditDetail() map[string]string {
	d := map[string]string{"tenant_id": k.TenantID, "key_id": k.ID, "key_prefix": k.Prefix, "scopes": JoinScopes(k.Scopes)}
	if k.Name != "" {
		d["key_name"] = k.Name
	}
	if !k.Expires.IsZero() {
		d["expires"] = k.Expires.Format(time.RFC3339)
	}
	return d
}
