package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/flywheel/dataset"
)

// Config configures a Manager.
type Config struct {
	DB *db.DB // required
	// Dir holds one directory per job (DATA/jobs on a node). Required.
	Dir string
	// Trainer trains; nil refuses new jobs with ErrNoTrainer.
	Trainer Trainer
	// Models resolves base model names. Required.
	Models Models
	// Datasets resolves "dataset:NAME@VERSION" training files; nil
	// refuses them.
	Datasets Datasets
	// Sealer seals file contents under the tenant's capture key, and Keys
	// creates that key first. Nil Sealer stores them unsealed (tests).
	Sealer dataset.Sealer
	Keys   Keys
	// Registry keeps trained adapters. Nil leaves the adapter in the
	// job's directory, and fine_tuned_model is OpenAI's spelling
	// "ft:MODEL:TENANT:SUFFIX:JOB".
	Registry Registry
	// Audit records uploads, deletions and each job's creation,
	// cancellation and end. Nil records nothing (tests).
	Audit Auditor
	// Node and Jurisdiction are this node's: audit records, and the
	// residency check (a tenant's data rests and trains only in its home).
	Node, Jurisdiction string
	// Threads is a job's thread budget; 0 means DefaultThreads().
	Threads int
	// MaxFileBytes bounds an uploaded file; 0 means DefaultMaxFileBytes.
	MaxFileBytes int64
	// MaxUnfinished bounds a tenant's jobs not yet finished; 0 means
	// DefaultMaxUnfinished.
	MaxUnfinished int
	// CheckpointEvery is the trainer's checkpoint interval in steps; 0 is
	// the trainer's default.
	CheckpointEvery int
	Now             func() time.Time // nil: time.Now
	Logger          *slog.Logger     // nil: discard
}

// Defaults.
const (
	DefaultMaxFileBytes  = 64 << 20
	DefaultMaxUnfinished = 16
)

// DefaultThreads is a job's default thread budget: half the machine's
// cores, at least one, so serving always keeps the other half.
func DefaultThreads() int { return max(1, runtime.NumCPU()/2) }

// Manager keeps files and jobs and runs the jobs, one at a time. It is
// safe for concurrent use.
type Manager struct {
	cfg Config
	db  *db.DB
	log *slog.Logger
	now func() time.Time

	wake chan struct{} // a job was queued or cancelled

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc // ends the loop
	done    chan struct{}      // closed when the loop has returned
	running *run               // the job training now, nil if none
}

// Open applies the jobs migrations to cfg.DB and returns a Manager. It
// runs nothing until Start.
func Open(ctx context.Context, cfg Config) (*Manager, error) {
	switch {
	case cfg.DB == nil:
		return nil, errors.New("jobs: Config.DB is required")
	case cfg.Dir == "":
		return nil, errors.New("jobs: Config.Dir is required")
	case cfg.Models == nil:
		return nil, errors.New("jobs: Config.Models is required")
	case cfg.Threads < 0 || cfg.MaxFileBytes < 0 || cfg.MaxUnfinished < 0 || cfg.CheckpointEvery < 0:
		return nil, errors.New("jobs: Config.Threads, MaxFileBytes, MaxUnfinished and CheckpointEvery may not be negative")
	}
	if cfg.Threads == 0 {
		cfg.Threads = DefaultThreads()
	}
	if cfg.MaxFileBytes == 0 {
		cfg.MaxFileBytes = DefaultMaxFileBytes
	}
	if cfg.MaxUnfinished == 0 {
		cfg.MaxUnfinished = DefaultMaxUnfinished
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.DB.Migrate(ctx, "jobs", migrations); err != nil {
		return nil, fmt.Errorf("jobs: open: %w", err)
	}
	return &Manager{cfg: cfg, db: cfg.DB, log: cfg.Logger, now: cfg.Now, wake: make(chan struct{}, 1)}, nil
}

// Threads is a job's thread budget.
func (m *Manager) Threads() int { return m.cfg.Threads }

// MaxFileBytes is the largest file UploadFile takes.
func (m *Manager) MaxFileBytes() int64 { return m.cfg.MaxFileBytes }

// resident refuses a tenant whose data may not rest or be trained on
// here: its home is another jurisdiction, or, unpinned, its policy does
// not allow this node's.
func (m *Manager) resident(o Owner) error {
	pol, here := o.Tenant.Policy, m.cfg.Jurisdiction
	switch {
	case pol.Home != "" && pol.Home != here:
		return fmt.Errorf("%w: tenant %q keeps and trains on its data only in %s, and this node is in %q: use a node in %s",
			ErrResidency, o.Tenant.Name, pol.Home, here, pol.Home)
	case pol.Home == "" && !pol.AllowsJurisdiction(here):
		return fmt.Errorf("%w: tenant %q may be served only in %s, and this node is in %q",
			ErrResidency, o.Tenant.Name, strings.Join(pol.Jurisdictions, ", "), here)
	}
	return nil
}

// commitAudited commits tx only once r is durable in the audit log; when
// the log cannot record, the change is rolled back and the error (it wraps
// audit.ErrUnavailable) returned. A commit that fails after its record
// was written is recorded as rolled back.
func (m *Manager) commitAudited(ctx context.Context, tx *sql.Tx, o Owner, r audit.Record) error {
	r.Tenant, r.KeyID = o.Tenant.ID, o.KeyID
	if err := m.appendAudit(ctx, r); err != nil {
		tx.Rollback()
		m.log.Error("fine-tuning change not made: its audit record could not be made durable", "err", err, "tenant", r.Tenant, "reason", r.Reason)
		return fmt.Errorf("jobs: %w", err)
	}
	if err := tx.Commit(); err != nil {
		r.Reason, r.Decision = r.Reason+".rolled_back", audit.DecisionError
		m.audit(ctx, r)
		return fmt.Errorf("jobs: %w", err)
	}
	return nil
}

// audit records what has already happened (a job's end); a failure is
// logged, not returned.
func (m *Manager) audit(ctx context.Context, r audit.Record) {
	if err := m.appendAudit(ctx, r); err != nil {
		m.log.Error("fine-tuning: audit append failed", "err", err, "tenant", r.Tenant, "reason", r.Reason)
	}
}

func (m *Manager) appendAudit(ctx context.Context, r audit.Record) error {
	if m.cfg.Audit == nil {
		return nil
	}
	r.Kind, r.Node, r.Jurisdiction = KindFineTuning, m.cfg.Node, m.cfg.Jurisdiction
	if r.Decision == "" {
		r.Decision = audit.DecisionAllow
	}
	_, err := m.cfg.Audit.Append(context.WithoutCancel(ctx), r)
	return err
}
