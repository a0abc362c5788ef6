package testfixture

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/identity"
)

// Certify gives the node whose data directory is dir (its identity made
// there if it has none) a fleet certificate for a day, signed by the
// operator key op, for site "site-j" in jurisdiction j, where `hearth
// fleet certify` writes it. It returns the site.
func Certify(t testing.TB, op ed25519.PrivateKey, dir, j string) string {
	t.Helper()
	id, err := identity.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	site := "site-" + strings.ToLower(j)
	cert, err := fabric.Certify(op, id.Public, site, j, 24*time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := fabric.WriteCert(fabric.CertPath(dir), cert); err != nil {
		t.Fatal(err)
	}
	return site
}
