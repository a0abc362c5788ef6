package tenant

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/internal/testclock"
)

// newClock returns a settable clock at a fixed time, so failures reproduce.
func newClock() *testclock.Clock {
	return testclock.New(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
}

// openFile opens a Store on a database file (path "" makes a new one in a
// temporary directory) and returns it with the file's path.
func openFile(t testing.TB, path string, c *testclock.Clock) (*Store, string) {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), db.FileName)
	}
	d, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s, err := Open(context.Background(), d, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func mustTenant(t testing.TB, s *Store, tn Tenant) Tenant {
	t.Helper()
	got, err := s.CreateTenant(context.Background(), tn)
	if err != nil {
		t.Fatalf("create tenant %s: %v", tn.Name, err)
	}
	return got
}

func mustKey(t testing.TB, s *Store, tenant string, o KeyOptions) (string, Key) {
	t.Helper()
	secret, k, err := s.CreateKey(context.Background(), tenant, o)
	if err != nil {
		t.Fatalf("create key for %s: %v", tenant, err)
	}
	return secret, k
}
