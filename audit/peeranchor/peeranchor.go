// Package peeranchor anchors a node's audit log in its fleet: the log's
// head is kept in the node's database (audit.DBAnchor) and by the node's
// certified peers, so that a log cut back or rewritten together with the
// node's database is caught by the peers' memory.
//
// At every checkpoint the node tells its certified peers its head, as a
// fabric delivery of kind "audit-head"; each keeps the latest in its own
// database (under the sending node's id) and answers with the head it held
// before. When the node starts it tells them again and checks their
// answers against its log (audit.Log.Holds): a head a peer remembers that
// the log does not hold is recorded as a peer_audit alarm and makes the
// node not ready (Ready). A peer told a head behind the one it held
// records that in its own audit log, so a node that lost records cannot
// hide it by staying quiet.
//
//	payload and answer: {"seq": n, "hash": hex sha256, "time": RFC 3339}
//
// The answer is the head held before, seq 0 when none. A payload with a
// seq but a hash that is not 64 characters is refused.
//
// This is a package of its own rather than part of capture/relay: it
// guards the audit log, not tenants' data, and shares with relay only the
// fabric it travels over.
package peeranchor

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/fabric"
)

// Kind is the delivery kind of a node's audit head.
const Kind = "audit-head"

// kindPeerAudit is the audit record written when a node's log went back.
const kindPeerAudit = "peer_audit"

// headMsg is the payload and the answer of an audit-head delivery.
type headMsg struct {
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

// Timing of the check at start.
const (
	startWait   = 10 * time.Second // how long Run waits for peers to appear and answer
	tellTimeout = 2 * time.Second  // per peer
)

// Anchor is the audit.Anchor of a node in a fleet: its database, and its
// certified peers over the fabric node.
type Anchor struct {
	db   *audit.DBAnchor
	node *fabric.Node
	log  *slog.Logger

	mu      sync.Mutex
	pending *audit.Head   // saved, not yet told
	wake    chan struct{} // a head is pending

	// problem is what the peers' answers at start showed (nil: nothing).
	problem atomic.Pointer[error]
}

var _ audit.Anchor = (*Anchor)(nil)

// New returns the anchor keeping heads in db and telling them to n's
// certified peers once Run runs.
func New(db *audit.DBAnchor, n *fabric.Node, log *slog.Logger) *Anchor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Anchor{db: db, node: n, log: log, wake: make(chan struct{}, 1)}
}

// LoadAnchor reads the database's anchor.
func (a *Anchor) LoadAnchor(ctx context.Context, node string) (audit.Head, bool, error) {
	return a.db.LoadAnchor(ctx, node)
}

// SaveAnchor keeps h in the database and has Run tell it to the peers
// (only the latest of heads saved meanwhile).
func (a *Anchor) SaveAnchor(ctx context.Context, node string, h audit.Head) error {
	if err := a.db.SaveAnchor(ctx, node, h); err != nil {
		return err
	}
	a.mu.Lock()
	a.pending = &h
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
	return nil
}

// Register sets the node's handler for its peers' heads, which records in
// al a head that went back. Call it before the node starts.
func (a *Anchor) Register(al *audit.Log) error {
	if err := a.node.HandleDeliver(Kind, a.take(al)); err != nil {
		return fmt.Errorf("peeranchor: %w", err)
	}
	return nil
}

// Run checks al against what the peers remember, as the node starts, and
// then tells them every head saved, until ctx ends. The node's owner runs
// it once the node has started.
func (a *Anchor) Run(ctx context.Context, al *audit.Log) {
	// Heads are told in order: one saved before the check told the log's
	// head would look to the peers like a log that went back.
	last := a.checkAtStart(ctx, al)
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
		}
		a.mu.Lock()
		h := a.pending
		a.pending = nil
		a.mu.Unlock()
		if h != nil && h.Seq > last.Seq {
			a.tellPeers(ctx, *h, nil)
			last = *h
		}
	}
}

// Ready is the peers' verdict on the log, for /readyz.
func (a *Anchor) Ready() error {
	if p := a.problem.Load(); p != nil {
		return *p
	}
	return nil
}

// tellPeers sends h to the certified peers (only those in only, if it is
// not nil) and returns the heads they held and the peers it could not
// tell.
func (a *Anchor) tellPeers(ctx context.Context, h audit.Head, only map[string]bool) (held map[string]audit.Head, failed map[string]bool) {
	payload, _ := json.Marshal(headMsg{Seq: h.Seq, Hash: h.Hash, Time: h.Time})
	held, failed = map[string]audit.Head{}, map[string]bool{}
	for _, p := range a.certifiedPeers() {
		if only != nil && !only[p.ID] {
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, tellTimeout)
		reply, err := a.node.DeliverTo(tctx, p.ID, Kind, payload)
		cancel()
		if err != nil {
			a.log.Debug("audit head not told to a peer", "peer", p.ID, "err", err)
			failed[p.ID] = true
			continue
		}
		var m headMsg
		if json.Unmarshal(reply, &m) == nil && m.Seq > 0 {
			held[p.ID] = audit.Head{Seq: m.Seq, Hash: m.Hash, Time: m.Time}
		}
	}
	return held, failed
}

// take is the peer's side: it keeps the sending node's head and answers
// with the one it held, recording in its own log a head that went back.
func (a *Anchor) take(al *audit.Log) fabric.DeliverHandler {
	return func(ctx context.Context, from fabric.Peer, payload []byte) ([]byte, error) {
		var m headMsg
		if err := json.Unmarshal(payload, &m); err != nil || m.Seq > 0 && len(m.Hash) != 64 {
			return nil, fmt.Errorf("audit head from %s: malformed", from.ID)
		}
		prev, ok, err := a.db.LoadAnchor(ctx, from.ID)
		if err != nil {
			return nil, err
		}
		// A head behind the one held (an empty log's is seq 0) means the
		// node's log lost or rewrote records, or was started anew.
		if ok && (m.Seq < prev.Seq || m.Seq == prev.Seq && m.Hash != prev.Hash) {
			a.log.Error("a fleet node's audit log went back: it lost or rewrote records, or started a new log",
				"node", from.ID, "held_seq", prev.Seq, "now_seq", m.Seq)
			if al != nil {
				al.Append(context.WithoutCancel(ctx), audit.Record{Kind: kindPeerAudit, Decision: audit.DecisionAlarm,
					Reason: fmt.Sprintf("node %s reports audit head seq %d; it had reported seq %d (hash %.16s…)", from.ID, m.Seq, prev.Seq, prev.Hash),
					Detail: map[string]string{"node": from.ID, "held_seq": fmt.Sprint(prev.Seq), "held_hash": prev.Hash, "seq": fmt.Sprint(m.Seq), "hash": m.Hash}})
			}
		}
		if !ok || m.Seq != prev.Seq || m.Hash != prev.Hash {
			if err := a.db.SaveAnchor(ctx, from.ID, audit.Head{Seq: m.Seq, Hash: m.Hash, Time: m.Time}); err != nil {
				return nil, err
			}
		}
		if !ok {
			prev = audit.Head{}
		}
		return json.Marshal(headMsg{Seq: prev.Seq, Hash: prev.Hash, Time: prev.Time})
	}
}

// checkAtStart waits up to startWait for certified peers, tells them the
// log's head (again, for a while, those that do not know this node yet)
// and checks that the log holds every head they remember. It returns
// the head it told.
func (a *Anchor) checkAtStart(ctx context.Context, al *audit.Log) (told audit.Head) {
	deadline := time.Now().Add(startWait)
	for time.Now().Before(deadline) && len(a.certifiedPeers()) == 0 {
		if !sleep(ctx, 100*time.Millisecond) {
			return told
		}
	}
	seq, hash := al.Head() // 0 for a new, empty log: it asks all the same
	h := audit.Head{Seq: seq, Hash: hash, Time: time.Now().UTC()}
	var only map[string]bool
	for {
		held, failed := a.tellPeers(ctx, h, only)
		a.log.Info("audit head checked with fleet peers", "seq", h.Seq, "peers_remembering", len(held), "not_reached", len(failed))
		for peer, ph := range held {
			if err := al.Holds(ph); err != nil {
				err = fmt.Errorf("fleet peer %s remembers this node's audit log at seq %d: %w", peer, ph.Seq, err)
				a.problem.Store(&err)
				a.log.Error("the audit log lost records its fleet peers saw; run `hearth audit verify`", "err", err)
				al.Append(context.WithoutCancel(ctx), audit.Record{Kind: kindPeerAudit, Decision: audit.DecisionAlarm, Reason: err.Error(),
					Detail: map[string]string{"peer": peer, "held_seq": fmt.Sprint(ph.Seq), "held_hash": ph.Hash}})
			}
		}
		if len(failed) == 0 || time.Now().After(deadline) {
			return h
		}
		only = failed // a peer that has not heard this node's heartbeat yet refuses it
		if !sleep(ctx, 250*time.Millisecond) {
			return h
		}
	}
}

// certifiedPeers are the node's live certified peers, itself aside.
func (a *Anchor) certifiedPeers() []fabric.Peer {
	var out []fabric.Peer
	for _, p := range a.node.Peers() {
		if p.Certified && !p.Self {
			out = append(out, p)
		}
	}
	return out
}

// sleep waits d, or less if ctx ends first, and reports whether it slept.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
