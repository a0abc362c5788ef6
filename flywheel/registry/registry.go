package registry

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/tenant"
)

// KindAdapter is the audit record kind of the registry's events.
const KindAdapter = "adapter"

// States of a version.
const (
	StateActive  = "active"
	StateRetired = "retired"
)

// Errors.
var (
	ErrNotFound = errors.New("registry: not found")
	ErrInvalid  = errors.New("registry: invalid")
	// ErrNotHome: this node is not in the tenant's home jurisdiction, where
	// the tenant's data (and an adapter trained on it is) must stay.
	ErrNotHome = errors.New("registry: not the tenant's home jurisdiction")
	// ErrBaseMismatch: an adapter used with a base model other than the one
	// it was trained on.
	ErrBaseMismatch = errors.New("registry: adapter and base model do not match")
)

// Sealer encrypts adapter files at rest under the tenant's key;
// capture.Store.Sealer is the one the node uses. aad binds a ciphertext to
// its row.
type Sealer interface {
	Seal(tenantID string, plaintext, aad []byte) ([]byte, error)
	Open(tenantID string, ciphertext, aad []byte) ([]byte, error)
}

// Auditor is where the registry's events are recorded; *audit.Log (and
// the command line's spooler) implement it.
type Auditor interface {
	Append(ctx context.Context, r audit.Record) (audit.Record, error)
}

// Datasets reads the dataset version an adapter was trained on, for its
// content hash and lineage; *dataset.Store implements it.
type Datasets interface {
	Get(ctx context.Context, tenantID, name string, version int) (*dataset.Version, error)
}

// Config configures a Store. The zero value is a registry that keeps
// nothing: Create needs a Sealer.
type Config struct {
	// Jurisdiction is this node's, compared with tenants' Policy.Home; Node
	// is its id. Both go into every version and audit record.
	Jurisdiction string
	Node         string
	// Sealer seals adapter files; EnsureKey, when set, creates the
	// tenant's key before a Create seals under it (capture.Store.EnsureKey).
	Sealer    Sealer
	EnsureKey func(ctx context.Context, tenantID string) error
	// Audit, when set, receives a record of kind "adapter" for every
	// registration, export, retirement, deletion and erasure mark.
	Audit Auditor
	// Datasets, when set, fills a version's dataset hash and lineage from
	// the dataset store; without it Meta must carry both.
	Datasets Datasets
	// Tenants, when set, lets MarkErased read the tenant's current policy
	// (RetireErasedAdapters).
	Tenants interface {
		ListTenants(ctx context.Context) ([]tenant.Tenant, error)
	}
	// OnRetire, when set, is called once a retirement or deletion of a
	// version (version 0: every version of name) has committed, and for
	// each version an erasure retires (RetireErasedAdapters), so that the
	// deployments and rollouts serving it stop sending users to a version
	// that is gone (flywheel/rollout's Store.Retired). The change stands
	// whatever it returns; its error is returned with the change's, and
	// retiring the version again calls it again.
	OnRetire func(ctx context.Context, tenantID, name string, version int) error
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger     // nil: discard
}

// Base names the base model an adapter applies to.
type Base struct {
	Name   string `json:"name"`   // as the user gave it: a store name or a file name
	Digest string `json:"digest"` // hex SHA-256 of the base GGUF file
	Arch   string `json:"arch"`   // general.architecture; filled from the adapter file if empty
}

// DatasetRef names the dataset version an adapter was trained on.
type DatasetRef struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Hash is dataset.Version.ContentHash of the examples trained on. Left
	// empty, Create fills it from Config.Datasets; given, it is compared
	// with the version as it stands now, and a difference (an erasure
	// reached the dataset while the adapter trained) marks the adapter
	// ErasedData at once.
	Hash string `json:"hash"`
}

// Meta is what the trainer tells the registry about a new adapter.
type Meta struct {
	Base    Base       `json:"base"`
	Dataset DatasetRef `json:"dataset"`
	// Lineage lists the response ids of the dataset's examples; empty
	// means those of Dataset as Config.Datasets has it.
	Lineage []string        `json:"lineage,omitempty"`
	Hyper   json.RawMessage `json:"hyper,omitempty"`   // hyper-parameters (finetune.Hyper), opaque here
	Metrics json.RawMessage `json:"metrics,omitempty"` // train and eval loss, the eval summary, opaque here
}

// Version is one registered adapter version.
type Version struct {
	TenantID     string          `json:"tenant_id"`
	Name         string          `json:"name"`
	Version      int             `json:"version"`
	Created      time.Time       `json:"created"`
	Base         Base            `json:"base"`
	Dataset      DatasetRef      `json:"dataset"`
	Hyper        json.RawMessage `json:"hyper,omitempty"`
	Metrics      json.RawMessage `json:"metrics,omitempty"`
	Node         string          `json:"node,omitempty"`
	Jurisdiction string          `json:"jurisdiction,omitempty"`
	State        string          `json:"state"` // StateActive or StateRetired
	RetiredAt    time.Time       `json:"retired_at,omitzero"`
	// ErasedData says an erasure has since removed examples of the
	// dataset version the adapter was trained on.
	ErasedData bool      `json:"erased_data"`
	ErasedAt   time.Time `json:"erased_at,omitzero"`
	Size       int64     `json:"size"`   // bytes of the plain GGUF
	SHA256     string    `json:"sha256"` // of the plain GGUF
}

// Ref is "name@version", how commands name a version.
func (v *Version) Ref() string { return fmt.Sprintf("%s@%d", v.Name, v.Version) }

// CheckBase reports whether the adapter may be applied to a base model
// whose file has SHA-256 digest and architecture arch: ErrBaseMismatch,
// naming both, if not.
func (v *Version) CheckBase(digest, arch string) error {
	if arch != "" && v.Base.Arch != "" && arch != v.Base.Arch {
		return fmt.Errorf("%w: %s was trained on a %s model, this base is %s", ErrBaseMismatch, v.Ref(), v.Base.Arch, arch)
	}
	if !strings.EqualFold(digest, v.Base.Digest) {
		return fmt.Errorf("%w: %s was trained on %s (sha256 %.12s…), this base's sha256 is %.12s…", ErrBaseMismatch,
			v.Ref(), v.Base.Name, v.Base.Digest, digest)
	}
	return nil
}

// ParseRef splits "name" or "name@version" (version 0: unspecified).
// Adapter and dataset versions are named by one rule, dataset.ParseRef's;
// the error here is ErrInvalid.
func ParseRef(s string) (name string, version int, err error) {
	name, version, err = dataset.ParseRef(s)
	if re := (*dataset.RefError)(nil); errors.As(err, &re) {
		return "", 0, fmt.Errorf("%w adapter %w", ErrInvalid, re)
	}
	return name, version, err
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func checkName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w adapter name %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

func checkNames(tenantID, name string) error {
	if tenantID == "" {
		return fmt.Errorf("%w: empty tenant id", ErrInvalid)
	}
	return checkName(name)
}

func checkDigest(d string) error {
	if b, err := hex.DecodeString(d); err != nil || len(b) != 32 {
		return fmt.Errorf("%w base digest %q: want the 64 hex digits of the base file's SHA-256", ErrInvalid, d)
	}
	return nil
}

// migrations are the registry's schema steps. Append-only: never edit a
// step that has shipped, add another.
//
// adapter_names keeps the last version number ever given to a name, so a
// deleted version's number is never handed out again (audit records name
// it). file is the sealed GGUF. adapter_lineage holds the response ids
// of the examples an adapter was trained on, for erasure marks. Times are
// Unix nanoseconds, 0 for none.
var migrations = []string{
	`CREATE TABLE adapter_names (
		tenant_id TEXT NOT NULL,
		name      TEXT NOT NULL,
		last      INTEGER NOT NULL,
		PRIMARY KEY (tenant_id, name)
	);
	CREATE TABLE adapter_versions (
		tenant_id       TEXT NOT NULL,
		name            TEXT NOT NULL,
		version         INTEGER NOT NULL CHECK (version >= 1),
		created         INTEGER NOT NULL,
		base_name       TEXT NOT NULL,
		base_digest     TEXT NOT NULL,
		base_arch       TEXT NOT NULL,
		dataset_name    TEXT NOT NULL DEFAULT '',
		dataset_version INTEGER NOT NULL DEFAULT 0,
		dataset_hash    TEXT NOT NULL DEFAULT '',
		hyper           TEXT NOT NULL DEFAULT '',
		metrics         TEXT NOT NULL DEFAULT '',
		node            TEXT NOT NULL DEFAULT '',
		jurisdiction    TEXT NOT NULL DEFAULT '',
		state           TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired')),
		retired         INTEGER NOT NULL DEFAULT 0,
		erased          INTEGER NOT NULL DEFAULT 0,
		size            INTEGER NOT NULL,
		sha256          TEXT NOT NULL,
		file            BLOB NOT NULL,
		PRIMARY KEY (tenant_id, name, version)
	);
	CREATE TABLE adapter_lineage (
		tenant_id   TEXT NOT NULL,
		name        TEXT NOT NULL,
		version     INTEGER NOT NULL,
		response_id TEXT NOT NULL,
		PRIMARY KEY (tenant_id, name, version, response_id)
	);
	CREATE INDEX adapter_lineage_response ON adapter_lineage (tenant_id, response_id);`,
}

// Store is the adapter registry in the node's database. It is safe for
// concurrent use, and several Stores (in several processes) may share one
// database.
type Store struct {
	d   *db.DB
	cfg Config
	now func() time.Time
	log *slog.Logger
}

// Open applies the registry's migrations to d and returns a Store.
func Open(ctx context.Context, d *db.DB, cfg Config) (*Store, error) {
	if d == nil {
		return nil, errors.New("registry: open: nil database")
	}
	s := &Store{d: d, cfg: cfg, now: cfg.Now, log: cfg.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := d.Migrate(ctx, "registry", migrations); err != nil {
		return nil, fmt.Errorf("registry: open: %w", err)
	}
	return s, nil
}

// SetSealer makes the Store seal with x from now on (flywheel.Open opens
// the registry before the capture store that seals for it).
func (s *Store) SetSealer(x Sealer, ensureKey func(ctx context.Context, tenantID string) error) {
	s.cfg.Sealer, s.cfg.EnsureKey = x, ensureKey
}

// home reports whether this node may keep the tenant's data: as for
// captures, its home is this node's jurisdiction or it is not pinned.
func (s *Store) home(t tenant.Tenant) bool {
	return t.Policy.Home == "" || (s.cfg.Jurisdiction != "" && t.Policy.Home == s.cfg.Jurisdiction)
}

// fileAAD binds a sealed file to its tenant, name and version.
func fileAAD(tenantID, name string, version int) []byte {
	return fmt.Appendf(nil, "adapter\x00%s\x00%s\x00%d", tenantID, name, version)
}

// record fills the fields every registry audit record shares.
func (s *Store) record(r audit.Record) audit.Record {
	r.Kind, r.Node, r.Jurisdiction = KindAdapter, s.cfg.Node, s.cfg.Jurisdiction
	if r.Decision == "" {
		r.Decision = audit.DecisionAllow
	}
	return r
}

// appendAudit records r; with no Auditor there is nothing to record.
func (s *Store) appendAudit(ctx context.Context, r audit.Record) error {
	if s.cfg.Audit == nil {
		return nil
	}
	_, err := s.cfg.Audit.Append(context.WithoutCancel(ctx), s.record(r))
	return err
}

// auditAfter records an event that has already happened (an erasure
// mark): a failure is logged, not returned.
func (s *Store) auditAfter(ctx context.Context, r audit.Record) {
	if err := s.appendAudit(ctx, r); err != nil {
		s.log.Error("registry: audit append failed", "err", err, "tenant", r.Tenant, "reason", r.Reason)
	}
}
