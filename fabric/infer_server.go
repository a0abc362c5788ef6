package fabric

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// inferState is the node's remote-inference state: the handler (guarded
// by Node.mu), the streams it serves and the streams it reads, each found
// by a token from the one subscription per node and direction (a
// subscription per request would cost a NATS interest round across the
// cluster, and nats.go a 512 KiB channel, per request).
type inferState struct {
	handler InferHandler

	serving streamTable[*outStream]   // by control token: streams this node serves
	reading streamTable[*InferStream] // by reply token: streams this node reads

	repliesMu sync.Mutex
	replies   string // reply prefix, "" until the first Infer

	seen replaySet // request keys accepted: refuses replays
}

// streamTable finds a stream by its token, the last token of the subject
// its messages arrive on. Safe for concurrent use; the zero table is
// empty.
type streamTable[S any] struct {
	mu sync.Mutex
	m  map[string]S
}

// add registers st under token; false if the token is taken.
func (t *streamTable[S]) add(token string, st S) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, taken := t.m[token]; taken {
		return false
	}
	if t.m == nil {
		t.m = make(map[string]S)
	}
	t.m[token] = st
	return true
}

func (t *streamTable[S]) remove(token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, token)
}

// forSubject returns the stream that messages on subject are for.
func (t *streamTable[S]) forSubject(subject string) (S, bool) {
	token := subject[strings.LastIndexByte(subject, '.')+1:]
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.m[token]
	return st, ok
}

// Causes of a handler's ctx ending, besides node shutdown.
var (
	errClientCancel = errors.New("fabric: the gateway cancelled the request")
	errClientLost   = errors.New("fabric: the gateway stopped answering")
)

// HandleInfer makes the node serve inference requests with h, on
// InferSubject(its jurisdiction, its ID). It may be called before or
// after Start, once.
func (n *Node) HandleInfer(h InferHandler) error {
	if h == nil {
		return fmt.Errorf("fabric: HandleInfer: nil handler")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.infer.handler != nil {
		return fmt.Errorf("fabric: HandleInfer: a handler is already set")
	}
	if n.state == stateStopped {
		return ErrClosed
	}
	n.infer.handler = h
	if n.state != stateStarted {
		return nil // Start subscribes
	}
	if err := n.serveInferLocked(); err != nil {
		return err
	}
	return n.nc.Flush()
}

// serveInferLocked subscribes to the node's inference subject and starts
// the dispatcher. Called with n.mu held, by Start or HandleInfer.
func (n *Node) serveInferLocked() error {
	ch := make(chan *nats.Msg, 1024)
	subj := InferSubject(n.cfg.Jurisdiction, n.ID())
	sub, err := n.nc.ChanSubscribe(subj, ch)
	if err != nil {
		return fmt.Errorf("fabric: subscribe %s: %w", subj, err)
	}
	n.subs = append(n.subs, sub)
	ctl := ControlPrefix(n.ID()) + "*"
	csub, err := n.nc.Subscribe(ctl, n.infer.control)
	if err != nil {
		return fmt.Errorf("fabric: subscribe %s: %w", ctl, err)
	}
	n.subs = append(n.subs, csub)
	h, nc := n.infer.handler, n.nc
	n.wg.Go(func() { n.dispatchInfer(nc, h, ch) })
	return nil
}

// dispatchInfer runs each request in its own goroutine until Shutdown,
// then waits for them (their contexts end with the node's).
func (n *Node) dispatchInfer(nc *nats.Conn, h InferHandler, ch <-chan *nats.Msg) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-n.quit:
			return
		case m := <-ch:
			wg.Add(1)
			go func() {
				defer wg.Done()
				n.serveInfer(nc, h, m)
			}()
		}
	}
}

// serveInfer authenticates one request, runs the handler and streams its
// response.
func (n *Node) serveInfer(nc *nats.Conn, h InferHandler, m *nats.Msg) {
	w, err := n.openInfer(m)
	if err != nil {
		n.log.Warn("fabric: infer request refused", "err", err)
		if m.Reply == "" {
			return
		}
		out := n.newOutStream(nc, m.Reply, context.Background())
		out.fail(errKindRefused, err.Error())
		out.close()
		return
	}

	ctx, cancel := context.WithCancelCause(n.ctx)
	defer cancel(nil)
	out := n.newOutStream(nc, w.Reply, ctx)
	out.cancel = cancel
	if gw, ok := n.Peer(w.Gateway); ok {
		out.gatewayKey, out.cancelMsg = gw.PublicKey, cancelMessage(w.Gateway, w.ID, w.Control)
	}
	token := strings.TrimPrefix(w.Control, ControlPrefix(n.ID()))
	if !n.infer.serving.add(token, out) {
		out.fail(errKindRefused, fmt.Sprintf("control subject %s is in use", w.Control))
		out.close()
		return
	}
	defer n.infer.serving.remove(token)

	// Tell the gateway at once that the request is here and running: if
	// this node dies now, the request may have been the cause, and the
	// gateway must not send it on to the next node (InferStream.Accepted).
	out.mu.Lock()
	_ = out.sendLocked(kindKeepalive, nil)
	out.mu.Unlock()

	done := make(chan struct{})
	var kaWG sync.WaitGroup
	kaWG.Add(1)
	go func() {
		defer kaWG.Done()
		out.keepalive(done, cancel)
	}()

	err = runHandler(ctx, h, &w.InferRequest, out)
	switch {
	case err == nil && ctx.Err() == nil:
		if !out.headSent() {
			err = out.WriteHead(200, nil)
		}
		if err == nil {
			out.end()
			break
		}
		out.fail(errKindHandler, err.Error())
	case n.ctx.Err() != nil:
		out.fail(errKindGone, "node shutting down")
	case ctx.Err() != nil:
		// The gateway cancelled or vanished: nobody to tell.
		n.log.Debug("fabric: infer request ended", "id", w.ID, "cause", context.Cause(ctx))
	default:
		out.fail(errKindHandler, err.Error())
	}
	close(done)
	kaWG.Wait()
	out.close()
}

// runHandler calls h, turning a panic into an error so one bad request
// cannot take the node down.
func runHandler(ctx context.Context, h InferHandler, req *InferRequest, w InferWriter) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return h(ctx, req, w)
}

// openInfer authenticates a request: signed by the key of the gateway it
// names, which this node's registry holds Certified; addressed to this
// node and to the inbox it came with; fresh; not seen before; and
// permitted in this node's jurisdiction. A tenant's claims are only as
// good as the gateway that makes them.
func (n *Node) openInfer(m *nats.Msg) (*inferWire, error) {
	var env inferEnvelope
	if err := json.Unmarshal(m.Data, &env); err != nil {
		return nil, fmt.Errorf("%w: malformed envelope: %v", ErrRefused, err)
	}
	var w inferWire
	if err := json.Unmarshal(env.Request, &w); err != nil {
		return nil, fmt.Errorf("%w: malformed request: %v", ErrRefused, err)
	}
	gw, ok := n.Peer(w.Gateway)
	if !ok {
		return nil, fmt.Errorf("%w: gateway %q is not in node %s's registry", ErrRefused, w.Gateway, n.ID())
	}
	if !ed25519.Verify(gw.PublicKey, append([]byte(inferDomain), env.Request...), env.Sig) {
		return nil, fmt.Errorf("%w: signature does not verify with gateway %s's key", ErrRefused, w.Gateway)
	}
	if !gw.Certified {
		return nil, fmt.Errorf("%w: gateway %s is not certified (%s); its tenant claims are not trusted", ErrRefused, w.Gateway, gw.CertProblem)
	}
	if w.Node != n.ID() {
		return nil, fmt.Errorf("%w: request %s is addressed to node %s, not %s", ErrRefused, w.ID, w.Node, n.ID())
	}
	if w.Reply == "" || w.Reply != m.Reply {
		return nil, fmt.Errorf("%w: request %s: reply subject %q does not match the signed %q", ErrRefused, w.ID, m.Reply, w.Reply)
	}
	if tok, ok := strings.CutPrefix(w.Control, ControlPrefix(n.ID())); !ok || tok == "" || strings.ContainsAny(tok, ".*> \t\r\n") {
		return nil, fmt.Errorf("%w: request %s: control subject %q is not %s<token>", ErrRefused, w.ID, w.Control, ControlPrefix(n.ID()))
	}
	now := n.cfg.Now()
	if d := now.Sub(w.Sent); d > n.cfg.MaxClockSkew || d < -n.cfg.MaxClockSkew {
		return nil, fmt.Errorf("%w: request %s is dated %s, %v off this node's clock (limit %v)", ErrRefused, w.ID, w.Sent.Format(time.RFC3339Nano), d, n.cfg.MaxClockSkew)
	}
	if len(w.Jurisdictions) > 0 && !slices.Contains(w.Jurisdictions, n.cfg.Jurisdiction) {
		return nil, fmt.Errorf("%w: request %s permits jurisdictions %v; node %s is in %s", ErrRefused, w.ID, w.Jurisdictions, n.ID(), n.cfg.Jurisdiction)
	}
	if w.ID == "" {
		return nil, fmt.Errorf("%w: request has no ID", ErrRefused)
	}
	if !n.infer.seen.firstSight(w.Gateway+"/"+w.ID, now, n.cfg.MaxClockSkew) {
		return nil, fmt.Errorf("%w: request %s from %s was already received (replay)", ErrRefused, w.ID, w.Gateway)
	}
	return &w, nil
}

// control routes a client's control message to its stream.
func (s *inferState) control(m *nats.Msg) {
	if out, ok := s.serving.forSubject(m.Subject); ok {
		out.control(m.Data)
	}
}

// outStream is the server's side of one response stream.
type outStream struct {
	n      *Node
	cancel context.CancelCauseFunc // of ctx
	nc     *nats.Conn
	reply  string
	ctx    context.Context
	credit chan struct{} // signalled when an ack raises acked

	acked atomic.Uint64 // highest sequence number the client acknowledged
	heard atomic.Int64  // monotonic ns (since start) of the client's last control message
	start time.Time

	mu   sync.Mutex // orders sends: handler, keepalives, terminal
	seq  uint64     // last sequence number sent
	head bool
	last time.Time // when the last message was sent

	// With Config.AddedLatency, messages wait in delay and a sender
	// goroutine publishes each once its time has come, in order.
	delay     chan delayed
	delayDone chan struct{}

	// A cancel must be signed by the request's gateway over cancelMsg.
	gatewayKey ed25519.PublicKey
	cancelMsg  []byte
}

type delayed struct {
	data []byte
	due  time.Time
}

func (n *Node) newOutStream(nc *nats.Conn, reply string, ctx context.Context) *outStream {
	o := &outStream{n: n, nc: nc, reply: reply, ctx: ctx, credit: make(chan struct{}, 1), start: time.Now(), last: time.Now()}
	if n.cfg.AddedLatency > 0 {
		o.delay = make(chan delayed, 2*InferWindow)
		o.delayDone = make(chan struct{})
		go o.sendDelayed()
	}
	return o
}

// send publishes one message (with o.mu held), after AddedLatency.
func (o *outStream) sendLocked(kind byte, payload []byte) error {
	if kind != kindKeepalive {
		o.seq++
	}
	data := frame(kind, o.seq, payload)
	o.last = time.Now()
	if o.delay != nil {
		o.delay <- delayed{data: data, due: o.last.Add(o.n.cfg.AddedLatency)}
		return nil
	}
	if err := o.nc.Publish(o.reply, data); err != nil {
		return fmt.Errorf("fabric: infer: publish: %w", err)
	}
	return nil
}

func (o *outStream) sendDelayed() {
	defer close(o.delayDone)
	for d := range o.delay {
		if w := time.Until(d.due); w > 0 {
			select {
			case <-time.After(w):
			case <-o.n.quit: // shutting down: deliver what is left at once
			}
		}
		_ = o.nc.Publish(o.reply, d.data)
	}
}

// close waits until every delayed message has been published.
func (o *outStream) close() {
	if o.delay != nil {
		close(o.delay)
		<-o.delayDone
	}
}

// waitCredit blocks until the next numbered message fits in the window.
func (o *outStream) waitCredit() error {
	for {
		o.mu.Lock()
		next := o.seq + 1
		o.mu.Unlock()
		if next <= o.acked.Load()+InferWindow {
			return nil
		}
		select {
		case <-o.ctx.Done():
			return context.Cause(o.ctx)
		case <-o.credit:
		}
	}
}

func (o *outStream) headSent() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.head
}

// WriteHead sends the status and header; only the first call counts.
func (o *outStream) WriteHead(status int, header map[string]string) error {
	if status < 100 || status > 999 {
		return fmt.Errorf("fabric: infer: status %d is not an HTTP status", status)
	}
	if err := o.ctx.Err(); err != nil {
		return context.Cause(o.ctx)
	}
	if o.headSent() {
		return nil
	}
	payload, err := json.Marshal(inferHead{Status: status, Header: header})
	if err != nil {
		return fmt.Errorf("fabric: infer: encode head: %w", err)
	}
	if err := o.waitCredit(); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.head = true
	return o.sendLocked(kindHead, payload)
}

// Write sends p as data chunks of at most maxChunk bytes.
func (o *outStream) Write(p []byte) (int, error) {
	if !o.headSent() {
		if err := o.WriteHead(200, nil); err != nil {
			return 0, err
		}
	}
	written := 0
	for first := true; first || written < len(p); first = false {
		if err := o.ctx.Err(); err != nil {
			return written, context.Cause(o.ctx)
		}
		if err := o.waitCredit(); err != nil {
			return written, err
		}
		end := min(written+maxChunk, len(p))
		o.mu.Lock()
		err := o.sendLocked(kindData, p[written:end])
		o.mu.Unlock()
		if err != nil {
			return written, err
		}
		written = end
	}
	return written, nil
}

// end and fail send the last message: the end of the response, or an
// error of kind errKind*. They do not wait for credit: one message past
// the window is bounded.
func (o *outStream) end() { o.terminal(kindEnd, nil) }

func (o *outStream) fail(kind, msg string) {
	payload, _ := json.Marshal(inferError{Kind: kind, Node: o.n.ID(), Message: msg})
	o.terminal(kindError, payload)
}

func (o *outStream) terminal(kind byte, payload []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.sendLocked(kind, payload); err != nil {
		o.n.log.Debug("fabric: infer: terminal message", "err", err)
	}
}

// control handles one message from the client: an ack (which is also a
// keepalive) or a cancel.
func (o *outStream) control(data []byte) {
	kind, seq, payload, err := unframe(data)
	if err != nil {
		return
	}
	if kind == ctlCancel {
		if o.gatewayKey == nil || !ed25519.Verify(o.gatewayKey, o.cancelMsg, payload) {
			o.n.log.Warn("fabric: infer: cancel not signed by the request's gateway; ignored")
			return
		}
	}
	o.heard.Store(int64(time.Since(o.start)))
	switch kind {
	case ctlCancel:
		o.cancel(errClientCancel)
	case ctlAck:
		for {
			cur := o.acked.Load()
			if seq <= cur || o.acked.CompareAndSwap(cur, seq) {
				break
			}
		}
		select {
		case o.credit <- struct{}{}:
		default:
		}
	}
}

// keepalive sends a keepalive whenever the stream has been quiet for a
// keepalive period, and cancels the request once the client has been
// silent for the liveness timeout, until done closes.
func (o *outStream) keepalive(done <-chan struct{}, cancel context.CancelCauseFunc) {
	every, live := o.n.inferKeepalive(), o.n.inferLiveness()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if time.Since(o.start)-time.Duration(o.heard.Load()) > live {
			cancel(errClientLost)
		}
		o.mu.Lock()
		if time.Since(o.last) >= every {
			_ = o.sendLocked(kindKeepalive, nil)
		}
		o.mu.Unlock()
	}
}
