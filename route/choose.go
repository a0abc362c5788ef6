package route

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/tenant"
)

// ErrNoPermittedNode: no node inside the request's policy can serve it.
// The request must fail closed (503), never run elsewhere.
var ErrNoPermittedNode = errors.New("route: no permitted node can serve the request")

// ErrBadQuery: the query itself is wrong, such as a narrowing
// jurisdiction outside the policy's.
var ErrBadQuery = errors.New("route: bad query")

// Scoring weights. A queued request costs about as much as a distant
// node's round trip, so load spreads before latency is paid twice.
const (
	// QueuePenalty is added per request waiting in a node's queue.
	QueuePenalty = 20 * time.Millisecond
	// KVPenalty is added in proportion to the share of the node's KV
	// cache in use (full: all of it): a full cache evicts prefixes.
	KVPenalty = 20 * time.Millisecond
	// AffinityBonus is taken off the prefix owner's score: worth about
	// one queued request, so affinity never outweighs real overload.
	AffinityBonus = 25 * time.Millisecond
	// AdapterBonus is taken off the score of a node that holds the
	// request's adapter loaded: any other node must first fetch it (from
	// its replica table or across the fleet) and load it, evicting
	// another. Worth two queued requests, more than prefix affinity, but
	// not enough to pile a burst onto one overloaded node.
	AdapterBonus = 40 * time.Millisecond
	// InFlightPenalty is added per request this gateway has sent to the
	// node and not yet seen finish: heartbeats report load once a
	// second, so without it a burst would all go to one node.
	InFlightPenalty = 10 * time.Millisecond
	// DefaultMaxQueue: nodes with more requests waiting are overloaded.
	DefaultMaxQueue = 32
)

// Query describes a request to place.
type Query struct {
	// Model the request needs; a node qualifies only if its Load.Models
	// lists it. For a request naming an adapter it is the adapter's base.
	Model string
	// Adapter is the served name of the LoRA adapter the request names,
	// "BASE:ADAPTER" or "BASE:ADAPTER@VERSION" with BASE the Model; empty:
	// none. Every node serving the base qualifies (a node fetches an
	// adapter it lacks), and those whose Load.Adapters hold it get
	// AdapterBonus: the same version, or any version of the name when the
	// request names none. A tenant's adapter is listed by its AdapterKey
	// (see AdapterKeys), which only a query with its Tenant matches.
	Adapter string
	// Tenant names the tenant whose request this is (the authenticated
	// one; access.LocalTenant without tenants), by the name the fleet
	// knows it by, which a tenant's adapter keys are made with; empty:
	// only adapters listed by name (published ones) get AdapterBonus.
	Tenant string
	// Jurisdictions the tenant's policy permits; empty permits any.
	Jurisdictions []string
	// Narrow is the X-Hearth-Jurisdiction header: only nodes in it
	// qualify. It must be one of Jurisdictions when those are set.
	Narrow string
	// PrefixKey identifies the prompt's prefix (a hash of the system
	// prompt) for cache affinity; empty: no affinity.
	PrefixKey string
	// Self is this (the gateway) node's ID: its round trip counts as 0.
	Self string
	// Exclude lists nodes already tried for this request.
	Exclude []string
	// MaxQueue overrides DefaultMaxQueue when positive.
	MaxQueue int
	// InFlight counts, by node ID, the requests this gateway has running
	// there (see InFlightPenalty); nil: none.
	InFlight map[string]int
}

// Candidate is a node that qualified, with its score (lower is better)
// and how the score was made.
type Candidate struct {
	ID           string
	Jurisdiction string
	Score        time.Duration
	Reason       string
}

// Rejection is a node that did not qualify and why.
type Rejection struct {
	ID           string
	Jurisdiction string
	Reason       string
}

// Decision is the outcome of Choose, everything the audit log needs.
type Decision struct {
	Node       string      // the chosen node's ID
	Candidates []Candidate // every qualifying node, best first
	Rejected   []Rejection // every other node, by ID
	Reason     string      // one line on why Node was chosen
}

// Choose picks the node to serve q among peers (the fabric's table, self
// included). See the package doc for the rules.
func Choose(peers []fabric.Peer, q Query) (Decision, error) {
	if err := q.check(); err != nil {
		return Decision{}, err
	}
	maxQueue := q.MaxQueue
	if maxQueue <= 0 {
		maxQueue = DefaultMaxQueue
	}
	var d Decision
	var ok []fabric.Peer
	for _, p := range peers {
		if why := q.reject(p, maxQueue); why != "" {
			d.Rejected = append(d.Rejected, Rejection{ID: p.ID, Jurisdiction: p.Jurisdiction, Reason: why})
			continue
		}
		ok = append(ok, p)
	}
	slices.SortFunc(d.Rejected, func(a, b Rejection) int { return strings.Compare(a.ID, b.ID) })
	if len(ok) == 0 {
		return d, q.noNode(d.Rejected)
	}

	owner := ""
	if q.PrefixKey != "" {
		ids := make([]string, len(ok))
		for i, p := range ok {
			ids[i] = p.ID
		}
		owner = Owner(q.PrefixKey, ids)
	}
	for _, p := range ok {
		d.Candidates = append(d.Candidates, q.score(p, owner))
	}
	slices.SortFunc(d.Candidates, func(a, b Candidate) int {
		if a.Score != b.Score {
			return cmpDur(a.Score, b.Score)
		}
		return strings.Compare(a.ID, b.ID)
	})
	best := d.Candidates[0]
	d.Node = best.ID
	d.Reason = fmt.Sprintf("chose %s (%s), lowest score %v of %d candidate(s): %s", best.ID, best.Jurisdiction, best.Score, len(d.Candidates), best.Reason)
	return d, nil
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// check validates the query: jurisdictions well formed, and Narrow within
// the policy's.
func (q Query) check() error {
	for _, j := range q.Jurisdictions {
		if err := tenant.ValidateJurisdiction(j); err != nil {
			return fmt.Errorf("%w: permitted jurisdiction: %v", ErrBadQuery, err)
		}
	}
	if q.Narrow != "" {
		if err := tenant.ValidateJurisdiction(q.Narrow); err != nil {
			return fmt.Errorf("%w: X-Hearth-Jurisdiction: %v", ErrBadQuery, err)
		}
		if len(q.Jurisdictions) > 0 && !slices.Contains(q.Jurisdictions, q.Narrow) {
			return fmt.Errorf("%w: X-Hearth-Jurisdiction %s is outside the jurisdictions the policy permits (%s)",
				ErrBadQuery, q.Narrow, strings.Join(q.Jurisdictions, ", "))
		}
	}
	if q.Model == "" {
		return fmt.Errorf("%w: no model", ErrBadQuery)
	}
	if q.Adapter != "" {
		base, _, ok := SplitAdapter(q.Adapter)
		if !ok || !SameModel(base, q.Model) {
			return fmt.Errorf("%w: adapter %q is not BASE:ADAPTER for the model %q", ErrBadQuery, q.Adapter, q.Model)
		}
	}
	return nil
}

// reject says why p cannot serve q, or "" if it can. Trust comes first:
// an uncertified node's claimed jurisdiction means nothing.
func (q Query) reject(p fabric.Peer, maxQueue int) string {
	switch {
	case !p.Certified:
		why := p.CertProblem
		if why == "" {
			why = "unknown reason"
		}
		return "not certified: " + why
	case len(q.Jurisdictions) > 0 && !slices.Contains(q.Jurisdictions, p.Jurisdiction):
		return fmt.Sprintf("jurisdiction %s not permitted", p.Jurisdiction)
	case q.Narrow != "" && p.Jurisdiction != q.Narrow:
		return fmt.Sprintf("jurisdiction %s is not the requested %s", p.Jurisdiction, q.Narrow)
	case !slices.ContainsFunc(p.Load.Models, func(m string) bool { return SameModel(m, q.Model) }):
		return fmt.Sprintf("does not serve model %q", q.Model)
	case slices.Contains(q.Exclude, p.ID):
		return "already tried"
	case p.Load.Queue > maxQueue:
		return fmt.Sprintf("overloaded: %d queued, limit %d", p.Load.Queue, maxQueue)
	}
	return ""
}

// maxQueue bounds the queue a score counts: far more than any node holds.
const maxQueue = 1 << 20

// score computes p's score and its explanation.
func (q Query) score(p fabric.Peer, owner string) Candidate {
	rtt := p.RTT
	if p.ID == q.Self || p.Self {
		rtt = 0
	}
	// A peer's reported queue is held to a sane range, so that no number
	// in a heartbeat can wrap the score and make a node look best.
	queue := min(max(p.Load.Queue, 0), maxQueue)
	s := rtt + time.Duration(queue)*QueuePenalty
	why := fmt.Sprintf("rtt %v", rtt)
	if queue > 0 {
		why += fmt.Sprintf(" + queue %d×%v", queue, QueuePenalty)
	}
	if k := q.InFlight[p.ID]; k > 0 {
		s += time.Duration(k) * InFlightPenalty
		why += fmt.Sprintf(" + %d in flight×%v", k, InFlightPenalty)
	}
	if p.Load.KVTotalBytes > 0 && p.Load.KVUsedBytes > 0 {
		use := min(float64(p.Load.KVUsedBytes)/float64(p.Load.KVTotalBytes), 1)
		s += time.Duration(use * float64(KVPenalty))
		why += fmt.Sprintf(" + kv %.0f%%×%v", 100*use, KVPenalty)
	}
	if p.ID == owner {
		s -= AffinityBonus
		why += fmt.Sprintf(" − prefix affinity %v", AffinityBonus)
	}
	if q.holdsAdapter(p.Load.Adapters) {
		s -= AdapterBonus
		why += fmt.Sprintf(" − adapter loaded %v", AdapterBonus)
	}
	return Candidate{ID: p.ID, Jurisdiction: p.Jurisdiction, Score: s, Reason: why}
}

// holdsAdapter reports whether have, a node's Load.Adapters, holds q's
// adapter: the tenant's own by key (with the version the query names, or
// any version when it names none, for which AdapterKeys lists a key of
// its own), or one listed by its served name. The names are those of
// published adapters, and of tenants' adapters in the heartbeats of nodes
// from before keys, which match as they always did.
func (q Query) holdsAdapter(have []string) bool {
	if q.Adapter == "" {
		return false
	}
	if q.Tenant != "" && slices.Contains(have, AdapterKey(q.Tenant, q.Adapter)) {
		return true
	}
	return HoldsAdapter(have, q.Adapter)
}

// noNode is the fail-closed error: the policy and every rejection.
func (q Query) noNode(rej []Rejection) error {
	js := "any"
	if len(q.Jurisdictions) > 0 {
		js = strings.Join(q.Jurisdictions, ", ")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "model %q, permitted jurisdictions %s", q.Model, js)
	if q.Narrow != "" {
		fmt.Fprintf(&b, ", narrowed to %s", q.Narrow)
	}
	if len(rej) == 0 {
		b.WriteString("; no nodes are known")
	}
	for _, r := range rej {
		fmt.Fprintf(&b, "; node %s (%s): %s", r.ID, r.Jurisdiction, r.Reason)
	}
	return fmt.Errorf("%w: %s", ErrNoPermittedNode, b.String())
}
