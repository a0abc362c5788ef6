package registry

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/tenant"
)

// checkFile reads an adapter file's header: a llama.cpp LoRA adapter
// (general.type "adapter", adapter.type "lora") with lora_a and lora_b
// tensors only. It returns the file's architecture.
func checkFile(file []byte) (arch string, err error) {
	f, err := gguf.Parse(file)
	if err != nil {
		return "", fmt.Errorf("%w adapter file: %v", ErrInvalid, err)
	}
	if typ, _ := f.String("general.type"); typ != "adapter" {
		return "", fmt.Errorf("%w adapter file: general.type is %q, want \"adapter\" (a base model is not an adapter)", ErrInvalid, typ)
	}
	if typ, _ := f.String("adapter.type"); typ != "lora" {
		return "", fmt.Errorf("%w adapter file: adapter.type is %q, want \"lora\"", ErrInvalid, typ)
	}
	if len(f.Tensors) == 0 {
		return "", fmt.Errorf("%w adapter file: no tensors", ErrInvalid)
	}
	for _, t := range f.Tensors {
		if !strings.HasSuffix(t.Name, ".lora_a") && !strings.HasSuffix(t.Name, ".lora_b") {
			return "", fmt.Errorf("%w adapter file: tensor %q is neither a .lora_a nor a .lora_b", ErrInvalid, t.Name)
		}
	}
	arch = f.Architecture()
	if arch == "" {
		return "", fmt.Errorf("%w adapter file: no general.architecture", ErrInvalid)
	}
	return arch, nil
}

// Create registers file, a llama.cpp LoRA adapter GGUF trained on tenant
// t's data, as the next version of name, and returns it. The file is
// checked (an adapter, of the base's architecture), sealed under the
// tenant's key, and committed together with its lineage only once the
// audit log holds the registration: a failed check, seal or audit leaves
// nothing registered. Off the tenant's home jurisdiction it is ErrNotHome.
func (s *Store) Create(ctx context.Context, t tenant.Tenant, name string, m Meta, file []byte) (*Version, error) {
	if err := checkNames(t.ID, name); err != nil {
		return nil, err
	}
	if !s.home(t) {
		return nil, fmt.Errorf("%w: tenant %s's data lives in %s and this node is in %s; an adapter trained on it is its data too, so it is registered only on a node in %s",
			ErrNotHome, t.Name, t.Policy.Home, orNone(s.cfg.Jurisdiction), t.Policy.Home)
	}
	if s.cfg.Sealer == nil {
		return nil, errors.New("registry: create: no sealer: an adapter is its tenant's data and is kept only sealed under the tenant's key")
	}
	if err := checkDigest(m.Base.Digest); err != nil {
		return nil, err
	}
	arch, err := checkFile(file)
	if err != nil {
		return nil, err
	}
	if m.Base.Arch == "" {
		m.Base.Arch = arch
	} else if m.Base.Arch != arch {
		return nil, fmt.Errorf("%w: the adapter file is for a %s model, its base %s is %s", ErrBaseMismatch, arch, m.Base.Name, m.Base.Arch)
	}
	for what, raw := range map[string]json.RawMessage{"hyper-parameters": m.Hyper, "metrics": m.Metrics} {
		if len(raw) > 0 && !json.Valid(raw) {
			return nil, fmt.Errorf("%w %s: not JSON", ErrInvalid, what)
		}
	}
	v := &Version{TenantID: t.ID, Name: name, Base: m.Base, Dataset: m.Dataset, Hyper: m.Hyper, Metrics: m.Metrics,
		Node: s.cfg.Node, Jurisdiction: s.cfg.Jurisdiction, State: StateActive, Size: int64(len(file))}
	lineage, err := s.lineage(ctx, t.ID, v, m.Lineage)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(file)
	v.SHA256 = hex.EncodeToString(sum[:])
	if s.cfg.EnsureKey != nil {
		// Outside the write transaction: creating a key writes too.
		if err := s.cfg.EnsureKey(ctx, t.ID); err != nil {
			return nil, fmt.Errorf("registry: create %s: the tenant's key: %w", name, err)
		}
	}
	v.Created = s.now().UTC()
	if v.ErasedData {
		v.ErasedAt = v.Created
		if t.Policy.RetireErasedAdapters {
			v.State, v.RetiredAt = StateRetired, v.Created
		}
	}
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("registry: create %s: %w", name, err)
	}
	defer tx.Rollback()
	// Writing first takes the database's write lock, so the number read
	// back cannot be taken by a concurrent writer.
	if err := tx.QueryRowContext(ctx, `INSERT INTO adapter_names (tenant_id, name, last) VALUES (?, ?, 1)
		ON CONFLICT (tenant_id, name) DO UPDATE SET last = last + 1 RETURNING last`, t.ID, name).Scan(&v.Version); err != nil {
		return nil, fmt.Errorf("registry: create %s: %w", name, err)
	}
	sealed, err := s.cfg.Sealer.Seal(t.ID, file, fileAAD(t.ID, name, v.Version))
	if err != nil {
		return nil, fmt.Errorf("registry: create %s: seal: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO adapter_versions (tenant_id, name, version, created, base_name, base_digest, base_arch,
		dataset_name, dataset_version, dataset_hash, hyper, metrics, node, jurisdiction, state, retired, erased, size, sha256, file)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, name, v.Version, v.Created.UnixNano(), v.Base.Name, strings.ToLower(v.Base.Digest), v.Base.Arch,
		v.Dataset.Name, v.Dataset.Version, v.Dataset.Hash, string(v.Hyper), string(v.Metrics), v.Node, v.Jurisdiction,
		v.State, nanos(v.RetiredAt), nanos(v.ErasedAt), v.Size, v.SHA256, sealed); err != nil {
		return nil, fmt.Errorf("registry: create %s: %w", name, err)
	}
	for _, id := range lineage {
		if _, err := tx.ExecContext(ctx, `INSERT INTO adapter_lineage (tenant_id, name, version, response_id) VALUES (?, ?, ?, ?)`,
			t.ID, name, v.Version, id); err != nil {
			return nil, fmt.Errorf("registry: create %s: %w", name, err)
		}
	}
	r := audit.Record{Tenant: t.ID, Model: v.Base.Name, Reason: "adapter.create", Detail: map[string]string{
		"adapter": v.Ref(), "sha256": v.SHA256, "bytes": strconv.FormatInt(v.Size, 10),
		"base_digest": v.Base.Digest, "base_arch": v.Base.Arch,
		"dataset": v.Dataset.Name, "dataset_version": strconv.Itoa(v.Dataset.Version), "dataset_hash": v.Dataset.Hash,
		"erased_data": strconv.FormatBool(v.ErasedData)}}
	if err := s.commitAudited(ctx, tx, r); err != nil {
		return nil, fmt.Errorf("registry: create %s: %w", name, err)
	}
	return v, nil
}

// lineage fills v's dataset hash (and marks it erased if the dataset lost
// examples since training began) and returns the response ids to record.
func (s *Store) lineage(ctx context.Context, tenantID string, v *Version, given []string) ([]string, error) {
	ids := slices.Clone(given)
	if v.Dataset.Name != "" && s.cfg.Datasets != nil {
		dv, err := s.cfg.Datasets.Get(ctx, tenantID, v.Dataset.Name, v.Dataset.Version)
		if err != nil {
			return nil, fmt.Errorf("registry: the adapter's dataset: %w", err)
		}
		v.Dataset.Version = dv.Version
		hash := dv.ContentHash()
		if v.Dataset.Hash == "" {
			v.Dataset.Hash = hash
		} else if !strings.EqualFold(v.Dataset.Hash, hash) {
			v.ErasedData = true
		}
		if len(ids) == 0 {
			ids = dv.Lineage
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > 0 && ids[0] == "" {
		ids = ids[1:] // imported examples have no lineage
	}
	return ids, nil
}

// commitAudited commits tx only once its record r is durable: when the
// log cannot record, the change is rolled back and the error returned
// (wrapping audit.ErrUnavailable). If the commit itself fails after the
// record was written, a second record says it was rolled back.
func (s *Store) commitAudited(ctx context.Context, tx *sql.Tx, r audit.Record) error {
	if err := s.appendAudit(ctx, r); err != nil {
		tx.Rollback()
		return fmt.Errorf("its audit record could not be made durable: %w", err)
	}
	if err := tx.Commit(); err != nil {
		undo := r
		undo.Reason, undo.Decision = r.Reason+".rolled_back", audit.DecisionError
		s.auditAfter(ctx, undo)
		return err
	}
	return nil
}

const versionCols = `tenant_id, name, version, created, base_name, base_digest, base_arch, dataset_name, dataset_version, dataset_hash,
	hyper, metrics, node, jurisdiction, state, retired, erased, size, sha256`

type scanner interface{ Scan(dest ...any) error }

func scanVersion(r scanner, extra ...any) (Version, error) {
	var (
		v                       Version
		created, retired, erase int64
		hyper, metrics          string
	)
	dest := append([]any{&v.TenantID, &v.Name, &v.Version, &created, &v.Base.Name, &v.Base.Digest, &v.Base.Arch,
		&v.Dataset.Name, &v.Dataset.Version, &v.Dataset.Hash, &hyper, &metrics, &v.Node, &v.Jurisdiction, &v.State,
		&retired, &erase, &v.Size, &v.SHA256}, extra...)
	if err := r.Scan(dest...); err != nil {
		return v, err
	}
	v.Created, v.RetiredAt, v.ErasedAt = fromNanos(created), fromNanos(retired), fromNanos(erase)
	v.ErasedData = erase != 0
	if hyper != "" {
		v.Hyper = json.RawMessage(hyper)
	}
	if metrics != "" {
		v.Metrics = json.RawMessage(metrics)
	}
	return v, nil
}

// get reads one version's row (with its sealed file if file is set);
// version 0 means the latest that is not retired.
func (s *Store) get(ctx context.Context, tenantID, name string, version int, file *[]byte) (Version, error) {
	if err := checkNames(tenantID, name); err != nil {
		return Version{}, err
	}
	if version < 0 {
		return Version{}, fmt.Errorf("%w version %d", ErrInvalid, version)
	}
	cols := versionCols
	var extra []any
	if file != nil {
		cols += `, file`
		extra = append(extra, file)
	}
	q := `SELECT ` + cols + ` FROM adapter_versions WHERE tenant_id = ? AND name = ? AND version = ?`
	args := []any{tenantID, name, version}
	if version == 0 {
		q = `SELECT ` + cols + ` FROM adapter_versions WHERE tenant_id = ? AND name = ? AND state = 'active' ORDER BY version DESC LIMIT 1`
		args = args[:2]
	}
	v, err := scanVersion(s.d.QueryRowContext(ctx, q, args...), extra...)
	if errors.Is(err, sql.ErrNoRows) {
		if version != 0 {
			return v, fmt.Errorf("%w: no version %d of adapter %q", ErrNotFound, version, name)
		}
		var n int
		if s.d.QueryRowContext(ctx, `SELECT count(*) FROM adapter_versions WHERE tenant_id = ? AND name = ?`, tenantID, name).Scan(&n); n > 0 {
			return v, fmt.Errorf("%w: every version of adapter %q is retired; name one as %s@VERSION", ErrNotFound, name, name)
		}
		return v, fmt.Errorf("%w: no adapter %q", ErrNotFound, name)
	}
	if err != nil {
		return v, fmt.Errorf("registry: get %s: %w", name, err)
	}
	return v, nil
}

// Get returns a version of the tenant's adapter, without its file;
// version 0 means the latest that is not retired.
func (s *Store) Get(ctx context.Context, tenantID, name string, version int) (*Version, error) {
	v, err := s.get(ctx, tenantID, name, version, nil)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// List returns every version of every adapter of the tenant, by name and
// version.
func (s *Store) List(ctx context.Context, tenantID string) ([]Version, error) {
	if tenantID == "" {
		return nil, fmt.Errorf("%w: empty tenant id", ErrInvalid)
	}
	rows, err := s.d.QueryContext(ctx, `SELECT `+versionCols+` FROM adapter_versions WHERE tenant_id = ? ORDER BY name, version`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("registry: list: %w", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, fmt.Errorf("registry: list: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registry: list: %w", err)
	}
	return out, nil
}

// Open returns a version's plain GGUF, unsealed, with the version (0: the
// latest that is not retired). After the tenant's key was shredded the
// error says the file is unreadable.
func (s *Store) Open(ctx context.Context, tenantID, name string, version int) ([]byte, *Version, error) {
	var sealed []byte
	v, err := s.get(ctx, tenantID, name, version, &sealed)
	if err != nil {
		return nil, nil, err
	}
	if s.cfg.Sealer == nil {
		return nil, nil, fmt.Errorf("registry: open %s: the file is sealed and no key is configured", v.Ref())
	}
	plain, err := s.cfg.Sealer.Open(tenantID, sealed, fileAAD(tenantID, v.Name, v.Version))
	if err != nil {
		return nil, nil, fmt.Errorf("registry: open %s: %w", v.Ref(), err)
	}
	if sum := sha256.Sum256(plain); hex.EncodeToString(sum[:]) != v.SHA256 {
		return nil, nil, fmt.Errorf("registry: open %s: the file's sha256 is not the one registered", v.Ref())
	}
	return plain, &v, nil
}

// TempFile writes a version's plain GGUF to a new file in dir (""
// meaning os.TempDir()), readable by its owner only, for loaders that take
// a path; the caller removes it when done.
func (s *Store) TempFile(ctx context.Context, tenantID, name string, version int, dir string) (string, *Version, error) {
	plain, v, err := s.Open(ctx, tenantID, name, version)
	if err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp(dir, "hearth-adapter-*.gguf") // mode 0600
	if err != nil {
		return "", nil, fmt.Errorf("registry: %s: %w", v.Ref(), err)
	}
	_, err = f.Write(plain)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", nil, fmt.Errorf("registry: %s: %w", v.Ref(), err)
	}
	return f.Name(), v, nil
}

// Export writes a version's plain GGUF to w, for use elsewhere, once the
// audit log holds the export: when it cannot record, nothing is written.
func (s *Store) Export(ctx context.Context, tenantID, name string, version int, w io.Writer) (*Version, error) {
	plain, v, err := s.Open(ctx, tenantID, name, version)
	if err != nil {
		return nil, err
	}
	if err := s.appendAudit(ctx, audit.Record{Tenant: tenantID, Model: v.Base.Name, Reason: "adapter.export",
		Detail: map[string]string{"adapter": v.Ref(), "sha256": v.SHA256, "bytes": strconv.FormatInt(v.Size, 10)}}); err != nil {
		return nil, fmt.Errorf("registry: export %s: its audit record could not be made durable: %w", v.Ref(), err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("registry: export %s: %w", v.Ref(), err)
	}
	return v, nil
}

// Retire marks a version (version 0: every version of the name) retired:
// kept, listed, no longer the latest, and tells Config.OnRetire. Retiring
// a retired version is not an error (and tells OnRetire again).
func (s *Store) Retire(ctx context.Context, tenantID, name string, version int) error {
	return s.change(ctx, tenantID, name, version, "adapter.retire", func(tx *sql.Tx, where string, args []any) (int64, error) {
		res, err := tx.ExecContext(ctx, `UPDATE adapter_versions SET state = 'retired', retired = ? WHERE state = 'active' AND `+where,
			append([]any{s.now().UnixNano()}, args...)...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
}

// Delete removes a version (version 0: every version of the name) with
// its sealed file and lineage, once the audit log holds the deletion,
// and tells Config.OnRetire.
func (s *Store) Delete(ctx context.Context, tenantID, name string, version int) error {
	return s.change(ctx, tenantID, name, version, "adapter.delete", func(tx *sql.Tx, where string, args []any) (int64, error) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM adapter_lineage WHERE `+where, args...); err != nil {
			return 0, err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM adapter_versions WHERE `+where, args...)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	})
}

// change runs an audited change of one version (or, version 0, of every
// version of the name) in a transaction: do gets the rows' condition.
func (s *Store) change(ctx context.Context, tenantID, name string, version int, reason string,
	do func(tx *sql.Tx, where string, args []any) (int64, error)) error {
	if err := checkNames(tenantID, name); err != nil {
		return err
	}
	if version < 0 {
		return fmt.Errorf("%w version %d", ErrInvalid, version)
	}
	ref, where, args := name, `tenant_id = ? AND name = ?`, []any{tenantID, name}
	if version > 0 {
		ref, where, args = fmt.Sprintf("%s@%d", name, version), where+` AND version = ?`, append(args, version)
	}
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("registry: %s %s: %w", reason, ref, err)
	}
	defer tx.Rollback()
	// Writing first takes the write lock, so that the count and the
	// change are one step: a transaction that read first could not take
	// it once another writer (a rollout's gate loop) had written meanwhile
	// (SQLITE_BUSY, where busy_timeout does not wait).
	if _, err := tx.ExecContext(ctx, `UPDATE adapter_versions SET state = state WHERE 0`); err != nil {
		return fmt.Errorf("registry: %s %s: %w", reason, ref, err)
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM adapter_versions WHERE `+where, args...).Scan(&n); err != nil {
		return fmt.Errorf("registry: %s %s: %w", reason, ref, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: no adapter %s", ErrNotFound, ref)
	}
	changed, err := do(tx, where, args)
	if err != nil {
		return fmt.Errorf("registry: %s %s: %w", reason, ref, err)
	}
	if changed > 0 { // else already so: nothing to record
		r := audit.Record{Tenant: tenantID, Reason: reason, Detail: map[string]string{"adapter": ref, "versions": strconv.FormatInt(changed, 10)}}
		if err := s.commitAudited(ctx, tx, r); err != nil {
			return fmt.Errorf("registry: %s %s: %w", reason, ref, err)
		}
	}
	// Also when nothing changed: retiring again is how an operator retries
	// a hook that failed the first time.
	return s.retired(ctx, tenantID, name, version)
}

// retired tells Config.OnRetire of a version retired or deleted.
func (s *Store) retired(ctx context.Context, tenantID, name string, version int) error {
	if s.cfg.OnRetire == nil {
		return nil
	}
	if err := s.cfg.OnRetire(ctx, tenantID, name, version); err != nil {
		ref := name
		if version > 0 {
			ref = fmt.Sprintf("%s@%d", name, version)
		}
		return fmt.Errorf("registry: %s is gone from service, but what served it was not moved off it (retire it again to retry): %w", ref, err)
	}
	return nil
}

// MarkErased marks every adapter of the tenant trained on a dataset
// version that held one of the erased responses (erasure along lineage),
// and retires them when the tenant's policy says so (RetireErasedAdapters,
// read through Config.Tenants), telling Config.OnRetire of each. It
// returns the versions it marked now (with OnRetire's errors, if any);
// unknown ids and adapters marked before are not an error. It is what the
// capture store's erase hook calls, through flywheel.Open.
func (s *Store) MarkErased(ctx context.Context, tenantID string, responseIDs []string) ([]Version, error) {
	if tenantID == "" {
		return nil, fmt.Errorf("%w: empty tenant id", ErrInvalid)
	}
	ids := make([]string, 0, len(responseIDs))
	for _, id := range responseIDs {
		if id != "" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if ids = slices.Compact(ids); len(ids) == 0 {
		return nil, nil
	}
	retire, err := s.retiresErased(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("registry: mark erased: %w", err)
	}
	defer tx.Rollback()
	// The write lock first, as in change.
	if _, err := tx.ExecContext(ctx, `UPDATE adapter_versions SET state = state WHERE 0`); err != nil {
		return nil, fmt.Errorf("registry: mark erased: %w", err)
	}
	type key struct {
		name    string
		version int
	}
	hit := map[key]bool{}
	const batch = 500 // stay well under SQLite's bound-parameter limit
	for start := 0; start < len(ids); start += batch {
		chunk := ids[start:min(start+batch, len(ids))]
		args := []any{tenantID}
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT name, version FROM adapter_lineage WHERE tenant_id = ? AND response_id IN (`+
			strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("registry: mark erased: %w", err)
		}
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.name, &k.version); err != nil {
				rows.Close()
				return nil, fmt.Errorf("registry: mark erased: %w", err)
			}
			hit[k] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("registry: mark erased: %w", err)
		}
	}
	var marked []Version
	for k := range hit {
		set := `erased = ?`
		args := []any{now.UnixNano()}
		if retire {
			set += `, state = 'retired', retired = CASE WHEN state = 'active' THEN ? ELSE retired END`
			args = append(args, now.UnixNano())
		}
		args = append(args, tenantID, k.name, k.version)
		v, err := scanVersion(tx.QueryRowContext(ctx, `UPDATE adapter_versions SET `+set+`
			WHERE tenant_id = ? AND name = ? AND version = ? AND erased = 0 RETURNING `+versionCols, args...))
		if errors.Is(err, sql.ErrNoRows) {
			continue // marked by an earlier erasure
		}
		if err != nil {
			return nil, fmt.Errorf("registry: mark erased: %w", err)
		}
		marked = append(marked, v)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("registry: mark erased: %w", err)
	}
	slices.SortFunc(marked, func(a, b Version) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), a.Version-b.Version)
	})
	var errs []error
	for _, v := range marked {
		s.auditAfter(ctx, audit.Record{Tenant: tenantID, Model: v.Base.Name, Reason: "adapter.erased_data", Detail: map[string]string{
			"adapter": v.Ref(), "dataset": v.Dataset.Name, "dataset_version": strconv.Itoa(v.Dataset.Version),
			"retired": strconv.FormatBool(retire)}})
		if retire {
			errs = append(errs, s.retired(ctx, tenantID, v.Name, v.Version))
		}
	}
	return marked, errors.Join(errs...)
}

// retiresErased reads the tenant's RetireErasedAdapters; without
// Config.Tenants, or for a tenant it does not know, adapters are only
// marked.
func (s *Store) retiresErased(ctx context.Context, tenantID string) (bool, error) {
	if s.cfg.Tenants == nil {
		return false, nil
	}
	ts, err := s.cfg.Tenants.ListTenants(ctx)
	if err != nil {
		return false, fmt.Errorf("registry: mark erased: the tenant's policy: %w", err)
	}
	for _, t := range ts {
		if t.ID == tenantID {
			return t.Policy.RetireErasedAdapters, nil
		}
	}
	return false, nil
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func orNone(j string) string {
	if j == "" {
		return "no jurisdiction (give the node a certificate or --jurisdiction)"
	}
	return j
}
