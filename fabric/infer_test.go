package fabric

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// inferCluster starts the three-node cluster, waits until every node sees
// every other, and sets h as the handler on nodes 1 and 2.
func inferCluster(t *testing.T, h InferHandler, tweak func(i int, c *Config)) []*Node {
	t.Helper()
	_, op := newOperator(t)
	nodes := cluster(t, op, tweak)
	ids := []string{nodes[0].ID(), nodes[1].ID(), nodes[2].ID()}
	for _, n := range nodes {
		checkFor(t, 10*time.Second, func() error { return sees(n, ids...) })
	}
	for _, n := range nodes[1:] {
		if err := n.HandleInfer(h); err != nil {
			t.Fatalf("HandleInfer: %v", err)
		}
	}
	for _, from := range nodes {
		for _, to := range nodes[1:] {
			waitServing(t, from, to)
		}
	}
	return nodes
}

// waitServing waits until node from's NATS server knows that node to
// takes requests: subscription interest crosses cluster routes
// asynchronously. Until it does, a request gets "no responders".
func waitServing(t *testing.T, from, to *Node) {
	t.Helper()
	checkFor(t, 5*time.Second, func() error {
		_, err := from.conn().Request(InferSubject(to.cfg.Jurisdiction, to.ID()), []byte("{"), 200*time.Millisecond)
		if errors.Is(err, nats.ErrNoResponders) {
			return err
		}
		return nil // a refusal, or silence from a hung subscriber
	})
}

func testRequest() *InferRequest {
	return &InferRequest{Tenant: "acme", KeyID: "k1", Model: "stories", Path: "/v1/chat/completions", Header: map[string]string{"Content-Type": "application/json"}, Body: []byte(`{"x":1}`)}
}

// startInfer sends req from node from to node to, failing the test if it
// cannot be sent. The caller closes the stream.
func startInfer(t *testing.T, ctx context.Context, from, to *Node, req *InferRequest) *InferStream {
	t.Helper()
	s, err := from.Infer(ctx, to.ID(), req)
	if err != nil {
		t.Fatalf("Infer: %v", err)
	}
	return s
}

func TestInferStreamsInOrder(t *testing.T) {
	const chunks = 1000
	var got atomic.Pointer[InferRequest]
	h := func(ctx context.Context, req *InferRequest, w InferWriter) error {
		got.Store(req)
		if err := w.WriteHead(201, map[string]string{"X-Served-By": "me"}); err != nil {
			return err
		}
		for i := range chunks {
			if _, err := fmt.Fprintf(w, "chunk %d\n", i); err != nil {
				return err
			}
		}
		return nil
	}
	nodes := inferCluster(t, h, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	req := testRequest()
	s := startInfer(t, ctx, nodes[0], nodes[1], req)
	defer s.Close()
	status, header, err := s.Head()
	if err != nil || status != 201 || header["X-Served-By"] != "me" {
		t.Fatalf("Head = %d, %v, %v; want 201, X-Served-By: me, nil", status, header, err)
	}
	for i := range chunks {
		c, err := s.Next()
		if err != nil {
			t.Fatalf("Next at chunk %d: %v", i, err)
		}
		if want := fmt.Sprintf("chunk %d\n", i); string(c) != want {
			t.Fatalf("chunk %d = %q; want %q", i, c, want)
		}
	}
	if c, err := s.Next(); err != io.EOF {
		t.Fatalf("after the last chunk Next = %q, %v; want io.EOF", c, err)
	}

	// The handler saw the request as sent, with the verified gateway.
	r := got.Load()
	if r.Gateway != nodes[0].ID() || r.Tenant != "acme" || r.KeyID != "k1" || r.Model != "stories" || r.Path != "/v1/chat/completions" ||
		string(r.Body) != `{"x":1}` || r.Header["Content-Type"] != "application/json" || r.ID == "" || r.ID != s.ID() || r.Sent.IsZero() {
		t.Errorf("handler got %+v; want the request from gateway %s", r, nodes[0].ID())
	}

	// Read gives the same bytes as a stream.
	s2 := startInfer(t, ctx, nodes[0], nodes[2], testRequest())
	defer s2.Close()
	body, err := io.ReadAll(s2)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if n := strings.Count(string(body), "\n"); n != chunks || !strings.HasSuffix(string(body), "chunk 999\n") {
		t.Errorf("ReadAll: %d lines, ends %q; want %d ending with chunk 999", n, body[max(0, len(body)-12):], chunks)
	}
}

func TestInferHandlerErrorAndDefaults(t *testing.T) {
	h := func(ctx context.Context, req *InferRequest, w InferWriter) error {
		switch string(req.Body) {
		case "empty":
			return nil
		case "panic":
			panic("bad request")
		}
		for range 3 {
			if _, err := w.Write([]byte("x")); err != nil {
				return err
			}
		}
		return errors.New("model exploded")
	}
	nodes := inferCluster(t, h, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tests := []struct {
		body       string
		wantStatus int
		wantChunks int
		wantErr    string // "" means io.EOF
	}{
		{body: "empty", wantStatus: 200},
		{body: "fail", wantStatus: 200, wantChunks: 3, wantErr: "model exploded"},
		{body: "panic", wantErr: "handler panic: bad request"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			req := testRequest()
			req.Body = []byte(tt.body)
			s := startInfer(t, ctx, nodes[0], nodes[1], req)
			defer s.Close()
			status, _, err := s.Head()
			if tt.wantStatus == 0 {
				var re *RemoteError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tt.wantErr) || errors.Is(err, ErrPeerLost) {
					t.Fatalf("Head err = %v; want a RemoteError with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || status != tt.wantStatus {
				t.Fatalf("Head = %d, %v; want %d", status, err, tt.wantStatus)
			}
			n := 0
			for {
				_, err = s.Next()
				if err != nil {
					break
				}
				n++
			}
			if n != tt.wantChunks {
				t.Errorf("%d chunks; want %d", n, tt.wantChunks)
			}
			if tt.wantErr == "" {
				if err != io.EOF {
					t.Errorf("Next err = %v; want io.EOF", err)
				}
				return
			}
			var re *RemoteError
			if !errors.As(err, &re) || re.Node != nodes[1].ID() || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Next err = %v; want RemoteError from %s with %q", err, nodes[1].ID(), tt.wantErr)
			}
		})
	}
}

func TestInferBackpressure(t *testing.T) {
	var sent atomic.Int64
	h := func(ctx context.Context, req *InferRequest, w InferWriter) error {
		for i := range 1000 {
			if _, err := fmt.Fprintf(w, "%d", i); err != nil {
				return err
			}
			sent.Add(1)
		}
		return nil
	}
	nodes := inferCluster(t, h, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := startInfer(t, ctx, nodes[0], nodes[1], testRequest())
	defer s.Close()
	if _, _, err := s.Head(); err != nil {
		t.Fatal(err)
	}
	// The reader stalls for several liveness periods: the server must
	// stop at the window (head + InferWindow data messages at most),
	// and must not give the stalled client up.
	time.Sleep(8 * testInterval)
	stalled := sent.Load()
	if stalled > InferWindow || stalled < InferWindow/2 {
		t.Fatalf("with the reader stalled the handler sent %d chunks; want about the window %d", stalled, InferWindow)
	}
	time.Sleep(4 * testInterval)
	if again := sent.Load(); again != stalled {
		t.Fatalf("handler went on from %d to %d chunks with nobody reading", stalled, again)
	}
	// Reading resumes the stream, in order, to the end.
	for i := range 1000 {
		c, err := s.Next()
		if err != nil {
			t.Fatalf("Next at %d: %v", i, err)
		}
		if string(c) != fmt.Sprint(i) {
			t.Fatalf("chunk %d = %q", i, c)
		}
	}
	if _, err := s.Next(); err != io.EOF {
		t.Fatalf("Next at end = %v; want io.EOF", err)
	}
	t.Logf("stalled at %d chunks unacknowledged (window %d)", stalled, InferWindow)
}

func TestInferCancel(t *testing.T) {
	started := make(chan struct{}, 2)
	stopped := make(chan time.Time, 2)
	h := func(ctx context.Context, req *InferRequest, w InferWriter) error {
		if _, err := w.Write([]byte("first")); err != nil {
			return err
		}
		started <- struct{}{}
		<-ctx.Done() // a generation that only ends when cancelled
		stopped <- time.Now()
		return ctx.Err()
	}
	nodes := inferCluster(t, h, nil)
	for _, how := range []string{"ctx", "Close"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rctx, rcancel := context.WithCancel(ctx)
			s, err := nodes[0].Infer(rctx, nodes[2].ID(), testRequest())
			if err != nil {
				t.Fatal(err)
			}
			if c, err := s.Next(); err != nil || string(c) != "first" {
				t.Fatalf("Next = %q, %v", c, err)
			}
			<-started
			at := time.Now()
			if how == "ctx" {
				rcancel()
			} else {
				s.Close()
			}
			select {
			case end := <-stopped:
				if d := end.Sub(at); d > 500*time.Millisecond {
					t.Errorf("handler saw ctx.Done %v after the cancel; want well under 500ms", d)
				} else {
					t.Logf("handler cancelled %v after the client's %s", d, how)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("handler still running 2s after the client cancelled")
			}
			if how == "ctx" {
				if _, err := s.Next(); !errors.Is(err, context.Canceled) {
					t.Errorf("Next after cancel = %v; want context.Canceled", err)
				}
			}
			rcancel()
			s.Close()
		})
	}
}

func TestInferPeerLost(t *testing.T) {
	h := func(ctx context.Context, req *InferRequest, w InferWriter) error {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
			if _, err := w.Write([]byte("tok")); err != nil {
				return err
			}
		}
	}
	nodes := inferCluster(t, h, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("shutdown mid-stream", func(t *testing.T) {
		s, err := nodes[0].Infer(ctx, nodes[1].ID(), testRequest())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		for range 5 {
			if _, err := s.Next(); err != nil {
				t.Fatal(err)
			}
		}
		at := time.Now()
		go nodes[1].Shutdown(ctx)
		for {
			if _, err = s.Next(); err != nil {
				break
			}
		}
		d := time.Since(at)
		if !errors.Is(err, ErrPeerLost) {
			t.Fatalf("Next after the server shut down = %v; want ErrPeerLost", err)
		}
		if limit := nodes[0].inferLiveness() + time.Second; d > limit {
			t.Errorf("ErrPeerLost after %v; want within %v", d, limit)
		}
		t.Logf("ErrPeerLost %v after shutdown: %v", d, err)
	})

	t.Run("no handler", func(t *testing.T) {
		// Node 0 has no handler: NATS reports no responders at once, as
		// for a node that died before the first token.
		s := startInfer(t, ctx, nodes[2], nodes[0], testRequest())
		defer s.Close()
		at := time.Now()
		_, _, err := s.Head()
		if d := time.Since(at); !errors.Is(err, ErrPeerLost) || d > nodes[2].inferLiveness() {
			t.Fatalf("Head from a node without handler = %v after %v; want ErrPeerLost", err, d)
		}
		if s.Accepted() {
			t.Error("Accepted() after no responders: a gateway would not retry a request that never arrived")
		}
	})

	t.Run("hung node", func(t *testing.T) {
		// Something takes the request and never answers: the liveness
		// timeout gives ErrPeerLost.
		nc := nodes[0].conn()
		sub, err := nc.Subscribe(InferSubject(nodes[0].cfg.Jurisdiction, nodes[0].ID()), func(*nats.Msg) {})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		waitServing(t, nodes[2], nodes[0])
		s := startInfer(t, ctx, nodes[2], nodes[0], testRequest())
		defer s.Close()
		at := time.Now()
		_, _, err = s.Head()
		if d := time.Since(at); !errors.Is(err, ErrPeerLost) || d < nodes[2].inferLiveness() || d > 3*nodes[2].inferLiveness() {
			t.Fatalf("Head from a hung node = %v after %v; want ErrPeerLost after about %v", err, d, nodes[2].inferLiveness())
		}
		if s.Accepted() {
			t.Error("Accepted() though nothing answered")
		}
	})
}

// TestInferAccepted: a node says at once that it has a request, before
// any head, so a gateway that loses the node afterwards knows the request
// was running there (and may have been its death).
func TestInferAccepted(t *testing.T) {
	started := make(chan struct{}, 1)
	h := func(ctx context.Context, req *InferRequest, w InferWriter) error {
		started <- struct{}{}
		<-ctx.Done() // silent: no head, no data
		return ctx.Err()
	}
	nodes := inferCluster(t, h, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := startInfer(t, ctx, nodes[0], nodes[1], testRequest())
	defer s.Close()
	<-started
	nodes[1].Drop() // the node is cut off: no goodbye, no more keepalives
	if _, _, err := s.Head(); !errors.Is(err, ErrPeerLost) {
		t.Fatalf("Head from a node cut off without answering = %v; want ErrPeerLost", err)
	}
	if !s.Accepted() {
		t.Error("Accepted() is false for a request the node was running")
	}
}

func TestInferRefusesUncertifiedGateway(t *testing.T) {
	var calls atomic.Int64
	h := func(ctx context.Context, req *InferRequest, w InferWriter) error {
		calls.Add(1)
		_, err := w.Write([]byte("served"))
		return err
	}
	// Node 0 runs without a certificate: it may ask, but must be refused.
	nodes := inferCluster(t, h, func(i int, c *Config) {
		if i == 0 {
			c.Cert = nil
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := startInfer(t, ctx, nodes[0], nodes[1], testRequest())
	defer s.Close()
	_, _, err := s.Head()
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not certified") {
		t.Fatalf("Head = %v; want ErrRefused naming the missing certification", err)
	}

	// A certified gateway is served, and the handler ran only for it.
	s2 := startInfer(t, ctx, nodes[2], nodes[1], testRequest())
	defer s2.Close()
	if b, err := io.ReadAll(s2); err != nil || string(b) != "served" {
		t.Fatalf("certified gateway got %q, %v", b, err)
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("handler ran %d times; want 1 (only for the certified gateway)", c)
	}

	// The client side refuses to send outside the request's jurisdictions.
	req := testRequest()
	req.Jurisdictions = []string{"KE", "BR"} // node 1 is in NG
	if _, err := nodes[2].Infer(ctx, nodes[1].ID(), req); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "permits KE, BR") {
		t.Errorf("Infer outside the permitted jurisdictions = %v; want ErrRefused", err)
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("handler ran %d times; want still 1", c)
	}

	// The client side refuses to send to an uncertified node.
	if _, err := nodes[1].Infer(ctx, nodes[0].ID(), testRequest()); !errors.Is(err, ErrUncertifiedPeer) {
		t.Errorf("Infer to an uncertified node = %v; want ErrUncertifiedPeer", err)
	}
}

// rawRequest publishes data as a request to node to and returns the
// first message of the answer.
func rawRequest(t *testing.T, from, to *Node, data func(inbox string) []byte) (byte, []byte) {
	t.Helper()
	return rawExchange(t, from, to, data, false)
}

// rawAnswer is rawRequest's first message after the keepalive a node
// sends as it accepts a request.
func rawAnswer(t *testing.T, from, to *Node, data func(inbox string) []byte) (byte, []byte) {
	t.Helper()
	return rawExchange(t, from, to, data, true)
}

func rawExchange(t *testing.T, from, to *Node, data func(inbox string) []byte, skipKeepalives bool) (byte, []byte) {
	t.Helper()
	nc := from.conn()
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.PublishMsg(&nats.Msg{Subject: InferSubject(to.cfg.Jurisdiction, to.ID()), Reply: inbox, Data: data(inbox)}); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	kind, _, payload, err := unframe(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if kind == kindKeepalive && skipKeepalives {
		for kind == kindKeepalive {
			if m, err = sub.NextMsg(5 * time.Second); err != nil {
				t.Fatalf("no answer after the keepalive: %v", err)
			}
			if kind, _, payload, err = unframe(m.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	return kind, payload
}

func TestInferRefusesForgedRequests(t *testing.T) {
	var calls atomic.Int64
	h := func(ctx context.Context, req *InferRequest, w InferWriter) error {
		calls.Add(1)
		return nil
	}
	nodes := inferCluster(t, h, nil)
	gw, srv := nodes[0], nodes[1]
	wire := func(inbox string) inferWire {
		return inferWire{InferRequest: InferRequest{ID: newRequestID(), Gateway: gw.ID(), Tenant: "acme", Model: "m", Sent: time.Now()},
			Node: srv.ID(), Reply: inbox, Control: ControlPrefix(srv.ID()) + newRequestID()}
	}
	sign := func(key ed25519.PrivateKey, w inferWire) []byte {
		b, err := signInfer(key, &w)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var replayed []byte
	tests := []struct {
		name string
		data func(inbox string) []byte
		want string // in the refusal; "" means accepted
	}{
		{"genuine", func(in string) []byte { return sign(gw.cfg.Identity.Private, wire(in)) }, ""},
		{"unsigned", func(in string) []byte {
			var env inferEnvelope
			if err := json.Unmarshal(sign(gw.cfg.Identity.Private, wire(in)), &env); err != nil {
				t.Fatal(err)
			}
			env.Sig = nil
			b, _ := json.Marshal(env)
			return b
		}, "signature does not verify"},
		{"tampered", func(in string) []byte {
			b := sign(gw.cfg.Identity.Private, wire(in))
			return []byte(strings.Replace(string(b), `"tenant":"acme"`, `"tenant":"evil"`, 1))
		}, "signature does not verify"},
		{"signed by another node", func(in string) []byte { return sign(nodes[2].cfg.Identity.Private, wire(in)) }, "signature does not verify"},
		{"unknown gateway", func(in string) []byte {
			w := wire(in)
			w.Gateway = "node-0000000000000000"
			return sign(gw.cfg.Identity.Private, w)
		}, "not in node"},
		{"addressed to another node", func(in string) []byte {
			w := wire(in)
			w.Node = nodes[2].ID()
			return sign(gw.cfg.Identity.Private, w)
		}, "addressed to node"},
		{"reply redirected", func(in string) []byte {
			w := wire(in)
			w.Reply = "_INBOX.elsewhere"
			return sign(gw.cfg.Identity.Private, w)
		}, "reply subject"},
		{"control elsewhere", func(in string) []byte {
			w := wire(in)
			w.Control = "hearth.status.KE.x"
			return sign(gw.cfg.Identity.Private, w)
		}, "control subject"},
		{"stale", func(in string) []byte {
			w := wire(in)
			w.Sent = time.Now().Add(-time.Hour)
			return sign(gw.cfg.Identity.Private, w)
		}, "off this node's clock"},
		{"jurisdiction not permitted", func(in string) []byte {
			w := wire(in)
			w.Jurisdictions = []string{"KE", "BR"} // srv is in NG
			return sign(gw.cfg.Identity.Private, w)
		}, "permits jurisdictions"},
		{"garbage", func(string) []byte { return []byte("{") }, "malformed"},
		{"first of a replay", func(in string) []byte {
			w := wire(in)
			w.ID = "fixed-id"
			replayed = sign(gw.cfg.Identity.Private, w)
			return replayed
		}, ""},
	}
	accepted := int64(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, payload := rawAnswer(t, gw, srv, tt.data)
			if tt.want == "" {
				if kind != kindHead {
					t.Fatalf("answer kind %q (%s); want a head", kind, payload)
				}
				accepted++
				return
			}
			if kind != kindError || !strings.Contains(string(payload), errKindRefused) || !strings.Contains(string(payload), tt.want) {
				t.Fatalf("answer %q %s; want a refusal with %q", kind, payload, tt.want)
			}
		})
	}
	// The same signed bytes again, to the same inbox: a replay.
	t.Run("replay", func(t *testing.T) {
		kind, payload := rawRequest(t, gw, srv, func(string) []byte { return replayed })
		// The replayed request names its original inbox, not this one:
		// refused either for the reply or as a replay.
		if kind != kindError || !strings.Contains(string(payload), errKindRefused) {
			t.Fatalf("replay answered %q %s; want a refusal", kind, payload)
		}
	})
	time.Sleep(50 * time.Millisecond)
	if c := calls.Load(); c != accepted {
		t.Errorf("handler ran %d times; want %d (only the accepted requests)", c, accepted)
	}
}

func TestInferAddedLatency(t *testing.T) {
	const delay = 150 * time.Millisecond
	h := func(ctx context.Context, req *InferRequest, w InferWriter) error {
		_, err := w.Write([]byte("tok"))
		return err
	}
	nodes := inferCluster(t, h, func(i int, c *Config) {
		if i == 2 {
			c.AddedLatency = delay
		}
	})
	ttfc := func(to *Node) time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		at := time.Now()
		s := startInfer(t, ctx, nodes[0], to, testRequest())
		defer s.Close()
		if _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
		d := time.Since(at)
		if _, err := s.Next(); err != io.EOF {
			t.Fatalf("Next at end = %v", err)
		}
		return d
	}
	near, far := ttfc(nodes[1]), ttfc(nodes[2])
	if far < delay || far-near < delay*9/10 {
		t.Errorf("time to first chunk: %v without added latency, %v with %v; want the difference at least about %v", near, far, delay, delay)
	}
	t.Logf("time to first chunk: %v direct, %v with AddedLatency %v", near, far, delay)
}

func TestHandleInferBeforeStart(t *testing.T) {
	_, op := newOperator(t)
	a := runNode(t, testConfig(t, op, "site-a", "KE"))
	cfg := testConfig(t, op, "site-b", "KE")
	cfg.Listen = ""
	cfg.External = a.ClientURL()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.HandleInfer(func(ctx context.Context, req *InferRequest, w InferWriter) error {
		_, err := w.Write([]byte("hello " + req.Tenant))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.HandleInfer(func(context.Context, *InferRequest, InferWriter) error { return nil }); err == nil {
		t.Error("second HandleInfer succeeded; want an error")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Shutdown(context.Background()) })
	checkFor(t, 5*time.Second, func() error { return sees(a, a.ID(), b.ID()) })
	checkFor(t, 5*time.Second, func() error { return sees(b, a.ID(), b.ID()) })
	s := startInfer(t, ctx, a, b, testRequest())
	defer s.Close()
	if got, err := io.ReadAll(s); err != nil || string(got) != "hello acme" {
		t.Fatalf("got %q, %v; want hello acme", got, err)
	}
}

// TestInferNoLeaks: streams read to the end (without Close), closed
// midway, or still running at Shutdown leave no goroutine behind, and
// Shutdown does not wait for a handler beyond its ctx.
func TestInferNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nodes := leakPair(t, ctx, 2*time.Millisecond, func(n *Node) error {
		return n.HandleInfer(func(ctx context.Context, req *InferRequest, w InferWriter) error {
			for i := 0; string(req.Body) == "forever" || i < 100; i++ {
				if _, err := w.Write([]byte("x")); err != nil {
					return err
				}
			}
			return nil
		})
	})
	for _, n := range nodes {
		checkFor(t, 10*time.Second, func() error { return sees(n, nodes[0].ID(), nodes[1].ID()) })
	}
	waitServing(t, nodes[0], nodes[1])

	s := startInfer(t, ctx, nodes[0], nodes[1], testRequest()) // read to the end, never closed
	if b, err := io.ReadAll(s); err != nil || len(b) != 100 {
		t.Fatalf("ReadAll = %d bytes, %v", len(b), err)
	}
	forever := testRequest()
	forever.Body = []byte("forever")
	s2 := startInfer(t, ctx, nodes[0], nodes[1], forever) // closed midway
	if _, err := s2.Next(); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	s3 := startInfer(t, ctx, nodes[0], nodes[1], forever) // running at Shutdown
	if _, err := s3.Next(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{nodes[1], nodes[0]} {
		if err := n.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	s3.Close()
	checkFor(t, 5*time.Second, func() error {
		if now := runtime.NumGoroutine(); now > before+2 {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("goroutines: %d before, %d after shutdown:\n%s", before, now, buf)
		}
		return nil
	})
}

// TestInferLiveness: a handler silent for several liveness periods is
// kept alive by the server's keepalives; a gateway that vanishes without
// a cancel (no acks, no keepalives) has its handler cancelled.
func TestInferLiveness(t *testing.T) {
	cause := make(chan error, 1)
	h := func(ctx context.Context, req *InferRequest, w InferWriter) error {
		if string(req.Body) == "vanish" {
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return ctx.Err()
		}
		select { // think for a while before the first token
		case <-time.After(6 * testInterval):
		case <-ctx.Done():
			return ctx.Err()
		}
		_, err := w.Write([]byte("late"))
		return err
	}
	nodes := inferCluster(t, h, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("silent handler", func(t *testing.T) {
		s := startInfer(t, ctx, nodes[0], nodes[1], testRequest())
		defer s.Close()
		if b, err := io.ReadAll(s); err != nil || string(b) != "late" {
			t.Fatalf("after %v of silence got %q, %v; want \"late\" (keepalives should hold the %v liveness timeout off)", 6*testInterval, b, err, nodes[0].inferLiveness())
		}
	})

	t.Run("gateway vanishes", func(t *testing.T) {
		gw, srv := nodes[0], nodes[1]
		at := time.Now()
		kind, _ := rawRequest(t, gw, srv, func(inbox string) []byte {
			w := inferWire{InferRequest: InferRequest{ID: newRequestID(), Gateway: gw.ID(), Body: []byte("vanish"), Sent: time.Now()},
				Node: srv.ID(), Reply: inbox, Control: ControlPrefix(srv.ID()) + newRequestID()}
			b, err := signInfer(gw.cfg.Identity.Private, &w)
			if err != nil {
				t.Fatal(err)
			}
			return b
		})
		if kind != kindKeepalive {
			t.Fatalf("first message kind %q; want a keepalive from the silent handler", kind)
		}
		select {
		case err := <-cause:
			d := time.Since(at)
			if !errors.Is(err, errClientLost) || d < srv.inferLiveness() || d > 4*srv.inferLiveness() {
				t.Errorf("handler cancelled after %v with %v; want errClientLost after about %v", d, err, srv.inferLiveness())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("handler still running 5s after its gateway vanished")
		}
	})
}

// TestInferConcurrentStreams: many streams at once through the per-node
// reply and control subscriptions each get their own response, whole and
// in order.
func TestInferConcurrentStreams(t *testing.T) {
	h := func(ctx context.Context, req *InferRequest, w InferWriter) error {
		for i := range 200 {
			if _, err := fmt.Fprintf(w, "%s:%d;", req.Body, i); err != nil {
				return err
			}
		}
		return nil
	}
	// 40 streams at once on a loaded 2-core machine (CI runs packages in
	// parallel): a longer heartbeat gives liveness room, since this test
	// is about order and isolation, not about detecting dead peers.
	nodes := inferCluster(t, h, func(_ int, c *Config) { c.HeartbeatInterval = 500 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const streams = 40
	errs := make(chan error, streams)
	for k := range streams {
		go func() {
			req := testRequest()
			req.Body = []byte(fmt.Sprint("s", k))
			s, err := nodes[k%3].Infer(ctx, nodes[1+k%2].ID(), req)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			got, err := io.ReadAll(s)
			var want strings.Builder
			for i := range 200 {
				fmt.Fprintf(&want, "s%d:%d;", k, i)
			}
			if err == nil && string(got) != want.String() {
				err = fmt.Errorf("stream %d: got %d bytes, want %d (mixed up or out of order)", k, len(got), want.Len())
			}
			errs <- err
		}()
	}
	for range streams {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestInferForgedCancel: a cancel on a request's control subject that its
// gateway did not sign (unsigned, or signed with another node's key) does
// not stop the generation; the gateway's own cancel does.
func TestInferForgedCancel(t *testing.T) {
	started := make(chan struct{}, 1)
	stopped := make(chan struct{}, 1)
	h := func(ctx context.Context, req *InferRequest, w InferWriter) error {
		if _, err := w.Write([]byte("first")); err != nil {
			return err
		}
		started <- struct{}{}
		<-ctx.Done()
		stopped <- struct{}{}
		return ctx.Err()
	}
	nodes := inferCluster(t, h, nil)
	s, err := nodes[0].Infer(context.Background(), nodes[2].ID(), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	<-started
	// Another certified node, which can publish on the bus, tries.
	other := nodes[1]
	forged := [][]byte{
		frame(ctlCancel, 0, nil),
		frame(ctlCancel, 0, ed25519.Sign(other.cfg.Identity.Private, cancelMessage(nodes[0].ID(), s.id, s.control))),
		frame(ctlCancel, 0, ed25519.Sign(nodes[0].cfg.Identity.Private, cancelMessage(nodes[0].ID(), "another-request", s.control))),
	}
	for _, f := range forged {
		if err := other.conn().Publish(s.control, f); err != nil {
			t.Fatal(err)
		}
	}
	other.conn().Flush()
	select {
	case <-stopped:
		t.Fatal("a forged cancel stopped the generation")
	case <-time.After(300 * time.Millisecond):
	}
	s.Close() // the gateway's own, signed cancel
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("the gateway's cancel did not stop the generation")
	}
}
