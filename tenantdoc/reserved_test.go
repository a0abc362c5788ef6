package tenantdoc

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestReservedTenantName: a document for tenant "local" is refused even
// with a good signature (signed by a tool that did not check the name):
// that name is the keyless tenant of a node with no tenants.
func TestReservedTenantName(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(priv, Doc{Tenant: "local"}, time.Now()); err == nil || !strings.Contains(err.Error(), `"local" is reserved`) {
		t.Errorf("Sign(local) = %v; want a refusal naming the reserved name", err)
	}
	d := Doc{Version: FormatVersion, Tenant: "local", Issued: time.Now().UTC().Truncate(time.Millisecond)}
	msg, err := d.signed()
	if err != nil {
		t.Fatal(err)
	}
	d.Signature = ed25519.Sign(priv, msg)
	if err := d.Verify(pub); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"local" is reserved`) {
		t.Errorf("Verify of a signed document for local = %v; want ErrInvalid naming the reserved name", err)
	}
}
