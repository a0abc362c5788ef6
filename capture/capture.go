package capture

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/capture/pii"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/tenant"
)

// Message is one message of an interaction, as sent (after scrubbing).
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Interaction is one request and its answer.
type Interaction struct {
	ResponseID string `json:"response_id"`
	TenantID   string `json:"tenant_id"`
	KeyID      string `json:"key_id,omitempty"`   // the API key that made the request
	EndUser    string `json:"end_user,omitempty"` // OpenAI's "user" field
	Model      string `json:"model"`
	Endpoint   string `json:"endpoint,omitempty"`
	// Messages are the chat messages as sent, or one user message holding
	// a completion prompt.
	Messages []Message      `json:"messages"`
	Output   string         `json:"output"`
	Params   map[string]any `json:"params,omitempty"`
	Time     time.Time      `json:"time"`
}

// Feedback is a rating or correction of a captured response.
type Feedback struct {
	ID         string `json:"id,omitempty"` // set when recorded
	ResponseID string `json:"response_id"`
	// Rating is stars, 1..5, and Thumb is +1 (up) or -1 (down); 0 means
	// none. They are kept apart because one integer cannot tell a thumbs-up
	// from one star. Feedback needs at least one of them, a correction,
	// tags or a comment.
	Rating     int       `json:"rating,omitempty"`
	Thumb      int       `json:"thumb,omitempty"`
	Correction string    `json:"correction,omitempty"` // a better answer; scrubbed like the output
	Tags       []string  `json:"tags,omitempty"`
	Comment    string    `json:"comment,omitempty"` // scrubbed
	KeyID      string    `json:"key_id,omitempty"`
	Time       time.Time `json:"time,omitzero"` // set when recorded
	// Numbered is set on feedback scrubbed in its interaction's numbering
	// (every piece recorded since numberings were kept): its placeholders
	// mean what the prompt's mean. Older feedback was numbered on its own,
	// so its <PHONE_1> may be another number than the prompt's.
	Numbered bool `json:"numbered,omitempty"`
}

// Record is a stored interaction, decrypted: the scrubbed interaction, the
// feedback given on it, and how many identifiers of each pii type were
// replaced.
type Record struct {
	Interaction
	Feedback []Feedback     `json:"feedback,omitempty"`
	Scrubbed map[string]int `json:"scrubbed,omitempty"`
	Expires  time.Time      `json:"expires"`
}

// Filter selects records. Zero fields select everything.
type Filter struct {
	Since, Until time.Time // Since inclusive, Until exclusive
	Model        string
	WithFeedback bool // only records that have feedback
}

// Errors. ErrNotFound is also what a tenant gets for another tenant's
// response id: it must not learn that the id exists.
var (
	ErrNotFound   = errors.New("capture: not found")
	ErrKeyDeleted = errors.New("capture: the tenant's data key has been deleted")
	ErrInvalid    = errors.New("capture: invalid")
	// ErrNotHome: this node is not in the tenant's home jurisdiction and
	// the interaction could not be forwarded there; it was not stored.
	ErrNotHome = errors.New("capture: not the tenant's home jurisdiction")
	// ErrUnreachable: the tenant's home jurisdiction has no node that
	// answers now; try again later.
	ErrUnreachable = errors.New("capture: the tenant's home jurisdiction is unreachable")
	// ErrNotAllowed: the tenant's policy does not allow keeping it.
	ErrNotAllowed = errors.New("capture: not allowed by the tenant's policy")
)

// Auditor is where capture events are recorded; *audit.Log implements it.
type Auditor interface {
	Append(ctx context.Context, r audit.Record) (audit.Record, error)
}

// EraseHook is told which responses were erased, so that data derived from
// them (dataset rows, through their lineage) goes too. Its error is
// returned by the erasing call, after the capture rows are gone.
type EraseHook func(ctx context.Context, tenantID string, responseIDs []string) error

// Config configures a Store.
type Config struct {
	// Scrubber removes identifiers before anything is stored. Nil means
	// pii.New(pii.Config{}): every type and national-id pack.
	Scrubber *pii.Scrubber
	// Jurisdiction is this node's jurisdiction, compared with tenants'
	// Policy.Home.
	Jurisdiction string
	// Node is this node's id, for audit records.
	Node string
	// KeyFile is the node master key's path. Empty means capture.key next
	// to the database file (required for an in-memory database).
	KeyFile string
	// Forwarder sends interactions to the tenant's home jurisdiction. Nil
	// means none: they are dropped (see ErrNotHome).
	Forwarder Forwarder
	// Audit, when set, receives a record of kind "capture" for every save,
	// feedback, erasure and key deletion.
	Audit Auditor
	// OnErase is called after records are erased by response or user
	// (flywheel.Open sets it to remove what datasets derived from them).
	OnErase EraseHook
	// Tenants, when set, lets Sweep apply a tenant's current retention
	// (which may have been shortened since a record was saved).
	Tenants interface {
		ListTenants(ctx context.Context) ([]tenant.Tenant, error)
	}
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// KindCapture is the audit record kind of capture events.
const KindCapture = "capture"

// Store keeps captured interactions in the node's database.
type Store struct {
	d   *db.DB
	cfg Config
	scr *pii.Scrubber
	now func() time.Time
	log *slog.Logger

	master masterKey

	fbMu sync.Mutex // serialises feedback: each continues its record's numbering

	saved, dropped, forwarded atomic.Int64
}

var steps = []string{
	// 1: wrapped data keys (wrapped NULL once deleted), records, feedback.
	`CREATE TABLE capture_key (
		id        TEXT PRIMARY KEY,
		tenant_id TEXT NOT NULL,
		wrapped   BLOB,
		created   INTEGER NOT NULL,
		deleted   INTEGER NOT NULL DEFAULT 0
	);
	CREATE UNIQUE INDEX capture_key_live ON capture_key(tenant_id) WHERE wrapped IS NOT NULL;
	CREATE TABLE capture_record (
		tenant_id   TEXT NOT NULL,
		response_id TEXT NOT NULL,
		key_id      TEXT NOT NULL,
		user_tag    TEXT NOT NULL DEFAULT '',
		model       TEXT NOT NULL,
		time        INTEGER NOT NULL,
		expires     INTEGER NOT NULL,
		sealed      BLOB NOT NULL,
		PRIMARY KEY (tenant_id, response_id)
	);
	CREATE INDEX capture_record_user ON capture_record(tenant_id, user_tag);
	CREATE INDEX capture_record_time ON capture_record(tenant_id, time);
	CREATE INDEX capture_record_expires ON capture_record(expires);
	CREATE TABLE capture_feedback (
		id          TEXT PRIMARY KEY,
		tenant_id   TEXT NOT NULL,
		response_id TEXT NOT NULL,
		key_id      TEXT NOT NULL,
		time        INTEGER NOT NULL,
		sealed      BLOB NOT NULL,
		FOREIGN KEY (tenant_id, response_id) REFERENCES capture_record(tenant_id, response_id) ON DELETE CASCADE
	);
	CREATE INDEX capture_feedback_response ON capture_feedback(tenant_id, response_id);`,
}

// Open migrates the capture tables and returns a Store. The master key
// file is not touched until the first record needs a key.
func Open(ctx context.Context, d *db.DB, cfg Config) (*Store, error) {
	if d == nil {
		return nil, errors.New("capture: open: no database")
	}
	if cfg.KeyFile == "" {
		if d.Path() == ":memory:" || d.Path() == "" {
			return nil, errors.New("capture: open: Config.KeyFile is required with an in-memory database")
		}
		cfg.KeyFile = filepath.Join(filepath.Dir(d.Path()), KeyFileName)
	}
	s := &Store{d: d, cfg: cfg, scr: cfg.Scrubber, now: cfg.Now, log: cfg.Logger}
	if s.scr == nil {
		var err error
		if s.scr, err = pii.New(pii.Config{}); err != nil {
			return nil, fmt.Errorf("capture: open: %w", err)
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cfg.Forwarder == nil {
		s.cfg.Forwarder = NoForwarder{}
	}
	s.master.path = cfg.KeyFile
	if err := d.Migrate(ctx, "capture", steps); err != nil {
		return nil, fmt.Errorf("capture: open: %w", err)
	}
	return s, nil
}

// Counts are what the store has done since Open.
type Counts struct {
	Saved     int64 // records stored here (this node's own and forwarded ones)
	Forwarded int64 // interactions sent to a node in the tenant's home
	Dropped   int64 // interactions the policy allowed but that could not be kept (not home, and not forwarded)
}

// Counts returns the store's counters.
func (s *Store) Counts() Counts {
	return Counts{Saved: s.saved.Load(), Forwarded: s.forwarded.Load(), Dropped: s.dropped.Load()}
}

// Decide says whether to capture a request under the tenant's policy:
// "on" always, "opt-in" only when the request opted in, "off" (or empty)
// never; never when the policy keeps nothing (RetentionDays 0); and only
// on a node in the tenant's home jurisdiction, unless a forwarder can take
// it there. reason says why not (or, when ok, how).
func (s *Store) Decide(t tenant.Tenant, optIn bool) (ok bool, reason string) {
	if reason, ok := allowed(t, optIn); !ok {
		return false, reason
	}
	if !s.home(t) {
		if _, none := s.cfg.Forwarder.(NoForwarder); none {
			return false, fmt.Sprintf("this node is in %q, the tenant's home is %q, and there is no forwarder", s.cfg.Jurisdiction, t.Policy.Home)
		}
		return true, "forward to " + t.Policy.Home
	}
	return true, "capture " + t.Policy.Capture
}

// allowed applies the policy alone.
func allowed(t tenant.Tenant, optIn bool) (string, bool) {
	switch t.Policy.Capture {
	case tenant.CaptureOn:
	case tenant.CaptureOptIn:
		if !optIn {
			return "capture is opt-in and the request did not opt in", false
		}
	case tenant.CaptureOff, "":
		return "capture is off", false
	default:
		return fmt.Sprintf("unknown capture mode %q", t.Policy.Capture), false
	}
	if t.Policy.RetentionDays <= 0 {
		return "retention is 0 days: nothing is kept past the request", false
	}
	return "", true
}

// home reports whether this node may store the tenant's data: its home is
// this node's jurisdiction, or the tenant's data is not pinned anywhere.
func (s *Store) home(t tenant.Tenant) bool {
	return t.Policy.Home == "" || (s.cfg.Jurisdiction != "" && t.Policy.Home == s.cfg.Jurisdiction)
}

// audit appends a capture event that has already happened (a forward, an
// erasure); a failure is logged, not returned.
func (s *Store) audit(ctx context.Context, r audit.Record) {
	if err := s.appendAudit(ctx, r); err != nil {
		s.log.Error("capture: audit append failed", "err", err, "tenant", r.Tenant, "reason", r.Reason)
	}
}

func (s *Store) appendAudit(ctx context.Context, r audit.Record) error {
	if s.cfg.Audit == nil {
		return nil
	}
	r.Kind, r.Node, r.Jurisdiction = KindCapture, s.cfg.Node, s.cfg.Jurisdiction
	if r.Decision == "" {
		r.Decision = audit.DecisionAllow
	}
	_, err := s.cfg.Audit.Append(context.WithoutCancel(ctx), r)
	return err
}

// commitAudited commits tx, a change the audit log must record, only once
// its record r is durable: when the log cannot record, the change is
// rolled back and the error returned (wrapping audit.ErrUnavailable, so
// callers answer 503). If the commit itself fails after the record was
// written, a second record says the change was rolled back.
func (s *Store) commitAudited(ctx context.Context, tx *sql.Tx, r audit.Record) error {
	if err := s.appendAudit(ctx, r); err != nil {
		tx.Rollback()
		s.log.Error("capture: not kept: its audit record could not be made durable", "err", err, "tenant", r.Tenant, "reason", r.Reason, "response_id", r.ResponseID)
		return err
	}
	if err := tx.Commit(); err != nil {
		undo := r
		undo.Reason, undo.Decision = r.Reason+".rolled_back", audit.DecisionError
		s.audit(ctx, undo)
		return err
	}
	return nil
}
