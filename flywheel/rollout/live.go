package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Assignment is the version that serves one request for a deployment.
type Assignment struct {
	Rollout string // the rollout's id; for a promoted deployment, the rollout that promoted its stable
	Arm     string // ArmStable or ArmCandidate
	Model   string // the version's served name
	share   int    // the share it was picked at, for the step sample
	counted bool   // a rollout under way: its outcome is observed
}

// Bucket is the end user's place in the rollout, 0 to 99: the candidate
// serves the users whose bucket is below its share, so as the share rises
// users only move from the stable to the candidate, never back. who is
// OpenAI's "user" when the request has one, else the API key's id.
func Bucket(rolloutID, who string) int {
	h := sha256.New()
	h.Write([]byte(rolloutID))
	h.Write([]byte{0})
	h.Write([]byte(who))
	return int(binary.BigEndian.Uint64(h.Sum(nil)[:8]) % 100)
}

// ArmOf is the arm that serves an end user (OpenAI's "user", else the
// key's id) in a rollout in state at share: the candidate for a live
// rollout's users whose Bucket is below the share, else the stable.
// Every node of a fleet picks with it, so a user gets the same arm on
// every node.
func ArmOf(rolloutID, state string, share int, endUser, keyID string) string {
	who := "user\x00" + endUser
	if endUser == "" {
		who = "key\x00" + keyID
	}
	if state == StateLive && Bucket(rolloutID, who) < share {
		return ArmCandidate
	}
	return ArmStable
}

// Pick returns the version that serves tenantID's request for model, by
// endUser (OpenAI's "user") or else keyID; false when model is no
// deployment of the tenant's (a request naming a version explicitly is
// none, and goes as it is).
func (s *Store) Pick(tenantID, model, endUser, keyID string) (Assignment, bool) {
	k := keyOf(tenantID, model)
	s.mu.Lock()
	defer s.mu.Unlock()
	if lr := s.live[k]; lr != nil {
		a := Assignment{Rollout: lr.id, Arm: ArmStable, Model: lr.stable, share: lr.share, counted: true}
		if ArmOf(lr.id, lr.state, lr.share, endUser, keyID) == ArmCandidate {
			a.Arm, a.Model = ArmCandidate, lr.candidate
		}
		return a, true
	}
	if d, ok := s.deployed[k]; ok {
		return Assignment{Rollout: d.rollout, Arm: ArmStable, Model: d.stable}, true
	}
	return Assignment{}, false
}

// Observation is how one request served by an assignment ended.
type Observation struct {
	ResponseID string
	Failed     bool // an error of the node's or the model's, not the client's going away
	Duration   time.Duration
}

// deltaKey keys the observations not yet written to the database: an
// arm's at a share (-1 for feedback, which has no share).
type deltaKey struct {
	rollout, arm string
	share        int
}

func armIndex(arm string) int {
	if arm == ArmCandidate {
		return 1
	}
	return 0
}

// Observe counts a request's outcome for its arm and remembers which arm
// served the response, for its feedback.
func (s *Store) Observe(a Assignment, tenantID string, o Observation) {
	if !a.counted {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lr := s.byID[a.Rollout]
	if lr == nil {
		return // ended meanwhile
	}
	d := s.deltaLocked(deltaKey{a.Rollout, a.Arm, a.share})
	d.Requests++
	if a.share == lr.share {
		d.StepRequests++
	}
	if o.Failed {
		d.Errors++
	}
	d.Latencies = recent(append(d.Latencies, o.Duration.Seconds()))
	if o.ResponseID != "" {
		s.served.put(o.ResponseID, servedBy{tenant: tenantID, rollout: a.Rollout, arm: a.Arm}, s.now())
	}
	i := armIndex(a.Arm)
	n := lr.base[i].Requests + s.pendingLocked(a.Rollout, a.Arm).Requests
	steps := lr.base[i].StepRequests + s.pendingStepLocked(a.Rollout, a.Arm, lr.share)
	if n == lr.gates.MinRequests || (a.Arm == ArmCandidate && steps == lr.gates.StepSample) {
		s.wake()
	}
}

// Feedback is one piece of feedback on a response.
type Feedback struct {
	Thumb     int // +1, -1, 0
	Rating    int // stars 1-5, 0 none
	Corrected bool
}

// ObserveFeedback counts feedback on a response for the arm that served
// it, if its rollout is still under way and the response is the tenant's,
// recent (Config.ResponseTTL) and not rated before: the first feedback on
// a response counts, so no client can weigh an arm by rating one answer
// again and again. It reports whether it counted.
func (s *Store) ObserveFeedback(tenantID, responseID string, f Feedback) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	by, ok := s.served.get(responseID, s.now())
	if !ok || by.tenant != tenantID || !s.served.rate(responseID) {
		return false
	}
	lr := s.byID[by.rollout]
	if lr == nil {
		return false
	}
	d := s.deltaLocked(deltaKey{by.rollout, by.arm, -1})
	d.Feedback++
	switch {
	case f.Thumb > 0 || f.Rating >= 4:
		d.Up++
	case f.Thumb < 0 || (f.Rating >= 1 && f.Rating <= 2):
		d.Down++
	}
	if f.Corrected {
		d.Corrections++
	}
	if lr.base[armIndex(by.arm)].Feedback+s.pendingLocked(by.rollout, by.arm).Feedback == lr.gates.MinFeedback {
		s.wake()
	}
	return true
}

func (s *Store) deltaLocked(k deltaKey) *Counts {
	if s.pending == nil {
		s.pending = map[deltaKey]*Counts{}
	}
	d := s.pending[k]
	if d == nil {
		d = &Counts{}
		s.pending[k] = d
	}
	return d
}

// pendingLocked sums an arm's unwritten counts over shares.
func (s *Store) pendingLocked(rollout, arm string) Counts {
	var c Counts
	for k, d := range s.pending {
		if k.rollout == rollout && k.arm == arm {
			c.Requests += d.Requests
			c.Feedback += d.Feedback
		}
	}
	return c
}

func (s *Store) pendingStepLocked(rollout, arm string, share int) int {
	if d := s.pending[deltaKey{rollout, arm, share}]; d != nil {
		return d.StepRequests
	}
	return 0
}

func (s *Store) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// refresh re-reads the live rollouts and the deployments for Pick.
func (s *Store) refresh(ctx context.Context) error {
	rs, err := s.liveRollouts(ctx)
	if err != nil {
		return err
	}
	live, byID := map[deployKey]*liveRollout{}, map[string]*liveRollout{}
	for _, r := range rs {
		lr := &liveRollout{id: r.ID, tenant: r.TenantID, stable: r.Stable, candidate: r.Candidate, state: r.State, share: r.Share,
			gates: r.Gates, base: [2]Counts{r.StableCounts, r.CandidateCounts}}
		live[keyOf(r.TenantID, r.Model)], byID[r.ID] = lr, lr
	}
	deployed := map[deployKey]deployment{}
	rows, err := s.d.QueryContext(ctx, `SELECT tenant_id, model, stable, rollout_id FROM rollout_deployments`)
	if err != nil {
		return fmt.Errorf("rollout: deployments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t, m string
		var d deployment
		if err := rows.Scan(&t, &m, &d.stable, &d.rollout); err != nil {
			return fmt.Errorf("rollout: deployments: %w", err)
		}
		deployed[keyOf(t, m)] = d
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rollout: deployments: %w", err)
	}
	s.mu.Lock()
	s.live, s.byID, s.deployed = live, byID, deployed
	for k := range s.pending {
		if byID[k.rollout] == nil {
			delete(s.pending, k) // its rollout ended: nothing more to count
		}
	}
	s.mu.Unlock()
	return nil
}

func (s *Store) refreshQuietly(ctx context.Context) {
	if err := s.refresh(ctx); err != nil {
		s.log.Error("rollout: reading the live rollouts", "err", err)
	}
}

func (s *Store) liveRollouts(ctx context.Context) ([]Rollout, error) {
	return s.query(ctx, "live", `SELECT `+rolloutCols+` FROM rollouts WHERE state IN ('evaluating', 'live') ORDER BY created, id`)
}

// Flush writes the observations made since the last flush to the
// database. A failed write puts them back for the next.
func (s *Store) Flush(ctx context.Context) error {
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	var errs []error
	for k, d := range pending {
		if err := s.write(ctx, k, d); err != nil {
			errs = append(errs, err)
			s.mu.Lock()
			s.deltaLocked(k).add(*d)
			s.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

func (c *Counts) add(d Counts) {
	c.Requests += d.Requests
	c.Errors += d.Errors
	c.StepRequests += d.StepRequests
	c.Feedback += d.Feedback
	c.Up += d.Up
	c.Down += d.Down
	c.Corrections += d.Corrections
	c.Latencies = recent(append(c.Latencies, d.Latencies...))
}

// recent is the last maxLatencies of durations.
func recent(durations []float64) []float64 {
	if len(durations) > maxLatencies {
		return durations[len(durations)-maxLatencies:]
	}
	return durations
}

func (s *Store) write(ctx context.Context, k deltaKey, d *Counts) error {
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rollout: flush: %w", err)
	}
	defer tx.Rollback()
	var c Counts
	var lat string
	var share int
	if err := tx.QueryRowContext(ctx, `SELECT a.latencies, r.share FROM rollout_arms a JOIN rollouts r ON r.id = a.rollout_id
		WHERE a.rollout_id = ? AND a.arm = ?`, k.rollout, k.arm).Scan(&lat, &share); err != nil {
		return fmt.Errorf("rollout: flush %s: %w", k.rollout, err)
	}
	if err := json.Unmarshal([]byte(lat), &c.Latencies); err != nil {
		return fmt.Errorf("rollout: flush %s: %w", k.rollout, err)
	}
	step := d.StepRequests
	if share != k.share {
		step = 0 // counted at a share the rollout has since left
	}
	c.add(Counts{Latencies: d.Latencies})
	raw, _ := json.Marshal(c.Latencies)
	if _, err := tx.ExecContext(ctx, `UPDATE rollout_arms SET requests = requests + ?, errors = errors + ?, step_requests = step_requests + ?,
		feedback = feedback + ?, up = up + ?, down = down + ?, corrections = corrections + ?, latencies = ? WHERE rollout_id = ? AND arm = ?`,
		d.Requests, d.Errors, step, d.Feedback, d.Up, d.Down, d.Corrections, string(raw), k.rollout, k.arm); err != nil {
		return fmt.Errorf("rollout: flush %s: %w", k.rollout, err)
	}
	return tx.Commit()
}

// Tick writes the observations, then evaluates the gates of every
// rollout under way and takes the steps they call for: the eval gate of
// a rollout evaluating, and for a live one a rollback when a live gate
// fails, the next share when the step's sample (and dwell) is reached,
// and at 100 the promotion when every gate passes.
func (s *Store) Tick(ctx context.Context) error {
	ferr := s.Flush(ctx)
	rs, err := s.liveRollouts(ctx)
	if err != nil {
		return errors.Join(ferr, err)
	}
	var errs []error
	for i := range rs {
		if _, err := s.advance(ctx, &rs[i]); err != nil && !errors.Is(err, ErrConflict) {
			errs = append(errs, err)
		}
	}
	return errors.Join(ferr, errors.Join(errs...), s.refresh(ctx))
}

// Status is a rollout as it stands, its gates evaluated now (and acted
// on: a status can be what promotes or rolls back), with the live gates'
// checks.
func (s *Store) Status(ctx context.Context, id string) (*Rollout, []Check, error) {
	if err := s.Flush(ctx); err != nil {
		s.log.Warn("rollout: status: writing observations", "err", err)
	}
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	checks, err := s.advance(ctx, r)
	if err != nil && !errors.Is(err, ErrConflict) {
		return nil, nil, err
	}
	if r, err = s.Get(ctx, id); err != nil {
		return nil, nil, err
	}
	if checks == nil && r.State != StateEvaluating {
		checks = r.Gates.Live(r.StableCounts, r.CandidateCounts)
	}
	return r, checks, nil
}

// advance takes the step r's gates call for, and returns the live
// gates' checks.
func (s *Store) advance(ctx context.Context, r *Rollout) ([]Check, error) {
	switch r.State {
	case StateEvaluating:
		return nil, s.evaluate(ctx, r)
	case StateLive:
	default:
		return nil, nil
	}
	s.decide.Lock()
	defer s.decide.Unlock()
	r, err := s.Get(ctx, r.ID) // as the decision before this one left it
	if err != nil {
		return nil, err
	}
	if r.State != StateLive {
		return nil, nil
	}
	g := r.Gates
	checks := g.Live(r.StableCounts, r.CandidateCounts)
	v := verdict(checks)
	raw, _ := json.Marshal(checks)
	detail := func() map[string]string {
		return map[string]string{"verdict": v, "checks": string(raw)}
	}
	if v == Fail {
		var failed []string
		for _, c := range checks {
			if c.Verdict == Fail {
				failed = append(failed, c.Gate+": "+c.Why)
			}
		}
		reason := "live gate failed: " + failed[0]
		if err := s.gateEvent(ctx, r, detail()); err != nil {
			return checks, err
		}
		return checks, s.rollback(ctx, r, "gate", reason, detail())
	}
	ready := r.CandidateCounts.StepRequests >= g.StepSample && !s.now().Before(r.StepStarted.Add(g.dwell()))
	switch {
	case !ready:
		return checks, nil
	case r.Share < 100:
		if err := s.gateEvent(ctx, r, detail()); err != nil {
			return checks, err
		}
		d := detail()
		d["share_from"] = strconv.Itoa(r.Share)
		return checks, s.transition(ctx, r, StateLive, g.next(r.Share), "share", "gate", d, "", nil, nil)
	case v == Pass:
		if err := s.gateEvent(ctx, r, detail()); err != nil {
			return checks, err
		}
		return checks, s.promote(ctx, r, "gate", detail())
	}
	return checks, nil // at 100, waiting for the undecided gates
}

// gateEvent records a live gate's result, with its numbers, before the
// step it decides.
func (s *Store) gateEvent(ctx context.Context, r *Rollout, detail map[string]string) error {
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rollout: gate: %w", err)
	}
	defer tx.Rollback()
	return s.commit(ctx, tx, r, "gate", "gate", detail)
}

// evaluate runs the held-out eval gate of a rollout in StateEvaluating:
// passed, the candidate goes live at its start share; failed (or not
// runnable), the rollout is rolled back before any traffic.
func (s *Store) evaluate(ctx context.Context, r *Rollout) error {
	share := r.StartShare
	if share == 0 {
		share = r.Gates.Steps[0]
	}
	if r.Gates.SkipEval {
		return s.transition(ctx, r, StateLive, share, "share", "gate", map[string]string{"eval": "skipped", "share_from": "0"}, "", nil, nil)
	}
	var c EvalCheck
	if s.cfg.Evaluator == nil {
		c = EvalCheck{Verdict: Fail, Margin: r.Gates.EvalMargin, Why: "no evaluator on this node"}
	} else {
		res, err := s.cfg.Evaluator.Compare(ctx, EvalInput{TenantID: r.TenantID, Model: r.Model, Stable: r.Stable, Candidate: r.Candidate,
			Dataset: r.Gates.EvalDataset})
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: evaluate again at the next start
		}
		if err != nil {
			c = EvalCheck{Verdict: Fail, Margin: r.Gates.EvalMargin, Why: "the held-out evaluation failed: " + err.Error()}
		} else {
			c = evalGate(res, r.Gates.EvalMargin)
		}
	}
	raw, _ := json.Marshal(c)
	detail := map[string]string{"verdict": c.Verdict, "eval": string(raw)}
	if c.Verdict != Pass {
		return s.transition(ctx, r, StateRolledBack, 0, "rollback", "gate", map[string]string{"verdict": c.Verdict, "eval": string(raw),
			"reason": "eval gate failed: " + c.Why}, `, eval = ?, reason = ?`, []any{string(raw), "eval gate failed: " + c.Why}, nil)
	}
	detail["share_from"] = "0"
	return s.transition(ctx, r, StateLive, share, "eval", "gate", detail, `, eval = ?`, []any{string(raw)}, nil)
}

// Run evaluates the gates every Config.Interval, and at once when an arm
// reaches a threshold or a rollout starts, until ctx ends; then it writes
// the last observations.
func (s *Store) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := s.Flush(context.WithoutCancel(ctx)); err != nil {
				s.log.Error("rollout: writing the last observations", "err", err)
			}
			return
		case <-t.C:
		case <-s.kick:
		}
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("rollout: gates", "err", err)
		}
	}
}
