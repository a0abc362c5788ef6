package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/db"
)

// KindRollout is the audit record kind of every rollout step.
const KindRollout = "rollout"

// States of a rollout.
const (
	StateEvaluating = "evaluating" // waiting for, or in, the held-out evaluation; no traffic
	StateLive       = "live"       // the candidate serves its share
	StatePromoted   = "promoted"   // the candidate became the deployment's stable
	StateRolledBack = "rolled_back"
)

// Arms of a rollout.
const (
	ArmStable    = "stable"
	ArmCandidate = "candidate"
)

// Errors, wrapped with what was wrong.
var (
	ErrNotFound = errors.New("rollout: not found")
	ErrInvalid  = errors.New("rollout: invalid")
	// ErrForbidden: the tenant may not use the model (its policy's list).
	ErrForbidden = errors.New("rollout: forbidden")
	// ErrNotHome: this node is not in the tenant's home jurisdiction,
	// where its rollouts are kept (it wraps ErrForbidden).
	ErrNotHome = fmt.Errorf("%w: not the tenant's home", ErrForbidden)
	// ErrConflict: a rollout of the model is already under way, or the
	// rollout is not in a state the change applies to.
	ErrConflict = errors.New("rollout: conflict")
)

// Auditor is where rollout steps are recorded; *audit.Log (and the
// command line's spooler) implement it.
type Auditor interface {
	Append(ctx context.Context, r audit.Record) (audit.Record, error)
}

// Versions resolves the versions a rollout deploys.
type Versions interface {
	// Resolve checks that name is a version tenantID may deploy as model:
	// model itself (the base), or BASE:ADAPTER[@VERSION] with BASE the
	// model and ADAPTER one of the tenant's registry adapters trained on
	// that base file. It returns the version's served name,
	// BASE:ADAPTER@VERSION with the version resolved. An unknown adapter
	// wraps registry.ErrNotFound, one trained on another base
	// registry.ErrBaseMismatch.
	Resolve(ctx context.Context, tenantID, model, name string) (string, error)
}

// Evaluator scores two versions of a deployment on held-out examples.
type Evaluator interface {
	Compare(ctx context.Context, in EvalInput) (EvalResult, error)
}

// EvalInput asks for the held-out loss of two versions.
type EvalInput struct {
	TenantID  string
	Model     string // the deployment's name, the base
	Stable    string // the model itself or BASE:ADAPTER@VERSION
	Candidate string // BASE:ADAPTER@VERSION
	// Dataset is the dataset (NAME or NAME@VERSION) whose eval split is
	// scored; empty means the one the candidate was trained on.
	Dataset string
}

// EvalResult is both versions' mean held-out loss per reference token.
type EvalResult struct {
	Dataset       string // NAME@VERSION as scored
	Examples      int
	StableLoss    float64
	CandidateLoss float64
}

// Config configures a Store.
type Config struct {
	// Versions checks the versions a Start names. Required for Start.
	Versions Versions
	// Evaluator runs the held-out evaluation gate; nil fails it for every
	// rollout that does not skip it.
	Evaluator Evaluator
	// Audit, when set, receives a record of kind "rollout" for every step.
	Audit Auditor
	// Node and Jurisdiction go into every audit record.
	Node         string
	Jurisdiction string
	// Interval is how often Run evaluates the gates; 0 means 5 seconds.
	Interval time.Duration
	// ResponseTTL and MaxResponses bound the table of which arm served a
	// response, that feedback is counted for: 0 means 24 hours and
	// 100,000 responses.
	ResponseTTL  time.Duration
	MaxResponses int
	// OnChange, when set, is called after every step is committed (a
	// start, a share, a gate's result, a promotion, a rollback), so the
	// fleet hears of it at once (package flywheel/rollout/fleet).
	OnChange func()
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger     // nil: discard
}

// Rollout is one rollout of a candidate version of a tenant's deployment.
type Rollout struct {
	ID        string `json:"id"`
	TenantID  string `json:"tenant_id"`
	Model     string `json:"model"`     // the deployment's name, as clients send it
	Stable    string `json:"stable"`    // the model itself or BASE:ADAPTER@VERSION
	Candidate string `json:"candidate"` // BASE:ADAPTER@VERSION
	State     string `json:"state"`
	Share     int    `json:"share"` // percent of the end users served by the candidate
	// StartShare is the share the candidate starts at once the eval gate
	// passes; 0 means the first step.
	StartShare int        `json:"start_share,omitempty"`
	Gates      Gates      `json:"gates"`
	Eval       *EvalCheck `json:"eval,omitempty"`
	Reason     string     `json:"reason,omitempty"` // why it ended, for a rollback
	Created    time.Time  `json:"created"`
	Updated    time.Time  `json:"updated"`
	// StepStarted is when the share last changed.
	StepStarted time.Time `json:"step_started,omitzero"`
	// StableCounts and CandidateCounts are what each arm has been seen to
	// do since the rollout went live.
	StableCounts    Counts `json:"stable_counts"`
	CandidateCounts Counts `json:"candidate_counts"`
}

// Live reports whether the rollout is still under way.
func (r *Rollout) Live() bool { return r.State == StateEvaluating || r.State == StateLive }

// Counts are one arm's observations.
type Counts struct {
	Requests int `json:"requests"`
	Errors   int `json:"errors"`
	// StepRequests are the requests since the share last changed.
	StepRequests int `json:"step_requests"`
	// Feedback is the feedback received on the arm's responses; Up and
	// Down those that rated them (a thumb, or stars: 4-5 up, 1-2 down),
	// Corrections those that corrected them.
	Feedback    int `json:"feedback"`
	Up          int `json:"up"`
	Down        int `json:"down"`
	Corrections int `json:"corrections"`
	// Latencies are the most recent requests' durations, in seconds (at
	// most maxLatencies); P95 is their 95th percentile, as the latency
	// gate sees it.
	Latencies []float64 `json:"-"`
	P95       float64   `json:"p95_seconds"`
}

// maxLatencies is how many recent durations an arm keeps for its p95.
const maxLatencies = 1000

// Event is one step of a rollout's history, as audited.
type Event struct {
	Seq    int64             `json:"seq"`
	Time   time.Time         `json:"time"`
	Action string            `json:"action"` // start, eval, share, gate, promote, rollback
	Actor  string            `json:"actor"`  // "gate" for the automatic steps
	Detail map[string]string `json:"detail"`
}

// migrations are the rollout store's schema steps. Append-only.
//
// rollout_deployments holds each deployment's stable version once a
// rollout has promoted one (before that the stable is the model itself).
// rollouts.gates, eval and the arms' latencies are JSON. At most one
// rollout per tenant and model is live: the partial unique index says so
// to every process sharing the database.
var migrations = []string{
	`CREATE TABLE rollouts (
		id           TEXT PRIMARY KEY,
		tenant_id    TEXT NOT NULL,
		model        TEXT NOT NULL,
		stable       TEXT NOT NULL,
		candidate    TEXT NOT NULL,
		state        TEXT NOT NULL CHECK (state IN ('evaluating', 'live', 'promoted', 'rolled_back')),
		share        INTEGER NOT NULL CHECK (share BETWEEN 0 AND 100),
		start_share  INTEGER NOT NULL DEFAULT 0,
		gates        TEXT NOT NULL,
		eval         TEXT NOT NULL DEFAULT '',
		reason       TEXT NOT NULL DEFAULT '',
		created      INTEGER NOT NULL,
		updated      INTEGER NOT NULL,
		step_started INTEGER NOT NULL DEFAULT 0
	);
	CREATE UNIQUE INDEX rollouts_live ON rollouts (tenant_id, model) WHERE state IN ('evaluating', 'live');
	CREATE TABLE rollout_arms (
		rollout_id    TEXT NOT NULL,
		arm           TEXT NOT NULL CHECK (arm IN ('stable', 'candidate')),
		requests      INTEGER NOT NULL DEFAULT 0,
		errors        INTEGER NOT NULL DEFAULT 0,
		step_requests INTEGER NOT NULL DEFAULT 0,
		feedback      INTEGER NOT NULL DEFAULT 0,
		up            INTEGER NOT NULL DEFAULT 0,
		down          INTEGER NOT NULL DEFAULT 0,
		corrections   INTEGER NOT NULL DEFAULT 0,
		latencies     TEXT NOT NULL DEFAULT '[]',
		PRIMARY KEY (rollout_id, arm)
	);
	CREATE TABLE rollout_events (
		seq        INTEGER PRIMARY KEY AUTOINCREMENT,
		rollout_id TEXT NOT NULL,
		time       INTEGER NOT NULL,
		action     TEXT NOT NULL,
		actor      TEXT NOT NULL,
		detail     TEXT NOT NULL
	);
	CREATE INDEX rollout_events_rollout ON rollout_events (rollout_id, seq);
	CREATE TABLE rollout_deployments (
		tenant_id  TEXT NOT NULL,
		model      TEXT NOT NULL,
		stable     TEXT NOT NULL,
		rollout_id TEXT NOT NULL,
		updated    INTEGER NOT NULL,
		PRIMARY KEY (tenant_id, model)
	);`,
}

// Open applies the rollout store's migrations to d and returns a Store,
// with the live rollouts and deployments loaded for Pick.
func Open(ctx context.Context, d *db.DB, cfg Config) (*Store, error) {
	if d == nil {
		return nil, errors.New("rollout: open: nil database")
	}
	if err := d.Migrate(ctx, "rollout", migrations); err != nil {
		return nil, err
	}
	s := &Store{d: d, cfg: cfg, now: cfg.Now, log: cfg.Logger, kick: make(chan struct{}, 1)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cfg.Interval <= 0 {
		s.cfg.Interval = 5 * time.Second
	}
	if s.cfg.ResponseTTL <= 0 {
		s.cfg.ResponseTTL = 24 * time.Hour
	}
	if s.cfg.MaxResponses <= 0 {
		s.cfg.MaxResponses = 100_000
	}
	s.served = newServedTable(s.cfg.MaxResponses, s.cfg.ResponseTTL)
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	return s, nil
}
