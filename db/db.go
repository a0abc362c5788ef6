// Package db is a node's embedded SQL database: one SQLite file under the
// data directory (hearth.db), opened through a pure-Go driver so the binary
// needs no cgo, in WAL mode so readers never wait for the writer, with
// versioned migrations that each package owning tables applies for itself.
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database file's name inside the data directory.
const FileName = "hearth.db"

// DB is an open database. It is safe for concurrent use.
type DB struct {
	*sql.DB
	path string
	mu   sync.Mutex // serialises migrations
}

// Open opens (creating if needed) the database at path: WAL journal,
// foreign keys on, a busy timeout so concurrent processes wait for the
// write lock instead of failing at once. ":memory:" opens a private
// in-memory database (for tests).
func Open(path string) (*DB, error) {
	dsn := ":memory:"
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("db: %w", err)
		}
		if err := private(path); err != nil {
			return nil, err
		}
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "foreign_keys(ON)", "busy_timeout(10000)", "synchronous(NORMAL)"} {
			q.Add("_pragma", p)
		}
		// In a file: URI, SQLite reads %XX escapes in the path, and the
		// driver splits off its parameters at the first '?': a data
		// directory named "a#1" or "b?2" must reach SQLite as written.
		dsn = "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path) + "?" + q.Encode()
	}
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("db: open %s: %w", path, err)
	}
	if path == ":memory:" {
		// Every connection to ":memory:" is a new database: keep one.
		sqldb.SetMaxOpenConns(1)
		if _, err := sqldb.Exec("PRAGMA foreign_keys = ON"); err != nil {
			sqldb.Close()
			return nil, fmt.Errorf("db: %w", err)
		}
	}
	if err := sqldb.Ping(); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("db: open %s: %w", path, err)
	}
	d := &DB{DB: sqldb, path: path}
	if _, err := d.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT PRIMARY KEY,
		version   INTEGER NOT NULL
	)`); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("db: open %s: %w", path, err)
	}
	return d, nil
}

// companions are the files SQLite keeps beside a database: the WAL, its
// shared-memory index and, while the journal mode is being switched, a
// rollback journal. They hold the same data as the database itself.
var companions = []string{"-wal", "-shm", "-journal"}

// private makes the database file, and any companion already there, mode
// 0600 before SQLite opens them. SQLite creates a companion with the mode
// of the database file (and forces that mode past the umask), so a main
// file that is 0600 from its first byte is what keeps the WAL and the
// shared-memory file, which hold tenants, key hashes and usage, from
// ever being readable by other users. This does not depend on the
// process's umask, which a library must not change.
func private(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("db: open %s: %w", path, err)
	}
	f.Close()
	for _, p := range append([]string{path}, suffixed(path)...) {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("db: %w", err)
		}
		if st.Mode().Perm()&0o077 == 0 || runtime.GOOS == "windows" {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return fmt.Errorf("db: %s has mode %04o, readable by other users, and cannot be made 0600: %w", p, st.Mode().Perm(), err)
		}
	}
	return nil
}

func suffixed(path string) []string {
	out := make([]string, len(companions))
	for i, s := range companions {
		out[i] = path + s
	}
	return out
}

// OpenDir opens hearth.db in a data directory.
func OpenDir(dataDir string) (*DB, error) { return Open(filepath.Join(dataDir, FileName)) }

// Path returns the database file's path.
func (d *DB) Path() string { return d.path }

// ErrNewerSchema is returned when the database was migrated by a newer
// Hearth than this one.
var ErrNewerSchema = errors.New("db: database schema is newer than this program")

// Migrate brings component's tables to len(steps): it applies the steps
// after the recorded version, each in its own transaction together with
// the new version number, so a crash leaves the database at a whole step.
// Steps are append-only: never edit one that has shipped, add another.
func (d *DB) Migrate(ctx context.Context, component string, steps []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var version int
	err := d.QueryRowContext(ctx, `SELECT version FROM schema_migrations WHERE component = ?`, component).Scan(&version)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("db: migrate %s: %w", component, err)
	}
	if version > len(steps) {
		return fmt.Errorf("%w: %s is at version %d, this program knows %d", ErrNewerSchema, component, version, len(steps))
	}
	for i := version; i < len(steps); i++ {
		tx, err := d.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("db: migrate %s: %w", component, err)
		}
		if _, err := tx.ExecContext(ctx, steps[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("db: migrate %s to version %d: %w", component, i+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (component, version) VALUES (?, ?)
			ON CONFLICT(component) DO UPDATE SET version = excluded.version`, component, i+1); err != nil {
			tx.Rollback()
			return fmt.Errorf("db: migrate %s: %w", component, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("db: migrate %s: %w", component, err)
		}
	}
	return nil
}

// Version returns component's schema version (0 if never migrated).
func (d *DB) Version(ctx context.Context, component string) (int, error) {
	var v int
	err := d.QueryRowContext(ctx, `SELECT version FROM schema_migrations WHERE component = ?`, component).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}
