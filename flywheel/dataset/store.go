package dataset

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/hearth-ai/hearth/db"
)

// migrations are the dataset component's schema steps. Append-only: never
// edit a step that has shipped, add another.
//
// Every row carries its tenant id and every query names it, so one tenant
// never reads another's datasets. Times are Unix nanoseconds. An example's
// messages are its JSON array, sealed (encrypted) when the Store has a
// Sealer. response_id is the lineage: the captured interaction an example
// came from (empty for imported examples).
var migrations = []string{
	`CREATE TABLE datasets (
		tenant_id TEXT NOT NULL,
		name      TEXT NOT NULL,
		created   INTEGER NOT NULL,
		PRIMARY KEY (tenant_id, name)
	);
	CREATE TABLE dataset_versions (
		tenant_id TEXT NOT NULL,
		name      TEXT NOT NULL,
		version   INTEGER NOT NULL CHECK (version >= 1),
		created   INTEGER NOT NULL,
		origin    TEXT NOT NULL CHECK (origin IN ('build', 'import')),
		options   TEXT NOT NULL DEFAULT '',
		report    TEXT NOT NULL DEFAULT '',
		removed   INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (tenant_id, name, version),
		FOREIGN KEY (tenant_id, name) REFERENCES datasets (tenant_id, name) ON DELETE CASCADE
	);
	CREATE TABLE dataset_examples (
		tenant_id   TEXT NOT NULL,
		name        TEXT NOT NULL,
		version     INTEGER NOT NULL,
		seq         INTEGER NOT NULL,
		split       TEXT NOT NULL CHECK (split IN ('train', 'eval')),
		response_id TEXT NOT NULL DEFAULT '',
		messages    BLOB NOT NULL,
		sealed      INTEGER NOT NULL DEFAULT 0,
		chars       INTEGER NOT NULL,
		lang        TEXT NOT NULL,
		rating      INTEGER NOT NULL DEFAULT 0,
		corrected   INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (tenant_id, name, version, seq),
		FOREIGN KEY (tenant_id, name, version) REFERENCES dataset_versions (tenant_id, name, version) ON DELETE CASCADE
	);
	CREATE INDEX dataset_examples_lineage ON dataset_examples (tenant_id, response_id);`,
}

// Sealer encrypts example texts at rest under the tenant's key, so that
// crypto-shredding the tenant's captures also leaves its datasets
// unreadable. aad binds a ciphertext to its row.
type Sealer interface {
	Seal(tenantID string, plaintext, aad []byte) ([]byte, error)
	Open(tenantID string, ciphertext, aad []byte) ([]byte, error)
}

// Store keeps datasets in the node's database. It is safe for concurrent
// use, and several Stores (in several processes) may share one database.
type Store struct {
	d      *db.DB
	now    func() time.Time
	sealer Sealer
}

// Open applies the dataset migrations to d and returns a Store. now is the
// clock for creation times (nil: time.Now).
func Open(ctx context.Context, d *db.DB, now func() time.Time) (*Store, error) {
	if d == nil {
		return nil, errors.New("dataset: open: nil database")
	}
	if now == nil {
		now = time.Now
	}
	if err := d.Migrate(ctx, "dataset", migrations); err != nil {
		return nil, fmt.Errorf("dataset: open: %w", err)
	}
	return &Store{d: d, now: now}, nil
}

// SetSealer makes the Store encrypt the examples it writes from now on
// (and decrypt sealed ones it reads). Call it before use.
func (s *Store) SetSealer(x Sealer) { s.sealer = x }

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// checkNames validates a tenant id and dataset name.
func checkNames(tenantID, name string) error {
	if tenantID == "" {
		return fmt.Errorf("%w: empty tenant id", ErrInvalid)
	}
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w dataset name %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

// rowAAD binds a sealed example to its tenant, dataset, version and place.
func rowAAD(tenantID, name string, version, seq int) []byte {
	return fmt.Appendf(nil, "dataset\x00%s\x00%s\x00%d\x00%d", tenantID, name, version, seq)
}

// write stores examples as the next version of v.Name, in one transaction:
// a failure leaves nothing behind. It sets v.Version and v.Created.
func (s *Store) write(ctx context.Context, v *Version, examples []Example) error {
	var opts string
	if v.Options != nil {
		b, err := json.Marshal(v.Options)
		if err != nil {
			return err
		}
		opts = string(b)
	}
	report, err := json.Marshal(v.Report)
	if err != nil {
		return err
	}
	v.Created = s.now().UTC()
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Writing first takes the database's write lock, so the version number
	// read next cannot be taken by a concurrent writer.
	if _, err := tx.ExecContext(ctx, `INSERT INTO datasets (tenant_id, name, created) VALUES (?, ?, ?)
		ON CONFLICT DO NOTHING`, v.TenantID, v.Name, v.Created.UnixNano()); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM dataset_versions
		WHERE tenant_id = ? AND name = ?`, v.TenantID, v.Name).Scan(&v.Version); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO dataset_versions (tenant_id, name, version, created, origin, options, report)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, v.TenantID, v.Name, v.Version, v.Created.UnixNano(), v.Origin, opts, string(report)); err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO dataset_examples
		(tenant_id, name, version, seq, split, response_id, messages, sealed, chars, lang, rating, corrected)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, e := range examples {
		msgs, err := json.Marshal(e.Messages)
		if err != nil {
			return err
		}
		sealed := s.sealer != nil
		if sealed {
			if msgs, err = s.sealer.Seal(v.TenantID, msgs, rowAAD(v.TenantID, v.Name, v.Version, i)); err != nil {
				return fmt.Errorf("seal example %d: %w", i, err)
			}
		}
		if _, err := stmt.ExecContext(ctx, v.TenantID, v.Name, v.Version, i, e.Split, e.ResponseID, msgs, sealed,
			e.Chars, e.Lang, e.Rating, e.Corrected); err != nil {
			return err
		}
	}
	return tx.Commit()
}

const versionCols = `tenant_id, name, version, created, origin, options, report, removed,
	(SELECT count(*) FROM dataset_examples e WHERE e.tenant_id = v.tenant_id AND e.name = v.name AND e.version = v.version AND e.split = 'train'),
	(SELECT count(*) FROM dataset_examples e WHERE e.tenant_id = v.tenant_id AND e.name = v.name AND e.version = v.version AND e.split = 'eval')`

type scanner interface{ Scan(dest ...any) error }

func scanVersion(r scanner) (Version, error) {
	var (
		v               Version
		created         int64
		options, report string
	)
	if err := r.Scan(&v.TenantID, &v.Name, &v.Version, &created, &v.Origin, &options, &report, &v.Removed, &v.TrainCount, &v.EvalCount); err != nil {
		return v, err
	}
	v.Created = time.Unix(0, created).UTC()
	if options != "" {
		v.Options = new(Options)
		if err := json.Unmarshal([]byte(options), v.Options); err != nil {
			return v, fmt.Errorf("options of %s v%d: %w", v.Name, v.Version, err)
		}
	}
	if report != "" {
		if err := json.Unmarshal([]byte(report), &v.Report); err != nil {
			return v, fmt.Errorf("report of %s v%d: %w", v.Name, v.Version, err)
		}
	}
	return v, nil
}

// version reads one version's row; 0 means the latest.
func (s *Store) version(ctx context.Context, tenantID, name string, version int) (Version, error) {
	if err := checkNames(tenantID, name); err != nil {
		return Version{}, err
	}
	if version < 0 {
		return Version{}, fmt.Errorf("%w version %d", ErrInvalid, version)
	}
	q := `SELECT ` + versionCols + ` FROM dataset_versions v WHERE tenant_id = ? AND name = ? AND version = ?`
	args := []any{tenantID, name, version}
	if version == 0 {
		q = `SELECT ` + versionCols + ` FROM dataset_versions v WHERE tenant_id = ? AND name = ? ORDER BY version DESC LIMIT 1`
		args = args[:2]
	}
	v, err := scanVersion(s.d.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		if version == 0 {
			return v, fmt.Errorf("%w: no dataset %q", ErrNotFound, name)
		}
		return v, fmt.Errorf("%w: no version %d of dataset %q", ErrNotFound, version, name)
	}
	if err != nil {
		return v, fmt.Errorf("dataset: get %s: %w", name, err)
	}
	return v, nil
}

// examples reads a version's examples in order; split "" means all.
func (s *Store) examples(ctx context.Context, v Version, split string) ([]Example, error) {
	q := `SELECT seq, split, response_id, messages, sealed, chars, lang, rating, corrected FROM dataset_examples
		WHERE tenant_id = ? AND name = ? AND version = ?`
	args := []any{v.TenantID, v.Name, v.Version}
	if split != "" {
		q += ` AND split = ?`
		args = append(args, split)
	}
	rows, err := s.d.QueryContext(ctx, q+` ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("dataset: read %s v%d: %w", v.Name, v.Version, err)
	}
	defer rows.Close()
	var out []Example
	for rows.Next() {
		var (
			e      Example
			seq    int
			msgs   []byte
			sealed bool
		)
		if err := rows.Scan(&seq, &e.Split, &e.ResponseID, &msgs, &sealed, &e.Chars, &e.Lang, &e.Rating, &e.Corrected); err != nil {
			return nil, fmt.Errorf("dataset: read %s v%d: %w", v.Name, v.Version, err)
		}
		if sealed {
			if s.sealer == nil {
				return nil, fmt.Errorf("dataset: read %s v%d: example %d is sealed and no key is configured", v.Name, v.Version, seq)
			}
			if msgs, err = s.sealer.Open(v.TenantID, msgs, rowAAD(v.TenantID, v.Name, v.Version, seq)); err != nil {
				return nil, fmt.Errorf("dataset: read %s v%d example %d: %w", v.Name, v.Version, seq, err)
			}
		}
		if err := json.Unmarshal(msgs, &e.Messages); err != nil {
			return nil, fmt.Errorf("dataset: read %s v%d example %d: %w", v.Name, v.Version, seq, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dataset: read %s v%d: %w", v.Name, v.Version, err)
	}
	return out, nil
}

// Get returns a version of the tenant's dataset with its examples and
// lineage; version 0 means the latest. ErrNotFound if there is none.
func (s *Store) Get(ctx context.Context, tenantID, name string, version int) (*Version, error) {
	v, err := s.version(ctx, tenantID, name, version)
	if err != nil {
		return nil, err
	}
	all, err := s.examples(ctx, v, "")
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if e.Split == Eval {
			v.Eval = append(v.Eval, e)
		} else {
			v.Train = append(v.Train, e)
		}
		if e.ResponseID != "" {
			v.Lineage = append(v.Lineage, e.ResponseID)
		}
	}
	slices.Sort(v.Lineage)
	v.Lineage = slices.Compact(v.Lineage)
	return &v, nil
}

// List returns every version of every dataset of the tenant, by name and
// version, without examples.
func (s *Store) List(ctx context.Context, tenantID string) ([]Version, error) {
	if tenantID == "" {
		return nil, fmt.Errorf("%w: empty tenant id", ErrInvalid)
	}
	rows, err := s.d.QueryContext(ctx, `SELECT `+versionCols+` FROM dataset_versions v WHERE tenant_id = ? ORDER BY name, version`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("dataset: list: %w", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("dataset: list: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dataset: list: %w", err)
	}
	return out, nil
}
