package tenant

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestAuthErrorsPublic: what a refused caller may be told names no key,
// time or tenant; the error itself (for the node's log) keeps them.
func TestAuthErrorsPublic(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := openFile(t, "", c)
	mustTenant(t, s, Tenant{Name: "acme-secret-name"})
	mustTenant(t, s, Tenant{Name: "other"})
	revoked, rk := mustKey(t, s, "acme-secret-name", KeyOptions{})
	if _, err := s.RevokeKey(ctx, rk.ID); err != nil {
		t.Fatal(err)
	}
	expiring, ek := mustKey(t, s, "acme-secret-name", KeyOptions{Expires: c.Now().Add(time.Hour)})
	disabled, _ := mustKey(t, s, "other", KeyOptions{})
	if _, err := s.UpdateTenant(ctx, "other", func(t *Tenant) error { t.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	c.Add(2 * time.Hour)
	unknown := revoked[:40] + map[bool]string{true: "b", false: "a"}[revoked[40] == 'a'] + revoked[41:]

	for _, tc := range []struct {
		name, secret string
		kind         error
		public       string
		detail       []string // in Error()
	}{
		{"revoked", revoked, ErrRevoked, "API key revoked or expired", []string{rk.ID, "acme-secret-name", "revoked at 2026-"}},
		{"expired", expiring, ErrExpired, "API key revoked or expired", []string{ek.ID, "acme-secret-name", "expired at 2026-"}},
		{"disabled", disabled, ErrDisabled, "API key disabled", []string{"tenant other is disabled"}},
		{"unknown", unknown, nil, "invalid API key", []string{"unknown API key"}},
		{"malformed", "hk_short", nil, "invalid API key: malformed: 8 characters, want 55", []string{"malformed API key"}},
	} {
		_, err := s.Authenticate(ctx, tc.secret)
		if !errors.Is(err, ErrUnauthenticated) || tc.kind != nil && !errors.Is(err, tc.kind) {
			t.Errorf("%s: %v; want ErrUnauthenticated and %v", tc.name, err, tc.kind)
			continue
		}
		if got := PublicMessage(err); got != tc.public {
			t.Errorf("%s: public message %q; want %q", tc.name, got, tc.public)
		}
		for _, d := range tc.detail {
			if !strings.Contains(err.Error(), d) {
				t.Errorf("%s: the detail %q lacks %q", tc.name, err, d)
			}
		}
	}
	if got := PublicMessage(errors.New("tenant X: key key_123")); got != "invalid API key" {
		t.Errorf("PublicMessage of an unrelated error = %q; want the generic message", got)
	}
}

// TestReservedName: "local" cannot be created or taken by a rename; a
// tenant that had it before it was reserved can still be updated.
func TestReservedName(t *testing.T) {
	ctx := context.Background()
	s, _ := openFile(t, "", newClock())
	mustTenant(t, s, Tenant{Name: "acme"})
	_, err := s.UpdateTenant(ctx, "acme", func(t *Tenant) error { t.Name = ReservedName; return nil })
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"local" is reserved`) {
		t.Errorf("rename to local: %v; want ErrInvalid naming the reserved name", err)
	}
	// A tenant called local from before the reservation.
	if _, err := s.d.ExecContext(ctx, `UPDATE tenants SET name = 'local' WHERE name = 'acme'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTenant(ctx, ReservedName, func(t *Tenant) error { t.Limits.RequestsPerMinute = 5; return nil }); err != nil {
		t.Errorf("update of an old tenant named local: %v", err)
	}
	if _, err := s.UpdateTenant(ctx, ReservedName, func(t *Tenant) error { t.Name = "acme"; return nil }); err != nil {
		t.Errorf("renaming an old tenant named local away: %v", err)
	}
}
