package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/flywheel/rollout"
	"github.com/hearth-ai/hearth/modelname"
	"github.com/hearth-ai/hearth/tenant"
)

// Tenants finds a node's tenant by name or id; *tenant.Store implements
// it.
type Tenants interface {
	GetTenant(ctx context.Context, nameOrID string) (tenant.Tenant, error)
}

// Config configures a Fleet. Node, Rollouts and Tenants are required.
type Config struct {
	// Node is the fabric node the deliveries travel over. New registers
	// the handlers on it, so it is given before the node starts.
	Node *fabric.Node
	// Rollouts is this node's rollout store: the home's rollouts are
	// told from it, and other nodes' observations counted in it.
	Rollouts *rollout.Store
	Tenants  Tenants
	// Interval is how often the home tells the fleet its rollouts, besides
	// at every change; 0 means 5 seconds.
	Interval time.Duration
	// StaleAfter is how long a node serves a live rollout's candidate
	// after it last heard from the rollout's home; then it serves the
	// stable until it hears again. 0 means 6 × Interval.
	StaleAfter time.Duration
	// FlushInterval is how often observations go to the home; 0 means 1
	// second. GiveUp is how long one is retried while the home does not
	// take it; 0 means 2 minutes. MaxQueue bounds those waiting; 0 means
	// 10,000. Observations given up or pushed out are dropped and counted
	// (Dropped).
	FlushInterval time.Duration
	GiveUp        time.Duration
	MaxQueue      int
	Now           func() time.Time // nil: time.Now
	Logger        *slog.Logger     // nil: discard
}

// Fleet is one node's side of the rollouts' fleet protocol: as a home it
// tells the permitted nodes its rollouts and counts what they observe; as
// any other node it picks from what the homes told it and sends them its
// observations.
type Fleet struct {
	cfg     Config
	node    *fabric.Node
	store   *rollout.Store
	tenants Tenants
	now     func() time.Time
	log     *slog.Logger
	changed chan struct{}
	full    chan struct{}
	dropped atomic.Int64

	mu    sync.Mutex
	view  map[viewKey]*heard
	queue []queued
}

type viewKey struct{ tenant, model string } // tenant name, canonical model

// heard is a deployment as its home last told it.
type heard struct {
	State
	home string    // the node that told it
	at   time.Time // when it last did
}

// queued is an observation waiting for its home.
type queued struct {
	home, tenant string
	obs          Observation
	at           time.Time
}

// New registers the state and observe handlers on cfg.Node.
func New(cfg Config) (*Fleet, error) {
	if cfg.Node == nil || cfg.Rollouts == nil || cfg.Tenants == nil {
		return nil, errors.New("rollout fleet: Node, Rollouts and Tenants are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 6 * cfg.Interval
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = time.Second
	}
	if cfg.GiveUp <= 0 {
		cfg.GiveUp = 2 * time.Minute
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 10_000
	}
	f := &Fleet{cfg: cfg, node: cfg.Node, store: cfg.Rollouts, tenants: cfg.Tenants, now: cfg.Now, log: cfg.Logger,
		changed: make(chan struct{}, 1), full: make(chan struct{}, 1), view: map[viewKey]*heard{}}
	if f.now == nil {
		f.now = time.Now
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	for kind, h := range map[string]fabric.DeliverHandler{KindState: f.takeState, KindObserve: f.takeObservations} {
		if err := cfg.Node.HandleDeliver(kind, h); err != nil {
			return nil, fmt.Errorf("rollout fleet: %w", err)
		}
	}
	return f, nil
}

// Changed tells the fleet of a change in this node's rollouts at once
// (rollout.Config.OnChange). It does not block.
func (f *Fleet) Changed() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

// Dropped is how many observations were dropped: their home did not take
// them within Config.GiveUp, refused them, or too many were waiting.
func (f *Fleet) Dropped() int64 { return f.dropped.Load() }

// Run tells the fleet this node's rollouts now, at every change and every
// Config.Interval, and sends the observations to their homes every
// Config.FlushInterval, until ctx ends.
func (f *Fleet) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	// Apart, so that a node slow to answer a state delays no observations.
	wg.Go(func() {
		flush := time.NewTicker(f.cfg.FlushInterval)
		defer flush.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-flush.C:
			case <-f.full:
			}
			f.flush(ctx)
		}
	})
	tell := time.NewTicker(f.cfg.Interval)
	defer tell.Stop()
	for {
		f.tell(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tell.C:
		case <-f.changed:
		}
	}
}

// homeIn reports whether a node in j is a home of t's: in its home
// jurisdiction, or, for a tenant whose data is not pinned, anywhere its
// policy permits.
func homeIn(t tenant.Tenant, j string) bool {
	if t.Policy.Home != "" {
		return t.Policy.Home == j
	}
	return t.Policy.AllowsJurisdiction(j)
}

// tell delivers every deployment of each tenant this node is the home of
// to the certified nodes the tenant's policy permits, and to no other.
func (f *Fleet) tell(ctx context.Context) {
	deps, err := f.store.Deployments(ctx)
	if err != nil {
		f.log.Warn("rollout fleet: reading the deployments", "err", err)
		return
	}
	byTenant := map[string][]State{}
	var order []string
	for _, d := range deps {
		if _, ok := byTenant[d.TenantID]; !ok {
			order = append(order, d.TenantID)
		}
		byTenant[d.TenantID] = append(byTenant[d.TenantID], State{ID: d.ID, Model: d.Model, Stable: d.Stable, Candidate: d.Candidate,
			State: d.State, Share: d.Share, Seq: d.Seq})
	}
	peers := f.node.Peers()
	var wg sync.WaitGroup
	for _, id := range order {
		t, err := f.tenants.GetTenant(ctx, id)
		if err != nil || t.ID != id || t.Disabled || !homeIn(t, f.node.Jurisdiction()) {
			continue // gone, or no longer this node's to tell
		}
		states := byTenant[id]
		if len(states) > MaxStates {
			states = states[len(states)-MaxStates:] // the most recent
		}
		payload, err := json.Marshal(stateMsg{Tenant: t.Name, States: states})
		if err != nil {
			continue
		}
		for _, p := range peers {
			if p.Self || !p.Certified || !t.Policy.AllowsJurisdiction(p.Jurisdiction) {
				continue
			}
			wg.Go(func() {
				reply, err := f.node.DeliverTo(ctx, p.ID, KindState, payload)
				if err == nil {
					err = readAnswer(reply, nil)
				}
				if err != nil && ctx.Err() == nil {
					f.log.Debug("rollout fleet: telling a node the rollouts", "tenant", t.Name, "to", p.ID, "err", err)
				}
			})
		}
	}
	wg.Wait()
}

// lookup finds the local tenant another node names, not disabled, and
// permitted in from's jurisdiction; a refusal is the answer to send.
func (f *Fleet) lookup(ctx context.Context, name string, from fabric.Peer) (tenant.Tenant, []byte, error) {
	t, err := f.tenants.GetTenant(ctx, name)
	switch {
	case errors.Is(err, tenant.ErrNotFound) || err == nil && t.Name != name: // a name, never an id: ids are per node
		r, err := refusal(codeNoTenant, "no tenant %q on this node", clip(name))
		return t, r, err
	case err != nil:
		return t, nil, err
	case t.Disabled:
		r, err := refusal(codeNotPermitted, "tenant %s is disabled on this node", name)
		return t, r, err
	case !t.Policy.AllowsJurisdiction(from.Jurisdiction):
		r, err := refusal(codeNotPermitted, "tenant %s may not be served in %s, where node %s is", name, from.Jurisdiction, from.ID)
		return t, r, err
	}
	return t, nil, nil
}

// takeState keeps what a tenant's home tells of its deployments.
func (f *Fleet) takeState(ctx context.Context, from fabric.Peer, payload []byte) ([]byte, error) {
	var m stateMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		return refusal(codeInvalid, "rollout state does not decode: %v", err)
	}
	if len(m.States) > MaxStates {
		return refusal(codeInvalid, "%d states, more than %d", len(m.States), MaxStates)
	}
	t, refused, err := f.lookup(ctx, m.Tenant, from)
	if refused != nil || err != nil {
		return refused, err
	}
	if !homeIn(t, from.Jurisdiction) {
		return refusal(codeNotHome, "node %s is in %s, not tenant %s's home (%s)", from.ID, from.Jurisdiction, t.Name, homeOf(t))
	}
	for _, s := range m.States {
		if err := s.check(); err != nil {
			return refusal(codeInvalid, "%v", err)
		}
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range m.States {
		k := viewKey{t.Name, modelname.Canonical(s.Model)}
		h := f.view[k]
		switch {
		case h == nil || h.home != from.ID || s.Seq >= h.Seq:
			f.view[k] = &heard{State: s, home: from.ID, at: now}
		default:
			h.at = now // a late delivery: the home is there all the same
		}
	}
	return json.Marshal(answer{})
}

func homeOf(t tenant.Tenant) string {
	if t.Policy.Home != "" {
		return t.Policy.Home
	}
	return "any of " + strings.Join(t.Policy.Jurisdictions, ", ")
}

// Assignment is the version that serves one request for a deployment
// whose home is another node.
type Assignment struct {
	Rollout string
	Arm     string // rollout.ArmStable or rollout.ArmCandidate
	Model   string // the version's served name
	home    string
	tenant  string // name
	share   int
	counted bool // a rollout under way, heard of lately: its outcome goes home
}

// Pick returns the version that serves t's request for model by endUser
// (OpenAI's "user") or else keyID, as the deployment's home told this
// node: a live rollout's arm as the home picks it (rollout.ArmOf), a
// promoted rollout's candidate, a rolled-back one's stable (none when that
// is the model itself, served as named, as at home); and the
// stable while the home has not been heard from for Config.StaleAfter.
// False when no home told this node of the deployment.
func (f *Fleet) Pick(t tenant.Tenant, model, endUser, keyID string) (Assignment, bool) {
	f.mu.Lock()
	h := f.view[viewKey{t.Name, modelname.Canonical(model)}]
	var s State
	var home string
	var at time.Time
	if h != nil {
		s, home, at = h.State, h.home, h.at
	}
	f.mu.Unlock()
	if h == nil {
		return Assignment{}, false
	}
	a := Assignment{Rollout: s.ID, Arm: rollout.ArmStable, Model: s.Stable, home: home, tenant: t.Name, share: s.Share}
	switch s.State {
	case rollout.StateRolledBack:
		if modelname.Same(s.Stable, s.Model) {
			return Assignment{}, false // as at home: the model itself, served as named
		}
	case rollout.StatePromoted:
		a.Model = s.Candidate
	case rollout.StateEvaluating, rollout.StateLive:
		if f.now().Sub(at) > f.cfg.StaleAfter {
			return a, true // fail safe: the stable, until the home is heard again
		}
		a.counted = true
		if rollout.ArmOf(s.ID, s.State, s.Share, endUser, keyID) == rollout.ArmCandidate {
			a.Arm, a.Model = rollout.ArmCandidate, s.Candidate
		}
	}
	return a, true
}

// Observe queues a request's outcome for the rollout's home, which counts
// it for the arm and remembers the response for its feedback.
func (f *Fleet) Observe(a Assignment, o rollout.Observation) {
	if !a.counted {
		return
	}
	q := queued{home: a.home, tenant: a.tenant, at: f.now(), obs: Observation{Rollout: a.Rollout, Arm: a.Arm, Share: a.share,
		Failed: o.Failed, Seconds: o.Duration.Seconds(), ResponseID: o.ResponseID}}
	f.mu.Lock()
	if len(f.queue) >= f.cfg.MaxQueue {
		f.queue = f.queue[1:]
		f.dropped.Add(1)
	}
	f.queue = append(f.queue, q)
	n := len(f.queue)
	f.mu.Unlock()
	if n%MaxBatch == 0 {
		select {
		case f.full <- struct{}{}:
		default:
		}
	}
}

// flush sends the waiting observations to their homes, at most MaxBatch
// a delivery; what a home does not take now waits for the next flush,
// until Config.GiveUp.
func (f *Fleet) flush(ctx context.Context) {
	f.mu.Lock()
	q := f.queue
	f.queue = nil
	f.mu.Unlock()
	if len(q) == 0 {
		return
	}
	now := f.now()
	type dest struct{ home, tenant string }
	groups := map[dest][]queued{}
	var order []dest
	for _, e := range q {
		if now.Sub(e.at) > f.cfg.GiveUp {
			f.dropped.Add(1)
			continue
		}
		d := dest{e.home, e.tenant}
		if _, ok := groups[d]; !ok {
			order = append(order, d)
		}
		groups[d] = append(groups[d], e)
	}
	var retry []queued
	for _, d := range order {
		g := groups[d]
		for len(g) > 0 {
			n := min(len(g), MaxBatch)
			batch := g[:n]
			obs := make([]Observation, n)
			for i, e := range batch {
				obs[i] = e.obs
			}
			err := f.send(ctx, d.home, d.tenant, obs)
			switch {
			case err == nil:
			case errors.Is(err, errRefused):
				f.dropped.Add(int64(n)) // asking again would be refused again
				f.log.Warn("rollout fleet: observations refused by the home", "home", d.home, "tenant", d.tenant, "n", n, "err", err)
			default:
				retry = append(retry, batch...)
				f.log.Debug("rollout fleet: observations not delivered, retrying", "home", d.home, "n", n, "err", err)
			}
			g = g[n:]
		}
	}
	if len(retry) == 0 {
		return
	}
	f.mu.Lock()
	f.queue = append(retry, f.queue...)
	if over := len(f.queue) - f.cfg.MaxQueue; over > 0 {
		f.queue = f.queue[over:]
		f.dropped.Add(int64(over))
	}
	f.mu.Unlock()
}

var errRefused = errors.New("refused")

func (f *Fleet) send(ctx context.Context, home, tenantName string, obs []Observation) error {
	payload, err := json.Marshal(observeMsg{Tenant: tenantName, Observations: obs})
	if err != nil {
		return fmt.Errorf("%w: %w", errRefused, err)
	}
	reply, err := f.node.DeliverTo(ctx, home, KindObserve, payload)
	if err != nil {
		return err
	}
	return readAnswer(reply, nil)
}

// readAnswer reads a reply; a refusal wraps errRefused.
func readAnswer(reply []byte, a *answer) error {
	if a == nil {
		a = &answer{}
	}
	if err := json.Unmarshal(reply, a); err != nil {
		return fmt.Errorf("%w: the answer does not decode: %w", errRefused, err)
	}
	if a.Error != "" {
		return fmt.Errorf("%w: %s: %s", errRefused, a.Error, a.Message)
	}
	return nil
}

// takeObservations counts another node's observations of this node's
// rollouts as if they were made here.
func (f *Fleet) takeObservations(ctx context.Context, from fabric.Peer, payload []byte) ([]byte, error) {
	var m observeMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		return refusal(codeInvalid, "rollout observations do not decode: %v", err)
	}
	if len(m.Observations) > MaxBatch {
		return refusal(codeInvalid, "%d observations, more than %d", len(m.Observations), MaxBatch)
	}
	t, refused, err := f.lookup(ctx, m.Tenant, from)
	if refused != nil || err != nil {
		return refused, err
	}
	if !homeIn(t, f.node.Jurisdiction()) {
		return refusal(codeNotHome, "this node is in %s, not tenant %s's home (%s)", f.node.Jurisdiction(), t.Name, homeOf(t))
	}
	for _, o := range m.Observations {
		if err := o.check(); err != nil {
			return refusal(codeInvalid, "%v", err)
		}
	}
	counted := 0
	for _, o := range m.Observations {
		a, ok := f.store.Assign(t.ID, o.Rollout, o.Arm, o.Share)
		if !ok {
			continue // ended meanwhile, or not this node's
		}
		f.store.Observe(a, t.ID, rollout.Observation{ResponseID: o.ResponseID, Failed: o.Failed,
			Duration: time.Duration(o.Seconds * float64(time.Second))})
		counted++
	}
	return json.Marshal(answer{Counted: counted})
}
