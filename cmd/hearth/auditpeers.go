package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/fabric"
)

// The audit log's head is anchored twice: in the node's database (audit's
// DBAnchor), and in the fleet. At every checkpoint the node tells its
// certified peers its head; each keeps the latest in its own database and
// answers with the head it held before. At start the node tells them
// again and checks their answers against its log: a log cut back or
// rewritten, together with the node's database, is caught by the peers'
// memory. A peer told a head behind the one it held records that in its
// own audit log, so a node that lost records cannot hide it by staying
// quiet about it.

// deliverAuditHead is the delivery kind of a node's audit head.
const deliverAuditHead = "audit-head"

// kindPeerAudit is the audit record a peer writes when a node's log went
// back.
const kindPeerAudit = "peer_audit"

type auditHeadMsg struct {
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

// peerAnchor is the audit.Anchor of a node in a fleet: its database, and
// then its certified peers once attach gives it the fabric node.
type peerAnchor struct {
	db   *audit.DBAnchor
	node atomic.Pointer[fabric.Node]
	log  *slog.Logger
	// problem is what the peers' answers at start showed (nil: nothing).
	problem atomic.Pointer[error]
}

func (a *peerAnchor) LoadAnchor(ctx context.Context, node string) (audit.Head, bool, error) {
	return a.db.LoadAnchor(ctx, node)
}

func (a *peerAnchor) SaveAnchor(ctx context.Context, node string, h audit.Head) error {
	if err := a.db.SaveAnchor(ctx, node, h); err != nil {
		return err
	}
	if n := a.node.Load(); n != nil {
		go a.tell(n, h)
	}
	return nil
}

// tell sends h to every certified peer and returns the heads they held.
func (a *peerAnchor) tell(n *fabric.Node, h audit.Head) map[string]audit.Head {
	held, _ := a.tellPeers(n, h, nil)
	return held
}

// tellPeers sends h to the certified peers (only those in only, if it is
// not nil) and returns the heads they held and the peers it could not
// tell.
func (a *peerAnchor) tellPeers(n *fabric.Node, h audit.Head, only map[string]bool) (held map[string]audit.Head, failed map[string]bool) {
	payload, _ := json.Marshal(auditHeadMsg{Seq: h.Seq, Hash: h.Hash, Time: h.Time})
	held, failed = map[string]audit.Head{}, map[string]bool{}
	for _, p := range n.Peers() {
		if p.Self || !p.Certified || p.ID == n.ID() || only != nil && !only[p.ID] {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		reply, err := n.DeliverTo(ctx, p.ID, deliverAuditHead, payload)
		cancel()
		if err != nil {
			a.log.Debug("audit head not told to a peer", "peer", p.ID, "err", err)
			failed[p.ID] = true
			continue
		}
		var m auditHeadMsg
		if json.Unmarshal(reply, &m) == nil && m.Seq > 0 {
			held[p.ID] = audit.Head{Seq: m.Seq, Hash: m.Hash, Time: m.Time}
		}
	}
	return held, failed
}

// take is the peer's side: it keeps the sending node's head and answers
// with the one it held, recording in its own log a head that went back.
func (a *peerAnchor) take(al *audit.Log) fabric.DeliverHandler {
	return func(ctx context.Context, from fabric.Peer, payload []byte) ([]byte, error) {
		var m auditHeadMsg
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
		return json.Marshal(auditHeadMsg{Seq: prev.Seq, Hash: prev.Hash, Time: prev.Time})
	}
}

// attach gives the anchor the fabric node, serves peers' heads, and checks
// this node's log against what its peers remember, once they are known.
func (a *peerAnchor) attach(n *fabric.Node, al *audit.Log) error {
	if err := n.HandleDeliver(deliverAuditHead, a.take(al)); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	a.node.Store(n)
	go a.checkAtStart(n, al, 10*time.Second)
	return nil
}

// checkAtStart waits up to wait for certified peers, tells them the log's
// head (again, for a while, those that do not know this node yet) and
// checks that the log holds every head they remember.
func (a *peerAnchor) checkAtStart(n *fabric.Node, al *audit.Log, wait time.Duration) {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) && certifiedPeers(n) == 0 {
		time.Sleep(100 * time.Millisecond)
	}
	seq, hash := al.Head() // 0 for a new, empty log: it asks all the same
	h := audit.Head{Seq: seq, Hash: hash, Time: time.Now().UTC()}
	var only map[string]bool
	for {
		held, failed := a.tellPeers(n, h, only)
		a.log.Info("audit head checked with fleet peers", "seq", h.Seq, "peers_remembering", len(held), "not_reached", len(failed))
		for peer, ph := range held {
			if err := al.Holds(ph); err != nil {
				err = fmt.Errorf("fleet peer %s remembers this node's audit log at seq %d: %w", peer, ph.Seq, err)
				a.problem.Store(&err)
				a.log.Error("the audit log lost records its fleet peers saw; run `hearth audit verify`", "err", err)
				al.Append(context.Background(), audit.Record{Kind: kindPeerAudit, Decision: audit.DecisionAlarm, Reason: err.Error(),
					Detail: map[string]string{"peer": peer, "held_seq": fmt.Sprint(ph.Seq), "held_hash": ph.Hash}})
			}
		}
		if len(failed) == 0 || time.Now().After(deadline) {
			return
		}
		only = failed // a peer that has not heard this node's heartbeat yet refuses it
		time.Sleep(250 * time.Millisecond)
	}
}

// ready is the peers' verdict on the log, for /readyz.
func (a *peerAnchor) ready() error {
	if p := a.problem.Load(); p != nil {
		return *p
	}
	return nil
}

func certifiedPeers(n *fabric.Node) int {
	k := 0
	for _, p := range n.Peers() {
		if p.Certified && !p.Self && p.ID != n.ID() {
			k++
		}
	}
	return k
}
