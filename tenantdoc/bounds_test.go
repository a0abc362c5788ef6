package tenantdoc

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/tenant"
)

// forge signs d with op as Sign would, but without Sign's checks: a
// document another (older, or careless) signer made.
func forge(t *testing.T, op ed25519.PrivateKey, d Doc) []byte {
	t.Helper()
	d.Version = FormatVersion
	msg, err := d.signed()
	if err != nil {
		t.Fatal(err)
	}
	d.Signature = ed25519.Sign(op, msg)
	b, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPolicyBoundsInDocuments: a signed document carries the same bounds
// as the admin API and the CLI: a retention that would overflow into a
// past expiry, or lists past their bounds, are refused by Sign and, in a
// document signed without them, by every node that receives it; an issue
// time outside what the book can order is refused too.
func TestPolicyBoundsInDocuments(t *testing.T) {
	pub, op, _ := ed25519.GenerateKey(nil)
	b, ts := openBook(t, pub)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	many := make([]string, tenant.MaxAllowedModels+1)
	for i := range many {
		many[i] = fmt.Sprintf("m%d", i)
	}
	tests := []struct {
		name   string
		doc    Doc
		signed bool // Sign refuses it too
		want   string
	}{
		{"retention", Doc{Tenant: "beta", Policy: tenant.Policy{RetentionDays: 1_000_000}, Issued: t0}, true, "retention days 1000000 is more than"},
		{"retention 2^62", Doc{Tenant: "beta", Policy: tenant.Policy{RetentionDays: 1 << 62}, Issued: t0}, true, "retention days 4611686018427387904"},
		{"models", Doc{Tenant: "beta", Policy: tenant.Policy{AllowedModels: many}, Issued: t0}, true, "allowed models: 1001 listed"},
		{"issued after 2262", Doc{Tenant: "beta", Issued: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}, false, "issue time 2300-01-01T00:00:00Z is outside 1970 to 2262"},
		{"issued before 1970", Doc{Tenant: "beta", Issued: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)}, false, "is outside"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.signed {
				if _, err := Sign(op, tc.doc, t0); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Sign: %v; want ErrInvalid with %q", err, tc.want)
				}
			}
			ok, _, err := b.Apply(ctx, forge(t, op, tc.doc))
			if ok || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Apply = %v, %v; want ErrInvalid with %q", ok, err, tc.want)
			}
			if _, err := ts.GetTenant(ctx, "beta"); !errors.Is(err, tenant.ErrNotFound) {
				t.Errorf("tenant after the refused document: %v; want none", err)
			}
		})
	}
	// The bound itself is a valid document.
	if ok, _, err := b.Apply(ctx, sign(t, op, Doc{Tenant: "beta", Policy: tenant.Policy{RetentionDays: tenant.MaxRetentionDays}}, t0)); !ok || err != nil {
		t.Fatalf("retention of %d days: %v, %v", tenant.MaxRetentionDays, ok, err)
	}
}
