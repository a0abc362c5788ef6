package tenantdoc

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/tenant"
)

// TestApplyHookRefuses: a document whose change a hook refuses (its audit
// record cannot be written) changes nothing, is not kept, and applies
// when it comes again.
func TestApplyHookRefuses(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	b, ts := openBook(t, pub)
	ctx := context.Background()
	doc := sign(t, priv, Doc{Tenant: "acme", Policy: tenant.Policy{Jurisdictions: []string{"KE"}}}, time.Now())
	refuse := func(context.Context, tenant.Change) error { return errors.New("the audit log cannot record") }
	if ok, _, err := b.Apply(ctx, doc, refuse); ok || err == nil {
		t.Fatalf("Apply with a refusing hook: %v %v; want an error", ok, err)
	}
	if _, err := ts.GetTenant(ctx, "acme"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("the tenant exists after a refused document: %v", err)
	}
	if all, _ := b.All(ctx); len(all) != 0 {
		t.Errorf("the book keeps %d documents after a refused one", len(all))
	}
	var seen []tenant.Change
	if ok, _, err := b.Apply(ctx, doc, func(_ context.Context, c tenant.Change) error { seen = append(seen, c); return nil }); !ok || err != nil {
		t.Fatalf("Apply again: %v %v", ok, err)
	}
	if len(seen) != 1 || seen[0].Tenant.Name != "acme" {
		t.Errorf("the hook saw %+v", seen)
	}
}
