package tenant

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// authQuery finds a key and its tenant by the secret's hash: one indexed
// lookup, no cache, so what Authenticate sees is what is committed.
const authQuery = `SELECT k.hash, k.id, k.tenant_id, k.name, k.prefix, k.scopes, k.rpm, k.tpm, k.monthly_tokens, k.created, k.expires, k.revoked,
	t.name, t.allowed_models, t.jurisdictions, t.home, t.capture, t.retention_days, t.rpm, t.tpm, t.monthly_tokens, t.created, t.disabled,
	t.retire_erased_adapters
	FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.hash = ?`

// Authenticate resolves a bearer token to its key and tenant. Every error
// matches ErrUnauthenticated and says why without repeating the token (its
// Error for the node's log; PublicMessage for the caller, see
// autherror.go):
// malformed tokens are refused before touching the database; a revoked
// key also matches ErrRevoked, an expired one ErrExpired, a key of a
// disabled tenant ErrDisabled.
func (s *Store) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if err := checkSecret(secret); err != nil {
		return nil, err
	}
	want := hashSecret(secret)
	var (
		p                     Principal
		k                     = &p.Key
		t                     = &p.Tenant
		hash                  []byte
		scopes, models, zones string
		kc, ke, kr, tc        int64
	)
	err := s.auth.QueryRowContext(ctx, want).Scan(&hash, &k.ID, &k.TenantID, &k.Name, &k.Prefix, &scopes,
		&k.Limits.RequestsPerMinute, &k.Limits.TokensPerMinute, &k.Limits.MonthlyTokens, &kc, &ke, &kr,
		&t.Name, &models, &zones, &t.Policy.Home, &t.Policy.Capture, &t.Policy.RetentionDays,
		&t.Limits.RequestsPerMinute, &t.Limits.TokensPerMinute, &t.Limits.MonthlyTokens, &tc, &t.Disabled, &t.Policy.RetireErasedAdapters)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, refused(publicInvalid, nil, "unknown API key")
	}
	if err != nil {
		return nil, fmt.Errorf("tenant: authenticate: %w", err)
	}
	// The index found the row by equality already; comparing again in
	// constant time costs nothing and keeps any future change of the
	// lookup (a prefix index, a cache) from leaking timing.
	if subtle.ConstantTimeCompare(hash, want) != 1 {
		return nil, refused(publicInvalid, nil, "unknown API key")
	}
	t.ID = k.TenantID
	k.Scopes = splitScopes(scopes)
	k.Created, k.Expires, k.Revoked = fromNanos(kc), fromNanos(ke), fromNanos(kr)
	t.Policy.AllowedModels, t.Policy.Jurisdictions = split(models), split(zones)
	t.Created = fromNanos(tc)
	switch k.Status(s.now()) {
	case "revoked":
		return nil, refused(publicRevoked, ErrRevoked, "key %s (%s...) of tenant %s was revoked at %s",
			k.ID, k.Prefix, t.Name, k.Revoked.Format(time.RFC3339))
	case "expired":
		return nil, refused(publicRevoked, ErrExpired, "key %s (%s...) of tenant %s expired at %s",
			k.ID, k.Prefix, t.Name, k.Expires.Format(time.RFC3339))
	}
	if t.Disabled {
		return nil, refused(publicDisabled, ErrDisabled, "tenant %s is disabled", t.Name)
	}
	return &p, nil
}
