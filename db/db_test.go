package db_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hearth-ai/hearth/db"
)

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	d, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	steps := []string{
		`CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`,
		`ALTER TABLE things ADD COLUMN size INTEGER NOT NULL DEFAULT 0`,
	}
	if err := d.Migrate(ctx, "things", steps[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`INSERT INTO things (name) VALUES ('a')`); err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx, "things", steps); err != nil {
		t.Fatal(err)
	}
	if err := d.Migrate(ctx, "things", steps); err != nil { // idempotent
		t.Fatal(err)
	}
	var size int
	if err := d.QueryRow(`SELECT size FROM things WHERE name = 'a'`).Scan(&size); err != nil {
		t.Fatalf("after the second step: %v", err)
	}
	if v, _ := d.Version(ctx, "things"); v != 2 {
		t.Errorf("version %d; want 2", v)
	}
	// A failing step leaves the previous version and no half-applied change.
	bad := append(steps, `CREATE TABLE other (x INTEGER); CREATE TABLE things (broken)`)
	if err := d.Migrate(ctx, "things", bad); err == nil {
		t.Fatal("a broken step succeeded")
	}
	if v, _ := d.Version(ctx, "things"); v != 2 {
		t.Errorf("version after a failed step %d; want 2", v)
	}
	if err := d.QueryRow(`SELECT count(*) FROM other`).Scan(new(int)); err == nil {
		t.Error("the failed step's first statement was kept")
	}
	// An older program refuses a newer schema.
	if err := d.Migrate(ctx, "things", steps[:1]); !errors.Is(err, db.ErrNewerSchema) {
		t.Errorf("older steps on a newer schema: %v", err)
	}
	d.Close()
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("database file mode %v, %v; want 0600", st.Mode(), err)
	}
	var mode string
	d2, _ := db.Open(path)
	defer d2.Close()
	d2.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal mode %q; want wal", mode)
	}
}

func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	d, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx, "n", []string{`CREATE TABLE n (v INTEGER)`}); err != nil {
		t.Fatal(err)
	}
	// A second handle, as a second process would have.
	d2, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := d
			if i%2 == 1 {
				h = d2
			}
			for j := 0; j < 50; j++ {
				if _, err := h.Exec(`INSERT INTO n (v) VALUES (?)`, j); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var n int
	d.QueryRow(`SELECT count(*) FROM n`).Scan(&n)
	if n != 400 {
		t.Errorf("%d rows; want 400", n)
	}
}

func TestMemory(t *testing.T) {
	d, err := db.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(context.Background(), "x", []string{`CREATE TABLE x (a INTEGER)`}); err != nil {
		t.Fatal(err)
	}
}

// TestFilesPrivate: a database created in a directory others can read
// (0755, the usual default) gets no file that others can read either: not
// the database, and not the WAL or shared-memory file SQLite creates
// beside it, whatever the process's umask.
func TestFilesPrivate(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "hearth.db")
	d, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(context.Background(), "things", []string{`CREATE TABLE things (id INTEGER PRIMARY KEY)`}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`INSERT INTO things (id) VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	checkPrivate(t, dir, "hearth.db", "hearth.db-wal", "hearth.db-shm")
}

// TestFilesPrivateExisting: files an older version left readable are
// made 0600 when the database is opened.
func TestFilesPrivateExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hearth.db")
	d, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`CREATE TABLE things (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	// An empty WAL is what a clean close leaves, if any.
	if err := os.WriteFile(path+"-wal", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if d, err = db.Open(path); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(`INSERT INTO things (id) VALUES (1)`); err != nil {
		t.Fatalf("the reopened database: %v", err)
	}
	checkPrivate(t, dir, "hearth.db", "hearth.db-wal")
}

func checkPrivate(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		seen[e.Name()] = true
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %04o; want no access for group or others", e.Name(), perm)
		}
	}
	for _, name := range want {
		if !seen[name] {
			t.Errorf("%s was not created (have %v)", name, seen)
		}
	}
}

// TestOddPath: a data directory whose name holds URI characters ('#',
// '?', '%') works; it used to break the database's connection string.
func TestOddPath(t *testing.T) {
	for _, name := range []string{"a#1", "b?2", "c%41", "d e"} {
		dir := filepath.Join(t.TempDir(), name)
		d, err := db.Open(filepath.Join(dir, db.FileName))
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if _, err := d.Exec(`CREATE TABLE t (x)`); err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		d.Close()
		if _, err := os.Stat(filepath.Join(dir, db.FileName)); err != nil {
			t.Errorf("%q: the database is not where it was asked to be: %v", name, err)
		}
	}
}
