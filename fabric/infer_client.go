package fabric

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	sub     *nats.Subscription
	control string
	live    time.Duration

	seq      uint64 // last numbered message received
	lastAck  uint64 // last seq acknowledged from Next
	consumed atomic.Uint64
	status   int
	header   map[string]string
	gotHead  bool
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
	nc := n.Conn()
	if nc == nil || !n.isRunning() {
		return nil, fmt.Errorf("fabric: infer: node %s is not running", n.ID())
	}
	inbox := nc.NewInbox()
	w := inferWire{InferRequest: *req, Node: peerID, Reply: inbox, Control: inbox + ".ctl"}
	w.Gateway = n.ID()
	w.Sent = n.cfg.Now().UTC()
	if w.ID == "" {
		w.ID = newRequestID()
	}
	data, err := signInfer(n.cfg.Identity.Private, &w)
	if err != nil {
		return nil, err
	}
	// The subscription goes out on the same connection (and the same
	// cluster routes) before the request, so the reply finds it.
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("fabric: infer: subscribe %s: %w", inbox, err)
	}
	s := &InferStream{id: w.ID, n: n, peer: peerID, ctx: ctx, nc: nc, sub: sub, control: w.Control, live: n.inferLiveness(), closed: make(chan struct{})}
	if err := nc.PublishMsg(&nats.Msg{Subject: InferSubject(p.Jurisdiction, peerID), Reply: inbox, Data: data}); err != nil {
		_ = sub.Unsubscribe()
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
		s.sendCtl(ctlCancel, 0)
	}
}

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
// the keepalives and drops the subscription (which wakes a Next blocked
// in another goroutine). It runs once, at Close or at the stream's first
// error or end, so a stream read to its end holds nothing even if Close
// is forgotten.
func (s *InferStream) stop() {
	s.once.Do(func() {
		s.cancelRemote()
		close(s.closed)
		_ = s.sub.Unsubscribe()
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
		ctx, cancel := context.WithTimeout(s.ctx, s.live)
		m, err := s.sub.NextMsgWithContext(ctx)
		cancel()
		if err != nil {
			select {
			case <-s.closed:
				return 0, nil, s.setErr(fmt.Errorf("fabric: infer: stream closed"))
			default:
			}
			switch {
			case s.ctx.Err() != nil:
				s.cancelRemote()
				return 0, nil, s.setErr(fmt.Errorf("fabric: infer on %s: %w", s.peer, context.Cause(s.ctx)))
			case errors.Is(err, nats.ErrNoResponders):
				// NATS says nobody takes requests on the node's subject:
				// it is gone, or not serving yet.
				return 0, nil, s.setErr(fmt.Errorf("%w: node %s takes no inference requests (no responders)", ErrPeerLost, s.peer))
			case errors.Is(err, context.DeadlineExceeded):
				return 0, nil, s.setErr(fmt.Errorf("%w: no message from node %s for %v", ErrPeerLost, s.peer, s.live))
			}
			return 0, nil, s.setErr(fmt.Errorf("fabric: infer: receive from %s: %w", s.peer, err))
		}
		kind, seq, payload, err := unframe(m.Data)
		if err != nil {
			return 0, nil, s.setErr(fmt.Errorf("%w: node %s: %v", ErrPeerLost, s.peer, err))
		}
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
