// Package tenant keeps a node's tenants (the agencies or customers it
// serves, each with a data policy and limits) and their API keys, in the
// node's embedded database.
//
// Keys are shown once, when created, and stored only as their SHA-256 hash;
// Authenticate looks a bearer token up by that hash on every call, without
// a cache, so a revocation or a disabled tenant takes effect at once, also
// for another process (CLI and server) sharing the database file.
package tenant

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/store"
)

// Limits bound a tenant's or a key's use; 0 means unlimited.
type Limits struct {
	RequestsPerMinute int   `json:"requests_per_minute"`
	TokensPerMinute   int   `json:"tokens_per_minute"`
	MonthlyTokens     int64 `json:"monthly_tokens"`
}

// Capture modes: whether requests and responses may be kept (for
// feedback, evaluation or fine-tuning) beyond what the audit log holds.
const (
	CaptureOff   = "off"    // never
	CaptureOptIn = "opt-in" // only requests that ask for it
	CaptureOn    = "on"     // every request
)

// Policy is where a tenant's requests may run and what may be kept.
type Policy struct {
	// AllowedModels lists the models the tenant may use: "name" allows
	// every tag of name, "name:tag" that tag only. Empty allows all.
	AllowedModels []string `json:"allowed_models"`
	// Jurisdictions lists where requests may be processed: ISO 3166-1
	// alpha-2 codes ("KE") or operator zones ("KE-NBO", "EU"). Empty
	// allows anywhere.
	Jurisdictions []string `json:"jurisdictions"`
	// Home is where the tenant's data lives; when Jurisdictions is set it
	// must be one of them (data may not rest where it may not be
	// processed). Empty means not pinned.
	Home string `json:"home"`
	// Capture is CaptureOff, CaptureOptIn or CaptureOn; empty means off.
	Capture string `json:"capture"`
	// RetentionDays is how long captured data is kept; 0 means it is not
	// kept past the request.
	RetentionDays int `json:"retention_days"`
	// RetireErasedAdapters retires, automatically, every LoRA adapter
	// trained on a dataset version that held examples an erasure removed
	// (flywheel/registry marks them either way). Off by default: a marked
	// adapter stays usable until someone decides.
	RetireErasedAdapters bool `json:"retire_erased_adapters,omitempty"`
}

// AllowsModel reports whether the policy lets the tenant use model
// ("name" or "name:tag", any case; no tag means "latest").
func (p Policy) AllowsModel(model string) bool {
	if len(p.AllowedModels) == 0 {
		return true
	}
	full, err := store.NormalizeName(model)
	if err != nil {
		return false
	}
	name, _, _ := strings.Cut(full, ":")
	for _, a := range p.AllowedModels {
		if a == full || a == name {
			return true
		}
	}
	return false
}

// Retention is how long captured data is kept: RetentionDays as a
// duration, clamped to 0..MaxRetentionDays days. Every place that turns
// the days into time uses it, so a count Validate would refuse (a row
// written before the bound existed, a policy built in code) cannot
// overflow time.Duration into an expiry in the past.
func (p Policy) Retention() time.Duration {
	return time.Duration(min(max(p.RetentionDays, 0), MaxRetentionDays)) * 24 * time.Hour
}

// AllowsJurisdiction reports whether requests may be processed in
// jurisdiction j (exact match: a policy allowing "KE" does not by itself
// allow the zone "KE-NBO", nor the reverse).
func (p Policy) AllowsJurisdiction(j string) bool {
	return len(p.Jurisdictions) == 0 || slices.Contains(p.Jurisdictions, j)
}

// Tenant is one customer or agency served by the node.
type Tenant struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Policy   Policy    `json:"policy"`
	Limits   Limits    `json:"limits"`
	Created  time.Time `json:"created"`
	Disabled bool      `json:"disabled"`
}

// Scope is what a key may be used for.
type Scope string

// The scopes. They are independent: an admin key does not imply
// inference, nor the reverse.
const (
	ScopeInference Scope = "inference" // completions, chat, embeddings
	ScopeFeedback  Scope = "feedback"  // rating responses
	// ScopeAdmin manages tenants and keys through the admin API. It is
	// operator-wide: an admin key manages every tenant, so it belongs to
	// the node's operators, never to a tenant's users.
	ScopeAdmin Scope = "admin"
)

// Scopes lists every scope, in a stable order.
var Scopes = []Scope{ScopeInference, ScopeFeedback, ScopeAdmin}

// Key is an API key's record; the secret itself is never stored.
type Key struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
	// Prefix is the first characters of the secret after "hk_", enough to
	// recognise a key in a list without revealing it.
	Prefix  string    `json:"prefix"`
	Scopes  []Scope   `json:"scopes"`
	Limits  Limits    `json:"limits"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"` // zero: never
	Revoked time.Time `json:"revoked,omitzero"` // zero: not revoked
}

// Has reports whether the key carries scope s.
func (k Key) Has(s Scope) bool { return slices.Contains(k.Scopes, s) }

// Status says whether the key works at now: "active", "revoked" or
// "expired" (revocation first: a revoked key stays revoked after its
// expiry). Authenticate refuses a key by it.
func (k Key) Status(now time.Time) string {
	switch {
	case !k.Revoked.IsZero():
		return "revoked"
	case !k.Expires.IsZero() && !now.Before(k.Expires):
		return "expired"
	}
	return "active"
}

// Principal is who is calling: an authenticated key and its tenant.
type Principal struct {
	Tenant Tenant `json:"tenant"`
	Key    Key    `json:"key"`
}

// Has reports whether the caller's key carries scope s.
func (p *Principal) Has(s Scope) bool { return p != nil && p.Key.Has(s) }

// Errors, wrapped with details. Every error Authenticate returns matches
// ErrUnauthenticated (a 401 for the caller); revoked and expired keys and
// disabled tenants match ErrRevoked, ErrExpired or ErrDisabled as well.
var (
	ErrUnauthenticated = errors.New("tenant: unauthenticated")
	ErrRevoked         = errors.New("tenant: key revoked")
	ErrExpired         = errors.New("tenant: key expired")
	ErrDisabled        = errors.New("tenant: tenant disabled")
	ErrNotFound        = errors.New("tenant: not found")
	ErrExists          = errors.New("tenant: already exists")
	ErrInvalid         = errors.New("tenant: invalid")
)
