package fabric

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// deliverState is the node's delivery handlers (guarded by Node.mu) and
// the IDs of deliveries already taken.
type deliverState struct {
	handlers map[string]DeliverHandler // by kind
	refused  map[string]RefusedHandler // by kind
	seen     replaySet
}

// RefusedHandler is told of a delivery of its kind that the node refused
// before any handler saw it (a sender not certified or not in the
// registry, a bad signature, a replay, a delivery for another place), so
// that a protocol can record who tried. from is the sender the delivery
// names, which nothing vouches for. It must return quickly.
type RefusedHandler func(from string, err error)

// HandleDeliverRefused sets h to be told of the deliveries of kind the
// node refuses, once per kind, before or after Start.
func (n *Node) HandleDeliverRefused(kind string, h RefusedHandler) error {
	if err := validKind(kind); err != nil {
		return fmt.Errorf("fabric: HandleDeliverRefused: %w", err)
	}
	if h == nil {
		return fmt.Errorf("fabric: HandleDeliverRefused %s: nil handler", kind)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, dup := n.deliver.refused[kind]; dup {
		return fmt.Errorf("fabric: HandleDeliverRefused: a handler for %q is already set", kind)
	}
	if n.deliver.refused == nil {
		n.deliver.refused = make(map[string]RefusedHandler)
	}
	n.deliver.refused[kind] = h
	return nil
}

// maxDeliverInFlight bounds the handlers running at once per kind; more
// deliveries wait in the subscription's channel.
const maxDeliverInFlight = 64

// HandleDeliver makes the node take deliveries of kind with h, on
// DeliverSubject(its jurisdiction, its ID, kind). It may be called before
// or after Start, once per kind. The node takes a delivery only while its
// own certificate is valid for its jurisdiction: one whose certificate is
// missing or lapsed refuses, so it never keeps another place's data.
func (n *Node) HandleDeliver(kind string, h DeliverHandler) error {
	if err := validKind(kind); err != nil {
		return fmt.Errorf("fabric: HandleDeliver: %w", err)
	}
	if h == nil {
		return fmt.Errorf("fabric: HandleDeliver %s: nil handler", kind)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, dup := n.deliver.handlers[kind]; dup {
		return fmt.Errorf("fabric: HandleDeliver: a handler for %q is already set", kind)
	}
	if n.state == stateStopped {
		return ErrClosed
	}
	if n.deliver.handlers == nil {
		n.deliver.handlers = make(map[string]DeliverHandler)
	}
	n.deliver.handlers[kind] = h
	if n.state != stateStarted {
		return nil // Start subscribes
	}
	if err := n.serveDeliverLocked(kind, h); err != nil {
		return err
	}
	return n.nc.Flush()
}

// serveDeliversLocked subscribes every handler set before Start.
func (n *Node) serveDeliversLocked() error {
	for kind, h := range n.deliver.handlers {
		if err := n.serveDeliverLocked(kind, h); err != nil {
			return err
		}
	}
	return nil
}

// serveDeliverLocked subscribes to kind's subject and starts its
// dispatcher. Called with n.mu held.
func (n *Node) serveDeliverLocked(kind string, h DeliverHandler) error {
	ch := make(chan *nats.Msg, 1024)
	subj := DeliverSubject(n.cfg.Jurisdiction, n.ID(), kind)
	sub, err := n.nc.ChanSubscribe(subj, ch)
	if err != nil {
		return fmt.Errorf("fabric: subscribe %s: %w", subj, err)
	}
	n.subs = append(n.subs, sub)
	nc := n.nc
	n.wg.Go(func() { n.dispatchDeliver(nc, kind, h, ch) })
	return nil
}

// dispatchDeliver runs each delivery in its own goroutine, at most
// maxDeliverInFlight at once, until Shutdown, then waits for them.
func (n *Node) dispatchDeliver(nc *nats.Conn, kind string, h DeliverHandler, ch <-chan *nats.Msg) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, maxDeliverInFlight)
	for {
		select {
		case <-n.quit:
			return
		case m := <-ch:
			select {
			case slots <- struct{}{}:
			case <-n.quit:
				return
			}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				n.serveDeliver(nc, kind, h, m)
			}()
		}
	}
}

// serveDeliver authenticates one delivery, runs the handler and sends the
// signed reply.
func (n *Node) serveDeliver(nc *nats.Conn, kind string, h DeliverHandler, m *nats.Msg) {
	if m.Reply == "" {
		return // nobody to answer: a delivery is never taken unacknowledged
	}
	w, from, err := n.openDeliver(kind, m.Data)
	r := deliverReply{From: n.ID(), Kind: kind, Jurisdiction: n.cfg.Jurisdiction}
	if w != nil {
		r.ID, r.To, r.Jurisdiction = w.ID, w.From, w.Jurisdiction
	}
	if err != nil {
		n.log.Warn("fabric: delivery refused", "kind", kind, "err", err)
		r.ErrKind, r.Message = errKindRefused, err.Error()
		n.mu.Lock()
		told := n.deliver.refused[kind]
		n.mu.Unlock()
		if told != nil && w != nil {
			told(w.From, err)
		}
	} else {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.DeliverTimeout)
		r.Payload, err = runDeliverHandler(ctx, h, from, w.Payload)
		cancel()
		if err != nil {
			r.ErrKind, r.Message = errKindHandler, err.Error()
		}
	}
	r.Sent = n.cfg.Now().UTC()
	data, err := signBody(n.cfg.Identity.Private, deliverReplyDomain, &r)
	if err != nil {
		n.log.Error("fabric: delivery reply", "kind", kind, "err", err)
		return
	}
	if d := n.cfg.AddedLatency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-n.quit:
		}
		t.Stop()
	}
	if err := nc.Publish(m.Reply, data); err != nil {
		n.log.Debug("fabric: delivery reply", "kind", kind, "err", err)
	}
}

// runDeliverHandler calls h, turning a panic into an error.
func runDeliverHandler(ctx context.Context, h DeliverHandler, from Peer, payload []byte) (reply []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return h(ctx, from, payload)
}

// openDeliver authenticates a delivery: signed by the key of the node it
// names as sender, which this node's registry holds Certified; addressed
// to this node, this kind and this node's jurisdiction, for which this
// node's own certificate is valid now; fresh; and not seen before. On
// error w is what could be decoded (for the reply's binding), or nil.
func (n *Node) openDeliver(kind string, data []byte) (*deliverWire, Peer, error) {
	var w deliverWire
	env, err := openBody(data, &w)
	if err != nil {
		return nil, Peer{}, fmt.Errorf("%w: %s", ErrRefused, err)
	}
	from, ok := n.Peer(w.From)
	if !ok {
		return &w, Peer{}, fmt.Errorf("%w: sender %q is not in node %s's registry", ErrRefused, w.From, n.ID())
	}
	if !ed25519.Verify(from.PublicKey, append([]byte(deliverDomain), env.Body...), env.Sig) {
		return &w, Peer{}, fmt.Errorf("%w: signature does not verify with sender %s's key", ErrRefused, w.From)
	}
	if !from.Certified {
		return &w, Peer{}, fmt.Errorf("%w: sender %s is not certified (%s)", ErrRefused, w.From, from.CertProblem)
	}
	if w.To != n.ID() || w.Kind != kind {
		return &w, Peer{}, fmt.Errorf("%w: delivery %s is addressed to %s's %q handler, not %s's %q", ErrRefused, w.ID, w.To, w.Kind, n.ID(), kind)
	}
	if w.Jurisdiction != n.cfg.Jurisdiction {
		return &w, Peer{}, fmt.Errorf("%w: delivery %s is for jurisdiction %s; node %s is in %s", ErrRefused, w.ID, w.Jurisdiction, n.ID(), n.cfg.Jurisdiction)
	}
	if ok, why := n.selfCertified(); !ok {
		return &w, Peer{}, fmt.Errorf("%w: node %s is not certified for %s (%s): it keeps no deliveries", ErrRefused, n.ID(), n.cfg.Jurisdiction, why)
	}
	now := n.cfg.Now()
	if d := now.Sub(w.Sent); d > n.cfg.MaxClockSkew || d < -n.cfg.MaxClockSkew {
		return &w, Peer{}, fmt.Errorf("%w: delivery %s is dated %s, %v off this node's clock (limit %v)", ErrRefused, w.ID, w.Sent.Format(time.RFC3339Nano), d, n.cfg.MaxClockSkew)
	}
	if w.ID == "" {
		return &w, Peer{}, fmt.Errorf("%w: delivery has no ID", ErrRefused)
	}
	if !n.deliver.seen.firstSight(w.From+"/"+w.ID, now, n.cfg.MaxClockSkew) {
		return &w, Peer{}, fmt.Errorf("%w: delivery %s from %s was already received (replay)", ErrRefused, w.ID, w.From)
	}
	return &w, from, nil
}

// selfCertified judges this node's own certificate as peers would, now.
func (n *Node) selfCertified() (bool, string) {
	p := Peer{ID: n.ID(), Site: n.cfg.Site, Jurisdiction: n.cfg.Jurisdiction, PublicKey: n.cfg.Identity.Public, Cert: n.cfg.Cert}
	p.certify(n.cfg.OperatorKey, n.cfg.Now())
	return p.Certified, p.CertProblem
}

// replaySet remembers keys for at least 2×skew: messages further than
// skew off the clock are refused by date, so an older key cannot come
// back. Two generations rotate every 2×skew, at O(1) cost per key.
type replaySet struct {
	mu      sync.Mutex
	seen    map[string]struct{}
	old     map[string]struct{}
	rotated time.Time
}

// firstSight records key and reports whether it is new.
func (s *replaySet) firstSight(key string, now time.Time, skew time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil || now.Sub(s.rotated) > 2*skew || now.Before(s.rotated) {
		s.old, s.seen, s.rotated = s.seen, make(map[string]struct{}), now
	}
	if _, dup := s.seen[key]; dup {
		return false
	}
	if _, dup := s.old[key]; dup {
		return false
	}
	s.seen[key] = struct{}{}
	return true
}
