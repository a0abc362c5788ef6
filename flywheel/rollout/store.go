package rollout

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/modelname"
	"github.com/hearth-ai/hearth/tenant"
)

// Store keeps a node's rollouts in its database and serves Pick from
// memory. Several Stores (a node and the command line) may share one
// database: every change is a compare-and-set on the rollout's state and
// share, and each Store re-reads the live rollouts on every Tick.
type Store struct {
	d    *db.DB
	cfg  Config
	now  func() time.Time
	log  *slog.Logger
	kick chan struct{} // wakes Run early: an arm reached a threshold, or a rollout started

	// decide holds one live gate decision at a time: the gate loop's and
	// a Status's, run at once, would both record the gate's verdict.
	decide sync.Mutex

	mu       sync.Mutex
	live     map[deployKey]*liveRollout // by tenant and canonical model
	byID     map[string]*liveRollout
	deployed map[deployKey]deployment
	pending  map[deltaKey]*Counts
	served   *servedTable
}

type deployKey struct{ tenant, model string }

func keyOf(tenantID, model string) deployKey {
	return deployKey{tenantID, modelname.Canonical(model)}
}

// deployment is a deployment's stable version after a promotion, and
// the rollout that made it so.
type deployment struct{ model, stable, rollout string }

// liveRollout is what Pick and Observe need of a live rollout.
type liveRollout struct {
	id, tenant, stable, candidate, state string
	share                                int
	gates                                Gates
	// base are the persisted counts as of the last refresh, so Observe
	// can tell when an arm reaches a threshold.
	base [2]Counts
}

// maxNameBytes bounds the names a Start takes, as the API bounds model
// names.
const maxNameBytes = 256

// StartRequest starts a rollout.
type StartRequest struct {
	Tenant tenant.Tenant
	Model  string // the deployment's name, as clients send it
	// Candidate is BASE:ADAPTER or BASE:ADAPTER@VERSION, or the model
	// itself when the stable is an adapter.
	Candidate string
	// Share is the candidate's share once the eval gate passes, 0 to 100;
	// 0 means the first step.
	Share int
	Gates *Gates // nil: DefaultGates
	Actor string // who starts it, for the audit record ("cli", "key:ID")
}

// Start starts a rollout of req.Candidate for the tenant's deployment
// req.Model. The stable is the deployment's current one (the model
// itself until a rollout promotes another). The rollout begins in
// StateEvaluating at share 0; the next Tick runs the held-out eval gate.
// Errors: ErrInvalid (a bad name, share or gate), ErrForbidden (the
// tenant may not use the model), ErrConflict (a rollout of the model is
// under way), and Versions' errors for the candidate; none changes
// anything.
func (s *Store) Start(ctx context.Context, req StartRequest) (*Rollout, error) {
	model, cand := strings.TrimSpace(req.Model), strings.TrimSpace(req.Candidate)
	switch {
	case req.Tenant.ID == "":
		return nil, fmt.Errorf("%w: no tenant", ErrInvalid)
	case model == "":
		return nil, fmt.Errorf("%w: model: the deployment's name is required", ErrInvalid)
	case cand == "":
		return nil, fmt.Errorf("%w: candidate: BASE:ADAPTER[@VERSION] is required", ErrInvalid)
	case len(model) > maxNameBytes || len(cand) > maxNameBytes:
		return nil, fmt.Errorf("%w: model and candidate have at most %d bytes", ErrInvalid, maxNameBytes)
	case req.Share < 0 || req.Share > 100:
		return nil, fmt.Errorf("%w: share %d: want 0 to 100 percent", ErrInvalid, req.Share)
	}
	g := DefaultGates()
	if req.Gates != nil {
		g = *req.Gates
	}
	if err := g.check(); err != nil {
		return nil, err
	}
	if h := req.Tenant.Policy.Home; h != "" && s.cfg.Jurisdiction != "" && !strings.EqualFold(h, s.cfg.Jurisdiction) {
		// The home holds the tenant's adapters and gets its feedback, and
		// tells the fleet its rollouts: a rollout anywhere else would
		// count nothing.
		return nil, fmt.Errorf("%w: tenant %s's home is %s: start its rollouts on a node there (this node is in %s)", ErrNotHome,
			req.Tenant.Name, h, s.cfg.Jurisdiction)
	}
	if !req.Tenant.Policy.AllowsModel(model) {
		return nil, fmt.Errorf("%w: tenant %s may not use model %q (its allowed models: %s)", ErrForbidden, req.Tenant.Name, model,
			strings.Join(req.Tenant.Policy.AllowedModels, ", "))
	}
	if s.cfg.Versions == nil {
		return nil, errors.New("rollout: start: no version resolver configured")
	}
	// The cheap refusal first: resolving a candidate may hash a base file.
	if other, err := liveOf(ctx, s.d, req.Tenant.ID, model); err != nil {
		return nil, err
	} else if other != "" {
		return nil, fmt.Errorf("%w: rollout %s of %s is under way; promote or roll it back first", ErrConflict, other, model)
	}
	resolved, err := s.cfg.Versions.Resolve(ctx, req.Tenant.ID, model, cand)
	if err != nil {
		return nil, fmt.Errorf("rollout: candidate %q: %w", cand, err)
	}
	stable := model
	if dep, ok, err := s.deploymentOf(ctx, req.Tenant.ID, model); err != nil {
		return nil, err
	} else if ok {
		stable = dep.stable
	}
	// The base itself may be a candidate: the way back from an adapter
	// that was promoted.
	if modelname.Same(resolved, stable) {
		return nil, fmt.Errorf("%w: candidate %s is the deployment's stable version already", ErrInvalid, resolved)
	}
	now := s.now().UTC()
	r := &Rollout{ID: newID(), TenantID: req.Tenant.ID, Model: model, Stable: stable, Candidate: resolved, State: StateEvaluating,
		StartShare: req.Share, Gates: g, Created: now, Updated: now}
	gates, _ := json.Marshal(g)
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("rollout: start: %w", err)
	}
	defer tx.Rollback()
	// Writing first takes the write lock, so that the check and the insert
	// are one step: a transaction that read first could not take it once
	// another start had written (SQLITE_BUSY, where busy_timeout does not
	// wait).
	if _, err := tx.ExecContext(ctx, `UPDATE rollouts SET updated = updated WHERE 0`); err != nil {
		return nil, fmt.Errorf("rollout: start: %w", err)
	}
	if other, err := liveOf(ctx, tx, req.Tenant.ID, model); err != nil {
		return nil, err
	} else if other != "" {
		return nil, fmt.Errorf("%w: rollout %s of %s is under way; promote or roll it back first", ErrConflict, other, model)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO rollouts (id, tenant_id, model, stable, candidate, state, share, start_share, gates, created, updated)
		VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`, r.ID, r.TenantID, r.Model, r.Stable, r.Candidate, r.State, r.StartShare, string(gates),
		now.UnixNano(), now.UnixNano()); err != nil {
		return nil, fmt.Errorf("rollout: start: %w", err)
	}
	for _, arm := range []string{ArmStable, ArmCandidate} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rollout_arms (rollout_id, arm) VALUES (?, ?)`, r.ID, arm); err != nil {
			return nil, fmt.Errorf("rollout: start: %w", err)
		}
	}
	detail := map[string]string{"start_share": strconv.Itoa(r.StartShare), "gates": string(gates)}
	if err := s.commit(ctx, tx, r, "start", req.Actor, detail); err != nil {
		return nil, fmt.Errorf("rollout: start: %w", err)
	}
	s.refreshQuietly(ctx)
	s.wake()
	return r, nil
}

// liveOf is the id of the tenant's rollout of model under way, or "".
func liveOf(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, tenantID, model string) (string, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, model FROM rollouts WHERE tenant_id = ? AND state IN ('evaluating', 'live')`, tenantID)
	if err != nil {
		return "", fmt.Errorf("rollout: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, m string
		if err := rows.Scan(&id, &m); err != nil {
			return "", fmt.Errorf("rollout: %w", err)
		}
		if modelname.Same(m, model) {
			return id, nil
		}
	}
	return "", rows.Err()
}

func (s *Store) deploymentOf(ctx context.Context, tenantID, model string) (deployment, bool, error) {
	ds, err := s.deploymentsOf(ctx, tenantID)
	if err != nil {
		return deployment{}, false, err
	}
	for _, d := range ds {
		if modelname.Same(d.model, model) {
			return d, true, nil
		}
	}
	return deployment{}, false, nil
}

// deploymentsOf lists the tenant's promoted deployments.
func (s *Store) deploymentsOf(ctx context.Context, tenantID string) ([]deployment, error) {
	rows, err := s.d.QueryContext(ctx, `SELECT model, stable, rollout_id FROM rollout_deployments WHERE tenant_id = ?`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	defer rows.Close()
	var out []deployment
	for rows.Next() {
		var d deployment
		if err := rows.Scan(&d.model, &d.stable, &d.rollout); err != nil {
			return nil, fmt.Errorf("rollout: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return "ro_" + hex.EncodeToString(b[:])
}

const rolloutCols = `id, tenant_id, model, stable, candidate, state, share, start_share, gates, eval, reason, created, updated, step_started`

func scanRollout(sc interface{ Scan(dest ...any) error }) (*Rollout, error) {
	var (
		r                      Rollout
		gates, ev              string
		created, updated, step int64
	)
	if err := sc.Scan(&r.ID, &r.TenantID, &r.Model, &r.Stable, &r.Candidate, &r.State, &r.Share, &r.StartShare, &gates, &ev, &r.Reason,
		&created, &updated, &step); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(gates), &r.Gates); err != nil {
		return nil, fmt.Errorf("rollout %s: gates: %w", r.ID, err)
	}
	if ev != "" {
		r.Eval = new(EvalCheck)
		if err := json.Unmarshal([]byte(ev), r.Eval); err != nil {
			return nil, fmt.Errorf("rollout %s: eval: %w", r.ID, err)
		}
	}
	r.Created, r.Updated = time.Unix(0, created).UTC(), time.Unix(0, updated).UTC()
	if step != 0 {
		r.StepStarted = time.Unix(0, step).UTC()
	}
	return &r, nil
}

// Get returns a rollout with its arms' counts.
func (s *Store) Get(ctx context.Context, id string) (*Rollout, error) {
	r, err := scanRollout(s.d.QueryRowContext(ctx, `SELECT `+rolloutCols+` FROM rollouts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no rollout %q", ErrNotFound, clip(id))
	}
	if err != nil {
		return nil, fmt.Errorf("rollout: get: %w", err)
	}
	if err := s.loadCounts(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

func (s *Store) loadCounts(ctx context.Context, r *Rollout) error {
	rows, err := s.d.QueryContext(ctx, `SELECT arm, requests, errors, step_requests, feedback, up, down, corrections, latencies
		FROM rollout_arms WHERE rollout_id = ?`, r.ID)
	if err != nil {
		return fmt.Errorf("rollout: counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var arm, lat string
		var c Counts
		if err := rows.Scan(&arm, &c.Requests, &c.Errors, &c.StepRequests, &c.Feedback, &c.Up, &c.Down, &c.Corrections, &lat); err != nil {
			return fmt.Errorf("rollout: counts: %w", err)
		}
		if err := json.Unmarshal([]byte(lat), &c.Latencies); err != nil {
			return fmt.Errorf("rollout %s: latencies: %w", r.ID, err)
		}
		c.P95 = p95(c.Latencies)
		if arm == ArmCandidate {
			r.CandidateCounts = c
		} else {
			r.StableCounts = c
		}
	}
	return rows.Err()
}

// List returns the tenant's rollouts (every tenant's for ""), newest
// first.
func (s *Store) List(ctx context.Context, tenantID string) ([]Rollout, error) {
	if tenantID == "" {
		return s.query(ctx, "list", `SELECT `+rolloutCols+` FROM rollouts ORDER BY created DESC, id`)
	}
	return s.query(ctx, "list", `SELECT `+rolloutCols+` FROM rollouts WHERE tenant_id = ? ORDER BY created DESC, id`, tenantID)
}

// query reads the rollouts q selects, with their arms' counts.
func (s *Store) query(ctx context.Context, what, q string, args ...any) ([]Rollout, error) {
	rows, err := s.d.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("rollout: %s: %w", what, err)
	}
	var out []Rollout
	for rows.Next() {
		r, err := scanRollout(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("rollout: %s: %w", what, err)
		}
		out = append(out, *r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rollout: %s: %w", what, err)
	}
	for i := range out {
		if err := s.loadCounts(ctx, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// History returns a rollout's steps, oldest first.
func (s *Store) History(ctx context.Context, id string) ([]Event, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.d.QueryContext(ctx, `SELECT seq, time, action, actor, detail FROM rollout_events WHERE rollout_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("rollout: history: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var t int64
		var detail string
		if err := rows.Scan(&e.Seq, &t, &e.Action, &e.Actor, &detail); err != nil {
			return nil, fmt.Errorf("rollout: history: %w", err)
		}
		e.Time = time.Unix(0, t).UTC()
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			return nil, fmt.Errorf("rollout: history: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Promote is an operator's promotion: with share 1 to 99 the candidate's
// share is set to it (the gates go on deciding from there); with 0 or
// 100 the candidate becomes the deployment's stable at once. A rollout
// still evaluating skips its eval gate (the record says so).
func (s *Store) Promote(ctx context.Context, id string, share int, actor string) (*Rollout, error) {
	if share < 0 || share > 100 {
		return nil, fmt.Errorf("%w: share %d: want 0 to 100 percent", ErrInvalid, share)
	}
	return s.manual(ctx, id, func(r *Rollout) error {
		detail := map[string]string{"manual": "true"}
		if r.State == StateEvaluating {
			detail["eval"] = "skipped by the operator"
		}
		if share == 0 || share == 100 {
			return s.promote(ctx, r, actor, detail)
		}
		return s.setShare(ctx, r, share, actor, detail)
	})
}

// manual runs an operator's step on the rollout as it stands. The gate
// loop may take a step of its own between the read and the write (the
// eval gate passing, a share rising); the step is then tried again on
// the new state, so an operator's promote or rollback is not refused for
// a race it cannot see. A rollout that has ended is ErrConflict.
func (s *Store) manual(ctx context.Context, id string, step func(r *Rollout) error) (*Rollout, error) {
	for try := 0; ; try++ {
		r, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if !r.Live() {
			return nil, fmt.Errorf("%w: rollout %s is %s", ErrConflict, r.ID, r.State)
		}
		err = step(r)
		if errors.Is(err, ErrConflict) && try < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return s.Get(ctx, id)
	}
}

// Rollback ends a rollout under way: the candidate serves no one and the
// stable stays.
func (s *Store) Rollback(ctx context.Context, id, actor, reason string) (*Rollout, error) {
	if len(reason) > 1024 {
		return nil, fmt.Errorf("%w: reason: at most 1024 bytes", ErrInvalid)
	}
	if reason == "" {
		reason = "rolled back by the operator"
	}
	return s.manual(ctx, id, func(r *Rollout) error {
		return s.rollback(ctx, r, actor, reason, map[string]string{"manual": "true"})
	})
}

// transition changes r from its state and share (compare-and-set: a
// concurrent change makes it ErrConflict) to state and share, recording
// action with detail; set adds columns to the update, extra runs in the
// same transaction.
func (s *Store) transition(ctx context.Context, r *Rollout, state string, share int, action, actor string, detail map[string]string,
	set string, setArgs []any, extra func(tx *sql.Tx, now time.Time) error) error {
	now := s.now().UTC()
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rollout: %s: %w", action, err)
	}
	defer tx.Rollback()
	q := `UPDATE rollouts SET state = ?, share = ?, updated = ?` + set + ` WHERE id = ? AND state = ? AND share = ?`
	args := append(append([]any{state, share, now.UnixNano()}, setArgs...), r.ID, r.State, r.Share)
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("rollout: %s: %w", action, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%w: rollout %s changed meanwhile", ErrConflict, r.ID)
	}
	if share != r.Share {
		// A new share: its step sample starts again.
		if _, err := tx.ExecContext(ctx, `UPDATE rollout_arms SET step_requests = 0 WHERE rollout_id = ?`, r.ID); err != nil {
			return fmt.Errorf("rollout: %s: %w", action, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE rollouts SET step_started = ? WHERE id = ?`, now.UnixNano(), r.ID); err != nil {
			return fmt.Errorf("rollout: %s: %w", action, err)
		}
	}
	if extra != nil {
		if err := extra(tx, now); err != nil {
			return fmt.Errorf("rollout: %s: %w", action, err)
		}
	}
	from := r.State
	r.State, r.Share = state, share
	if detail == nil {
		detail = map[string]string{}
	}
	detail["from"] = from
	if err := s.commit(ctx, tx, r, action, actor, detail); err != nil {
		return fmt.Errorf("rollout: %s: %w", action, err)
	}
	s.refreshQuietly(ctx)
	return nil
}

func (s *Store) setShare(ctx context.Context, r *Rollout, share int, actor string, detail map[string]string) error {
	detail["share_from"] = strconv.Itoa(r.Share)
	return s.transition(ctx, r, StateLive, share, "share", actor, detail, "", nil, nil)
}

func (s *Store) promote(ctx context.Context, r *Rollout, actor string, detail map[string]string) error {
	return s.transition(ctx, r, StatePromoted, 100, "promote", actor, detail, "", nil, func(tx *sql.Tx, now time.Time) error {
		// One row per deployment however its name is spelt: drop the
		// other spellings first.
		rows, err := tx.QueryContext(ctx, `SELECT model FROM rollout_deployments WHERE tenant_id = ?`, r.TenantID)
		if err != nil {
			return err
		}
		var stale []string
		for rows.Next() {
			var m string
			if err := rows.Scan(&m); err != nil {
				rows.Close()
				return err
			}
			if modelname.Same(m, r.Model) {
				stale = append(stale, m)
			}
		}
		rows.Close()
		for _, m := range stale {
			if _, err := tx.ExecContext(ctx, `DELETE FROM rollout_deployments WHERE tenant_id = ? AND model = ?`, r.TenantID, m); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO rollout_deployments (tenant_id, model, stable, rollout_id, updated) VALUES (?, ?, ?, ?, ?)`,
			r.TenantID, r.Model, r.Candidate, r.ID, now.UnixNano())
		return err
	})
}

func (s *Store) rollback(ctx context.Context, r *Rollout, actor, reason string, detail map[string]string) error {
	detail["reason"] = reason
	return s.transition(ctx, r, StateRolledBack, 0, "rollback", actor, detail, `, reason = ?`, []any{reason}, nil)
}

// commit writes the step's history row and commits tx once its audit
// record is durable; when the log cannot record, nothing is changed.
func (s *Store) commit(ctx context.Context, tx *sql.Tx, r *Rollout, action, actor string, detail map[string]string) error {
	if actor == "" {
		actor = "gate"
	}
	d := map[string]string{"rollout": r.ID, "stable": r.Stable, "candidate": r.Candidate, "state": r.State,
		"share": strconv.Itoa(r.Share), "actor": actor}
	for k, v := range detail {
		d[k] = v
	}
	raw, _ := json.Marshal(d)
	if _, err := tx.ExecContext(ctx, `INSERT INTO rollout_events (rollout_id, time, action, actor, detail) VALUES (?, ?, ?, ?, ?)`,
		r.ID, s.now().UTC().UnixNano(), action, actor, string(raw)); err != nil {
		return err
	}
	if s.cfg.Audit != nil {
		rec := audit.Record{Kind: KindRollout, Node: s.cfg.Node, Jurisdiction: s.cfg.Jurisdiction, Tenant: r.TenantID, Model: r.Model,
			Decision: audit.DecisionAllow, Reason: "rollout." + action, Detail: d}
		if _, err := s.cfg.Audit.Append(context.WithoutCancel(ctx), rec); err != nil {
			return fmt.Errorf("its audit record could not be made durable, nothing was changed: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		if s.cfg.Audit != nil {
			s.cfg.Audit.Append(context.WithoutCancel(ctx), audit.Record{Kind: KindRollout, Node: s.cfg.Node, Jurisdiction: s.cfg.Jurisdiction,
				Tenant: r.TenantID, Model: r.Model, Decision: audit.DecisionError, Reason: "rollout." + action + ".rolled_back", Detail: d})
		}
		return err
	}
	if s.cfg.OnChange != nil {
		s.cfg.OnChange()
	}
	return nil
}

// clip shortens a client's text for an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
