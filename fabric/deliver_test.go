package fabric

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// deliveries records what a test handler took.
type deliveries struct {
	mu   sync.Mutex
	from []string
	got  []string
}

func (d *deliveries) handler(node string) DeliverHandler {
	return func(ctx context.Context, from Peer, payload []byte) ([]byte, error) {
		d.mu.Lock()
		d.from = append(d.from, from.ID)
		d.got = append(d.got, string(payload))
		d.mu.Unlock()
		switch string(payload) {
		case "fail":
			return nil, errors.New("cannot keep this")
		case "hang":
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return []byte("kept by " + node + ": " + string(payload)), nil
	}
}

func (d *deliveries) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.got)
}

// waitDelivering waits until from's NATS server knows that to takes
// deliveries of kind (interest crosses cluster routes asynchronously).
func waitDelivering(t *testing.T, from, to *Node, kind string) {
	t.Helper()
	checkFor(t, 5*time.Second, func() error {
		_, err := from.conn().Request(DeliverSubject(to.cfg.Jurisdiction, to.ID(), kind), []byte("{"), 200*time.Millisecond)
		if errors.Is(err, nats.ErrNoResponders) {
			return err
		}
		return nil
	})
}

// deliverCluster starts the KE, NG, BR cluster, waits until every node
// sees every other, and sets a handler of kind "capture" on the nodes
// listed in handle.
func deliverCluster(t *testing.T, op ed25519.PrivateKey, d *deliveries, tweak func(i int, c *Config), handle ...int) []*Node {
	t.Helper()
	nodes := cluster(t, op, tweak)
	ids := []string{nodes[0].ID(), nodes[1].ID(), nodes[2].ID()}
	for _, n := range nodes {
		checkFor(t, 10*time.Second, func() error { return sees(n, ids...) })
	}
	for _, i := range handle {
		if err := nodes[i].HandleDeliver("capture", d.handler(nodes[i].ID())); err != nil {
			t.Fatalf("HandleDeliver: %v", err)
		}
		for _, from := range nodes {
			waitDelivering(t, from, nodes[i], "capture")
		}
	}
	return nodes
}

func TestDeliverToJurisdiction(t *testing.T) {
	_, op := newOperator(t)
	var d deliveries
	nodes := deliverCluster(t, op, &d, nil, 1, 2) // NG and BR take captures
	ke, ng, br := nodes[0], nodes[1], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tests := []struct {
		name, j, kind, payload string
		wantNode, wantReply    string
		wantErr                error
		wantIn                 string // in the error
	}{
		{name: "to NG", j: "NG", kind: "capture", payload: "record 1", wantNode: ng.ID(), wantReply: "kept by " + ng.ID() + ": record 1"},
		{name: "to BR", j: "BR", kind: "capture", payload: "record 2", wantNode: br.ID(), wantReply: "kept by " + br.ID() + ": record 2"},
		{name: "no node in ZA", j: "ZA", kind: "capture", payload: "x", wantErr: ErrNoNode, wantIn: "no certified node in ZA"},
		{name: "KE node takes no captures", j: "KE", kind: "capture", payload: "x", wantErr: ErrNoNode, wantIn: "takes no such deliveries"},
		{name: "no handler of the kind", j: "NG", kind: "feedback", payload: "x", wantErr: ErrPeerLost, wantIn: "takes no such deliveries"},
		{name: "handler error", j: "NG", kind: "capture", payload: "fail", wantIn: "cannot keep this"},
		{name: "bad kind", j: "NG", kind: "capture.>", payload: "x", wantIn: "delivery kind"},
		{name: "too large for NATS", j: "NG", kind: "capture", payload: strings.Repeat("x", 1<<20), wantErr: ErrNoNode, wantIn: "NATS's limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ke.Deliver(ctx, tt.j, tt.kind, []byte(tt.payload))
			if tt.wantIn != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantIn) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("Deliver = %+v, %v; want an error wrapping %v with %q", got, err, tt.wantErr, tt.wantIn)
				}
				return
			}
			if err != nil || got.Node != tt.wantNode || string(got.Payload) != tt.wantReply {
				t.Fatalf("Deliver = %s %q, %v; want %s %q", got.Node, got.Payload, err, tt.wantNode, tt.wantReply)
			}
		})
	}
	// A handler's error is final: not retried, and not "no node".
	if _, err := ke.Deliver(ctx, "NG", "capture", []byte("fail")); !errors.As(err, new(*RemoteError)) || errors.Is(err, ErrNoNode) {
		t.Errorf("handler error = %v; want a RemoteError, not ErrNoNode", err)
	}
	// The handlers saw the verified sender; bad and misdirected ones never ran.
	d.mu.Lock()
	defer d.mu.Unlock()
	if want := []string{"record 1", "record 2", "fail", "fail"}; strings.Join(d.got, "|") != strings.Join(want, "|") {
		t.Errorf("handlers took %q; want %q", d.got, want)
	}
	for _, f := range d.from {
		if f != ke.ID() {
			t.Errorf("handler saw sender %s; want %s", f, ke.ID())
		}
	}
}

// TestDeliverFallsBack: with two NG nodes, one without a handler (or one
// that hangs), the delivery goes to the other.
func TestDeliverFallsBack(t *testing.T) {
	_, op := newOperator(t)
	var d deliveries
	nodes := deliverCluster(t, op, &d, func(i int, c *Config) {
		// The sender gives up before a hung handler's own deadline, so
		// that it sees silence rather than the handler's error.
		c.DeliverTimeout = time.Second
		if i == 0 {
			c.DeliverTimeout = 300 * time.Millisecond
		}
		if i == 2 { // a second NG node
			c.Site, c.Jurisdiction = "site-ng2", "NG"
			cert, err := Certify(op, c.Identity.Public, c.Site, "NG", time.Hour, time.Now().Add(-time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			c.Cert = cert
		}
	}, 2)
	ke, ng2 := nodes[0], nodes[2]
	if got := ke.CertifiedIn("NG"); len(got) != 2 {
		t.Fatalf("CertifiedIn(NG) = %d peers; want 2", len(got))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 4 {
		got, err := ke.Deliver(ctx, "NG", "capture", []byte("r"))
		if err != nil || got.Node != ng2.ID() {
			t.Fatalf("delivery %d went to %s, %v; want %s", i, got.Node, err, ng2.ID())
		}
	}

	// Both NG nodes now take captures, but one hangs: the sender gives
	// it DeliverTimeout, and the hung handler's context ends too.
	ng1 := nodes[1]
	hung := make(chan error, 1)
	if err := ng1.HandleDeliver("capture", func(ctx context.Context, _ Peer, p []byte) ([]byte, error) {
		<-ctx.Done()
		hung <- ctx.Err()
		return nil, ctx.Err()
	}); err != nil {
		t.Fatal(err)
	}
	waitDelivering(t, ke, ng1, "capture")
	if _, err := ke.DeliverTo(ctx, ng1.ID(), "capture", []byte("r")); !errors.Is(err, ErrPeerLost) || !strings.Contains(err.Error(), "no answer within") {
		t.Errorf("DeliverTo a hung node = %v; want ErrPeerLost after the timeout", err)
	}
	select {
	case err := <-hung:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("hung handler's ctx ended with %v; want its deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the hung handler's ctx never ended")
	}
}

// uncertifiedFirst makes a cluster's first node (KE) one without a
// certificate.
func uncertifiedFirst(i int, c *Config) {
	if i == 0 {
		c.Cert = nil
	}
}

// TestDeliverRefusesUncertifiedSender: a node without a certificate may
// send, but no node keeps what it sends.
func TestDeliverRefusesUncertifiedSender(t *testing.T) {
	_, op := newOperator(t)
	var d deliveries
	nodes := deliverCluster(t, op, &d, uncertifiedFirst, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := nodes[0].Deliver(ctx, "NG", "capture", []byte("r"))
	if !errors.Is(err, ErrNoNode) || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "not certified") {
		t.Fatalf("Deliver from an uncertified node = %v; want ErrNoNode and ErrRefused naming the certification", err)
	}
	if _, err := nodes[2].Deliver(ctx, "NG", "capture", []byte("r")); err != nil {
		t.Fatalf("Deliver from a certified node: %v", err)
	}
	if n := d.count(); n != 1 {
		t.Errorf("handler ran %d times; want 1 (only for the certified sender)", n)
	}
}

// TestDeliverNeedsCertifiedReceiver: a node whose certificate is expired,
// forged, for another place, or missing gets no deliveries: senders do
// not address it, and it refuses one sent to it anyway.
func TestDeliverNeedsCertifiedReceiver(t *testing.T) {
	_, op := newOperator(t)
	_, otherOp := newOperator(t)
	tests := []struct {
		name  string
		cert  func(c *Config) *Cert
		claim string // the jurisdiction the NG node claims
	}{
		{"expired", func(c *Config) *Cert {
			cert, _ := Certify(op, c.Identity.Public, c.Site, "NG", time.Hour, time.Now().Add(-2*time.Hour))
			return cert
		}, "NG"},
		{"forged by another operator", func(c *Config) *Cert {
			cert, _ := Certify(otherOp, c.Identity.Public, c.Site, "NG", time.Hour, time.Now().Add(-time.Minute))
			return cert
		}, "NG"},
		{"certified for BR, claims NG", func(c *Config) *Cert {
			cert, _ := Certify(op, c.Identity.Public, c.Site, "BR", time.Hour, time.Now().Add(-time.Minute))
			return cert
		}, "NG"},
		{"none", func(c *Config) *Cert { return nil }, "NG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d deliveries
			nodes := deliverCluster(t, op, &d, func(i int, c *Config) {
				if i == 1 {
					c.Jurisdiction = tt.claim
					c.Cert = tt.cert(c)
				}
			}, 1)
			ke, ng := nodes[0], nodes[1]
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := ke.Deliver(ctx, "NG", "capture", []byte("r")); !errors.Is(err, ErrNoNode) || !strings.Contains(err.Error(), "no certified node in NG") {
				t.Errorf("Deliver = %v; want ErrNoNode: no certified node in NG", err)
			}
			if _, err := ke.DeliverTo(ctx, ng.ID(), "capture", []byte("r")); !errors.Is(err, ErrUncertifiedPeer) {
				t.Errorf("DeliverTo = %v; want ErrUncertifiedPeer", err)
			}
			// Sent anyway, by a certified sender: the node refuses it itself.
			r := rawDeliver(t, ke, ng, "capture", func(w *deliverWire) {}, ke.cfg.Identity.Private)
			if r.ErrKind != errKindRefused || !strings.Contains(r.Message, "is not certified for NG") {
				t.Errorf("reply %+v; want a refusal: not certified", r)
			}
			if n := d.count(); n != 0 {
				t.Errorf("handler ran %d times; want 0", n)
			}
		})
	}
}

// rawDeliver publishes a delivery from node from to node to, built and
// then changed by edit, signed with key, and returns the decoded reply
// (after checking it is signed by to).
func rawDeliver(t *testing.T, from, to *Node, kind string, edit func(w *deliverWire), key ed25519.PrivateKey) deliverReply {
	t.Helper()
	w := deliverWire{ID: newRequestID(), From: from.ID(), To: to.ID(), Jurisdiction: to.cfg.Jurisdiction, Kind: kind, Sent: time.Now(), Payload: []byte("r")}
	edit(&w)
	data, err := signBody(key, deliverDomain, &w)
	if err != nil {
		t.Fatal(err)
	}
	return rawSend(t, from, to, kind, data)
}

func rawSend(t *testing.T, from, to *Node, kind string, data []byte) deliverReply {
	t.Helper()
	m, err := from.conn().Request(DeliverSubject(to.cfg.Jurisdiction, to.ID(), kind), data, 5*time.Second)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	var r deliverReply
	env, err := openBody(m.Data, &r)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(to.cfg.Identity.Public, append([]byte(deliverReplyDomain), env.Body...), env.Sig) {
		t.Fatalf("reply %+v is not signed by %s", r, to.ID())
	}
	return r
}

func TestDeliverRefusesForged(t *testing.T) {
	_, op := newOperator(t)
	var d deliveries
	nodes := deliverCluster(t, op, &d, nil, 1)
	ke, ng, br := nodes[0], nodes[1], nodes[2]
	keKey := ke.cfg.Identity.Private
	sign := func(w deliverWire, key ed25519.PrivateKey) []byte {
		b, err := signBody(key, deliverDomain, &w)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	wire := func() deliverWire {
		return deliverWire{ID: newRequestID(), From: ke.ID(), To: ng.ID(), Jurisdiction: "NG", Kind: "capture", Sent: time.Now(), Payload: []byte("r")}
	}
	replayed := sign(wire(), keKey)
	tests := []struct {
		name string
		data []byte
		want string // in the refusal; "" means accepted
	}{
		{"genuine", sign(wire(), keKey), ""},
		{"unsigned", func() []byte {
			var env signedEnvelope
			json.Unmarshal(sign(wire(), keKey), &env)
			env.Sig = nil
			b, _ := json.Marshal(env)
			return b
		}(), "signature does not verify"},
		{"tampered", []byte(strings.Replace(string(sign(wire(), keKey)), `"kind":"capture"`, `"kind":"capturf"`, 1)), "signature does not verify"},
		{"signed by another node", sign(wire(), br.cfg.Identity.Private), "signature does not verify"},
		{"unknown sender", func() []byte { w := wire(); w.From = "node-0000000000000000"; return sign(w, keKey) }(), "not in node"},
		{"addressed to another node", func() []byte { w := wire(); w.To = br.ID(); return sign(w, keKey) }(), "addressed to"},
		{"for another handler", func() []byte { w := wire(); w.Kind = "feedback"; return sign(w, keKey) }(), "addressed to"},
		{"for another jurisdiction", func() []byte { w := wire(); w.Jurisdiction = "BR"; return sign(w, keKey) }(), "is for jurisdiction BR"},
		{"stale", func() []byte { w := wire(); w.Sent = time.Now().Add(-time.Hour); return sign(w, keKey) }(), "off this node's clock"},
		{"no id", func() []byte { w := wire(); w.ID = ""; return sign(w, keKey) }(), "no ID"},
		{"garbage", []byte("{"), "malformed"},
		{"first of a replay", replayed, ""},
		{"replay", replayed, "already received"},
	}
	accepted := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rawSend(t, ke, ng, "capture", tt.data)
			if tt.want == "" {
				if r.ErrKind != "" || r.From != ng.ID() || r.To != ke.ID() {
					t.Fatalf("reply %+v; want acceptance by %s", r, ng.ID())
				}
				accepted++
				return
			}
			if r.ErrKind != errKindRefused || !strings.Contains(r.Message, tt.want) {
				t.Fatalf("reply %+v; want a refusal with %q", r, tt.want)
			}
		})
	}
	if n := d.count(); n != accepted || accepted != 2 {
		t.Errorf("handler ran %d times, %d accepted; want 2", n, accepted)
	}
}

// TestDeliverRefusesRogueReply: something else answering on an NG node's
// subject (a node of another jurisdiction, or a replay of the NG node's
// own words) cannot acknowledge a delivery.
func TestDeliverRefusesRogueReply(t *testing.T) {
	_, op := newOperator(t)
	var d deliveries
	nodes := deliverCluster(t, op, &d, nil)
	ke, ng, br := nodes[0], nodes[1], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var genuine []byte // a real reply of ng's, to another request
	{
		r := deliverReply{ID: newRequestID(), From: ng.ID(), To: ke.ID(), Jurisdiction: "NG", Kind: "capture", Sent: time.Now(), Payload: []byte("ok")}
		genuine, _ = signBody(ng.cfg.Identity.Private, deliverReplyDomain, &r)
	}
	tests := []struct {
		name  string
		reply func(w deliverWire) []byte
		want  string
	}{
		{"BR node answers as itself", func(w deliverWire) []byte {
			r := deliverReply{ID: w.ID, From: br.ID(), To: w.From, Jurisdiction: w.Jurisdiction, Kind: w.Kind, Sent: time.Now(), Payload: []byte("ok")}
			b, _ := signBody(br.cfg.Identity.Private, deliverReplyDomain, &r)
			return b
		}, "claims to be from"},
		{"BR node answers as the NG node", func(w deliverWire) []byte {
			r := deliverReply{ID: w.ID, From: ng.ID(), To: w.From, Jurisdiction: w.Jurisdiction, Kind: w.Kind, Sent: time.Now(), Payload: []byte("ok")}
			b, _ := signBody(br.cfg.Identity.Private, deliverReplyDomain, &r)
			return b
		}, "signature does not verify"},
		{"replay of another reply", func(deliverWire) []byte { return genuine }, "not this one"},
		{"garbage", func(deliverWire) []byte { return []byte("ok") }, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := br.conn().Subscribe(DeliverSubject("NG", ng.ID(), "capture"), func(m *nats.Msg) {
				var w deliverWire
				if _, err := openBody(m.Data, &w); err != nil {
					return
				}
				m.Respond(tt.reply(w))
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			waitDelivering(t, ke, ng, "capture")
			_, err = ke.Deliver(ctx, "NG", "capture", []byte("r"))
			if !errors.Is(err, ErrNoNode) || !errors.Is(err, ErrBadReply) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Deliver = %v; want ErrNoNode and ErrBadReply with %q", err, tt.want)
			}
		})
	}
}

// TestHandleDeliverLifecycle: a handler set before Start is served once
// the node starts; one kind takes one handler; none after Shutdown.
func TestHandleDeliverLifecycle(t *testing.T) {
	_, op := newOperator(t)
	first := runNode(t, func() Config {
		c := testConfig(t, op, "site-ke", "KE")
		c.ClusterListen = "127.0.0.1:0"
		return c
	}())
	cfg := testConfig(t, op, "site-ng", "NG")
	cfg.ClusterListen, cfg.Join = "127.0.0.1:0", []string{first.ClusterURL()}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var d deliveries
	if err := n.HandleDeliver("capture", d.handler(n.ID())); err != nil {
		t.Fatalf("HandleDeliver before Start: %v", err)
	}
	for _, tt := range []struct {
		kind string
		h    DeliverHandler
		want string
	}{
		{"capture", d.handler(""), "already set"},
		{"a.b", d.handler(""), "delivery kind"},
		{"", d.handler(""), "delivery kind"},
		{"feedback", nil, "nil handler"},
	} {
		if err := n.HandleDeliver(tt.kind, tt.h); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("HandleDeliver(%q) = %v; want %q", tt.kind, err, tt.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 10*time.Second, func() error { return sees(first, first.ID(), n.ID()) })
	checkFor(t, 10*time.Second, func() error { return sees(n, first.ID(), n.ID()) })
	waitDelivering(t, first, n, "capture")
	got, err := first.Deliver(ctx, "NG", "capture", []byte("early"))
	if err != nil || got.Node != n.ID() {
		t.Fatalf("Deliver to a handler set before Start = %+v, %v", got, err)
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.HandleDeliver("feedback", d.handler("")); !errors.Is(err, ErrClosed) {
		t.Errorf("HandleDeliver after Shutdown = %v; want ErrClosed", err)
	}
	if _, err := n.Deliver(ctx, "KE", "capture", nil); err == nil {
		t.Error("Deliver from a stopped node succeeded")
	}
}

// TestDeliverRefusedIsTold: the handler set with HandleDeliverRefused
// hears of a refused delivery of its kind, with the sender it names and
// why, and of nothing the node took.
func TestDeliverRefusedIsTold(t *testing.T) {
	_, op := newOperator(t)
	var d deliveries
	nodes := deliverCluster(t, op, &d, uncertifiedFirst, 1)
	type refusal struct {
		from string
		err  error
	}
	told := make(chan refusal, 4)
	if err := nodes[1].HandleDeliverRefused("capture", func(from string, err error) { told <- refusal{from, err} }); err != nil {
		t.Fatal(err)
	}
	if err := nodes[1].HandleDeliverRefused("capture", func(string, error) {}); err == nil {
		t.Error("a second refusal handler for one kind was accepted")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nodes[0].Deliver(ctx, "NG", "capture", []byte("r"))
	if _, err := nodes[2].Deliver(ctx, "NG", "capture", []byte("r")); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-told:
		if r.from != nodes[0].ID() || !errors.Is(r.err, ErrRefused) || !strings.Contains(r.err.Error(), "not certified") {
			t.Errorf("told of %s: %v; want %s, not certified", r.from, r.err, nodes[0].ID())
		}
	case <-ctx.Done():
		t.Fatal("the refusal handler was not told")
	}
	select {
	case r := <-told:
		t.Errorf("told of a delivery the node took: %s %v", r.from, r.err)
	default:
	}
}
