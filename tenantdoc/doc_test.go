package tenantdoc

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/tenant"
)

func openBook(t *testing.T, op ed25519.PublicKey) (*Book, *tenant.Store) {
	t.Helper()
	d, err := db.Open(filepath.Join(t.TempDir(), db.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ts, err := tenant.Open(context.Background(), d, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(context.Background(), d, ts, op)
	if err != nil {
		t.Fatal(err)
	}
	return b, ts
}

func sign(t *testing.T, op ed25519.PrivateKey, d Doc, at time.Time) []byte {
	t.Helper()
	s, err := Sign(op, d, at)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A signed document creates the tenant, a newer one changes it, an older
// or replayed one changes nothing, a tombstone deletes it; documents keep
// API keys alone.
func TestApply(t *testing.T) {
	pub, op, _ := ed25519.GenerateKey(nil)
	b, ts := openBook(t, pub)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	v1 := sign(t, op, Doc{Tenant: "ng-health", Policy: tenant.Policy{Jurisdictions: []string{"NG"}, Home: "NG"}}, t0)
	v2 := sign(t, op, Doc{Tenant: "ng-health", Policy: tenant.Policy{Jurisdictions: []string{"NG", "KE"}, Home: "NG"},
		Limits: tenant.Limits{RequestsPerMinute: 60}}, t0.Add(time.Minute))
	gone := sign(t, op, Doc{Tenant: "ng-health", Deleted: true}, t0.Add(2*time.Minute))

	if ok, _, err := b.Apply(ctx, v1); !ok || err != nil {
		t.Fatalf("first document: applied %v, %v", ok, err)
	}
	got, err := ts.GetTenant(ctx, "ng-health")
	if err != nil || !slices.Equal(got.Policy.Jurisdictions, []string{"NG"}) {
		t.Fatalf("after v1: %+v %v", got, err)
	}
	if _, _, err := ts.CreateKey(ctx, "ng-health", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}}); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := b.Apply(ctx, v2); !ok || err != nil {
		t.Fatalf("newer document: applied %v, %v", ok, err)
	}
	if ok, _, err := b.Apply(ctx, v1); ok || err != nil {
		t.Errorf("older document: applied %v, %v; want ignored", ok, err)
	}
	if ok, _, _ := b.Apply(ctx, v2); ok {
		t.Errorf("the same document again was applied again")
	}
	got, _ = ts.GetTenant(ctx, "ng-health")
	if !slices.Equal(got.Policy.Jurisdictions, []string{"NG", "KE"}) || got.Limits.RequestsPerMinute != 60 {
		t.Errorf("after v2 and a replayed v1: %+v", got)
	}
	if keys, _ := ts.ListKeys(ctx, "ng-health"); len(keys) != 1 {
		t.Errorf("the tenant has %d keys after an update, want 1", len(keys))
	}
	held, err := b.All(ctx)
	if err != nil || len(held) != 1 || string(held[0]) != string(v2) {
		t.Errorf("the book holds %d documents (%v); want v2", len(held), err)
	}
	if ok, _, err := b.Apply(ctx, gone); !ok || err != nil {
		t.Fatalf("tombstone: %v %v", ok, err)
	}
	if _, err := ts.GetTenant(ctx, "ng-health"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("after the tombstone: %v, want not found", err)
	}
}

// Only the operator's key makes a document, and any change to a signed
// one breaks it; malformed input is an error naming the problem.
func TestRefused(t *testing.T) {
	pub, op, _ := ed25519.GenerateKey(nil)
	_, rogue, _ := ed25519.GenerateKey(nil)
	b, ts := openBook(t, pub)
	ctx := context.Background()
	now := time.Now()
	forged := sign(t, rogue, Doc{Tenant: "acme", Policy: tenant.Policy{Jurisdictions: []string{"KE"}}}, now)
	good, _ := Sign(op, Doc{Tenant: "acme", Policy: tenant.Policy{Jurisdictions: []string{"KE"}}}, now)
	widened := *good
	widened.Policy.Jurisdictions = []string{"KE", "US"}
	tampered, _ := widened.Marshal()
	for name, c := range map[string]struct {
		data []byte
		want error
	}{
		"another operator":      {forged, ErrBadSignature},
		"widened after signing": {tampered, ErrBadSignature},
		"not json":              {[]byte("{"), ErrInvalid},
		"unknown field":         {[]byte(`{"tenant":"x","admin":true}`), ErrInvalid},
		"no signature":          {[]byte(`{"version":1,"tenant":"x","issued":"2026-11-28T12:00:00Z"}`), ErrInvalid},
		"trailing data":         {append(sign(t, op, Doc{Tenant: "acme"}, now), '{'), ErrInvalid},
	} {
		if ok, _, err := b.Apply(ctx, c.data); ok || !errors.Is(err, c.want) {
			t.Errorf("%s: applied %v, err %v; want %v", name, ok, err, c.want)
		}
	}
	if _, err := ts.GetTenant(ctx, "acme"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("a refused document created the tenant: %v", err)
	}
	if _, err := Sign(op, Doc{Tenant: "bad name!"}, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("signing an invalid tenant: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	_, op, _ := ed25519.GenerateKey(nil)
	d, _ := Sign(op, Doc{Tenant: "acme", Policy: tenant.Policy{Jurisdictions: []string{"KE"}, Home: "KE"}}, time.Now())
	good, _ := d.Marshal()
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"tenant":"x","signature":"AAAA"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			return
		}
		_ = d.Verify(op.Public().(ed25519.PublicKey)) // must not panic
	})
}
