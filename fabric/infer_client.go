package fabric

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// InferStream is the gateway's side of one remote request. Head, Next
// and Read are for one goroutine; Close may be called from any, any
// number of times, and must be called when the caller is done.
type InferStream struct {
	id      string
	n       *Node
	peer    string
	ctx     context.Context
	nc      *nats.Conn
	token   string         // the reply subject's last token
	in      chan *nats.Msg // from the node's reply subscription
	control string
	live    time.Duration
	timer   *time.Timer // liveness, reused by recv

	seq      uint64 // last numbered message received
	lastAck  uint64 // last seq acknowledged from Next
	consumed atomic.Uint64
	status   int
	header   map[string]string
	gotHead  bool
	accepted bool   // any message came from the node: it has the request
	err      error  // terminal: io.EOF, a RemoteError, ErrPeerLost, ctx's error
	buf      []byte // what Read has not returned yet

	finished atomic.Bool // a terminal message arrived: no cancel needed
	once     sync.Once
	closed   chan struct{} // closed by stop: Close, or the stream's end or error
	bg       sync.WaitGroup
}

// Infer sends req to node peerID, which must be a certified peer in this
// node's registry, and returns the stream of its response. The request is
// signed with this node's key, with Gateway and Sent set here and, if
// req.ID is empty, a fresh random ID (see InferStream.ID); req itself is
// not changed. A server refuses an ID it has already seen from this
// gateway, so a retry on the same node needs a new ID. When ctx ends the
// remote handler is cancelled.
func (n *Node) Infer(ctx context.Context, peerID string, req *InferRequest) (*InferStream, error) {
	p, ok := n.Peer(peerID)
	if !ok {
		return nil, fmt.Errorf("fabric: infer: node %s is not in the registry: %w", peerID, ErrPeerLost)
	}
	if !p.Certified {
		return nil, fmt.Errorf("fabric: infer: node %s (%s): %w: %s", peerID, p.Jurisdiction, ErrUncertifiedPeer, p.CertProblem)
	}
	if len(req.Jurisdictions) > 0 && !slices.Contains(req.Jurisdictions, p.Jurisdiction) {
		// The server would refuse it too; failing here keeps the request
		// from leaving the gateway at all.
		return nil, fmt.Errorf("fabric: infer: %w: node %s is in %s; the request permits %s", ErrRefused, peerID, p.Jurisdiction, strings.Join(req.Jurisdictions, ", "))
	}
	nc := n.conn()
	if nc == nil || !n.isRunning() {
		return nil, fmt.Errorf("fabric: infer: node %s is not running", n.ID())
	}
	prefix, err := n.replyPrefix(nc)
	if err != nil {
		return nil, err
	}
	token := nats.NewInbox()[len(nats.InboxPrefix):] // a random NUID
	inbox := prefix + token
	w := inferWire{InferRequest: *req, Node: peerID, Reply: inbox, Control: ControlPrefix(peerID) + token}
	w.Gateway = n.ID()
	w.Sent = n.cfg.Now().UTC()
	if w.ID == "" {
		w.ID = newRequestID()
	}
	data, err := signInfer(n.cfg.Identity.Private, &w)
	if err != nil {
		return nil, err
	}
	s := &InferStream{id: w.ID, n: n, peer: peerID, ctx: ctx, nc: nc, token: token, control: w.Control, live: n.inferLiveness(),
		in: make(chan *nats.Msg, inboxLen), closed: make(chan struct{})}
	if !n.infer.reading.add(token, s) {
		return nil, fmt.Errorf("fabric: infer: reply token %s is in use", token)
	}
	if err := nc.PublishMsg(&nats.Msg{Subject: InferSubject(p.Jurisdiction, peerID), Reply: inbox, Data: data}); err != nil {
		n.infer.reading.remove(token)
		return nil, fmt.Errorf("fabric: infer: send to %s: %w", peerID, err)
	}
	s.bg.Add(1)
	go s.keepalive()
	return s, nil
}

// ID is the request's ID as sent.
func (s *InferStream) ID() string { return s.id }

// keepalive acknowledges what has been consumed every keepalive period
// (so the server knows the gateway lives even when the reader is slow)
// and sends the cancel when ctx ends.
func (s *InferStream) keepalive() {
	defer s.bg.Done()
	t := time.NewTicker(s.n.inferKeepalive())
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-s.ctx.Done():
			s.cancelRemote()
			return
		case <-t.C:
			s.sendCtl(ctlAck, s.consumed.Load())
		}
	}
}

func (s *InferStream) sendCtl(kind byte, seq uint64) {
	_ = s.nc.Publish(s.control, frame(kind, seq, nil))
}

func (s *InferStream) cancelRemote() {
	if !s.finished.Load() {
		sig := ed25519.Sign(s.n.cfg.Identity.Private, cancelMessage(s.n.ID(), s.id, s.control))
		_ = s.nc.Publish(s.control, frame(ctlCancel, 0, sig))
	}
}

// Accepted reports whether the node has been heard from on this stream:
// it took the request (nodes send a keepalive as they start a request).
// A node lost after accepting may have died of the request itself, so a
// gateway must not send it on to another node; one lost before was never
// reached. Call it from the goroutine that reads the stream.
func (s *InferStream) Accepted() bool { return s.accepted }

// Head waits for the response's status and header.
func (s *InferStream) Head() (int, map[string]string, error) {
	for !s.gotHead {
		if s.err != nil {
			return 0, nil, s.err
		}
		kind, _, err := s.recv()
		if err != nil {
			return 0, nil, err
		}
		if kind == kindData {
			return 0, nil, s.setErr(fmt.Errorf("fabric: infer: node %s sent data before the head", s.peer))
		}
		if kind == kindEnd {
			return 0, nil, s.setErr(fmt.Errorf("fabric: infer: node %s ended the stream without a head", s.peer))
		}
	}
	return s.status, s.header, nil
}

// Next returns the next chunk of the body, io.EOF after the last, or the
// stream's error: a *RemoteError from the handler or the serving node,
// ErrPeerLost when the node stopped answering, ctx's error.
func (s *InferStream) Next() ([]byte, error) {
	for {
		if s.err != nil {
			return nil, s.err
		}
		kind, payload, err := s.recv()
		if err != nil {
			return nil, err
		}
		switch kind {
		case kindData:
			if !s.gotHead {
				return nil, s.setErr(fmt.Errorf("fabric: infer: node %s sent data before the head", s.peer))
			}
			return payload, nil
		case kindEnd:
			return nil, s.err
		}
	}
}

// Read reads the body as a byte stream.
func (s *InferStream) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		chunk, err := s.Next()
		if err != nil {
			return 0, err
		}
		s.buf = chunk
	}
	k := copy(p, s.buf)
	s.buf = s.buf[k:]
	return k, nil
}

// Close ends the stream: if the response is not complete, the server's
// handler is cancelled. It waits for the stream's goroutine.
func (s *InferStream) Close() error {
	s.stop()
	s.bg.Wait()
	return nil
}

// stop cancels the remote handler unless the response is complete, stops
// the keepalives (and wakes a Next blocked in another goroutine) and
// leaves the node's reply table. It runs once, at Close or at the stream's first
// error or end, so a stream read to its end holds nothing even if Close
// is forgotten.
func (s *InferStream) stop() {
	s.once.Do(func() {
		s.cancelRemote()
		close(s.closed)
		s.n.infer.reading.remove(s.token)
	})
}

// setErr records the stream's first error (io.EOF at the end) and stops
// the stream.
func (s *InferStream) setErr(err error) error {
	if s.err == nil {
		s.err = err
		s.stop()
	}
	return s.err
}

// recv takes the next message that is not a keepalive, checks its
// number, records heads and terminal messages, and acknowledges.
func (s *InferStream) recv() (byte, []byte, error) {
	for {
		select {
		case <-s.closed:
			return 0, nil, s.setErr(fmt.Errorf("fabric: infer: stream closed"))
		default:
		}
		if s.timer == nil {
			s.timer = time.NewTimer(s.live)
		} else {
			s.timer.Reset(s.live)
		}
		var m *nats.Msg
		select {
		case m = <-s.in:
		case <-s.closed:
			return 0, nil, s.setErr(fmt.Errorf("fabric: infer: stream closed"))
		case <-s.ctx.Done():
			s.cancelRemote()
			return 0, nil, s.setErr(fmt.Errorf("fabric: infer on %s: %w", s.peer, context.Cause(s.ctx)))
		case <-s.timer.C:
			return 0, nil, s.setErr(fmt.Errorf("%w: no message from node %s for %v", ErrPeerLost, s.peer, s.live))
		}
		if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			// NATS says nobody takes requests on the node's subject: it
			// is gone, or not serving yet.
			return 0, nil, s.setErr(fmt.Errorf("%w: node %s takes no inference requests (no responders)", ErrPeerLost, s.peer))
		}
		kind, seq, payload, err := unframe(m.Data)
		if err != nil {
			return 0, nil, s.setErr(fmt.Errorf("%w: node %s: %v", ErrPeerLost, s.peer, err))
		}
		s.accepted = true
		if kind == kindKeepalive {
			continue
		}
		if seq != s.seq+1 {
			return 0, nil, s.setErr(fmt.Errorf("%w: node %s sent message %d after %d: messages lost in transit", ErrPeerLost, s.peer, seq, s.seq))
		}
		s.seq = seq
		s.consumed.Store(seq)
		if seq-s.lastAck >= InferWindow/2 {
			s.sendCtl(ctlAck, seq)
			s.lastAck = seq
		}
		switch kind {
		case kindHead:
			var h inferHead
			if err := json.Unmarshal(payload, &h); err != nil {
				return 0, nil, s.setErr(fmt.Errorf("fabric: infer: node %s sent a bad head: %v", s.peer, err))
			}
			s.status, s.header, s.gotHead = h.Status, h.Header, true
		case kindEnd:
			s.finished.Store(true)
			s.setErr(io.EOF)
		case kindError:
			s.finished.Store(true)
			var e inferError
			if err := json.Unmarshal(payload, &e); err != nil {
				e = inferError{Kind: errKindHandler, Message: string(payload)}
			}
			return 0, nil, s.setErr(&RemoteError{Node: s.peer, Kind: e.Kind, Message: e.Message})
		case kindData:
		default:
			return 0, nil, s.setErr(fmt.Errorf("fabric: infer: node %s sent unknown message kind %q", s.peer, kind))
		}
		return kind, payload, nil
	}
}

// inboxLen bounds a stream's queue of received messages: the window, the
// head and the terminal message, and room for keepalives, which are
// dropped when the numbered messages need the room.
const inboxLen = 2*InferWindow + 16

// replyPrefix returns the node's reply prefix, subscribing to it on the
// first call.
func (n *Node) replyPrefix(nc *nats.Conn) (string, error) {
	s := &n.infer
	s.repliesMu.Lock()
	defer s.repliesMu.Unlock()
	if s.replies != "" {
		return s.replies, nil
	}
	prefix := nc.NewInbox() + "."
	sub, err := nc.Subscribe(prefix+"*", s.deliver)
	if err != nil {
		return "", fmt.Errorf("fabric: infer: subscribe %s*: %w", prefix, err)
	}
	// No limits in nats.go's queue: each stream bounds its own share.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return "", fmt.Errorf("fabric: infer: %w", err)
	}
	// The subscription must reach the cluster before any request whose
	// reply it carries: publishing on the same connection orders that.
	s.replies = prefix
	return prefix, nil
}

// deliver routes one response message to its stream without ever
// blocking (it runs on the subscription's one goroutine). A server sends
// at most the window plus two numbered messages unacknowledged, which
// always fit; keepalives take the room left.
func (s *inferState) deliver(m *nats.Msg) {
	st, ok := s.reading.forSubject(m.Subject)
	if !ok {
		return
	}
	numbered := len(m.Data) > 0 && m.Data[0] != kindKeepalive
	if !numbered && len(st.in) >= InferWindow {
		return
	}
	select {
	case st.in <- m:
	default:
		// Cannot happen with a well-behaved server; the gap in the
		// numbers will end the stream.
	}
}
