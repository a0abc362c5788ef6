package fabric

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The fabric reads messages any client of the fleet's NATS can send. A
// malformed one must be refused with an error, never panic: a panic in a
// subscription callback would take the whole node down. These fuzz the
// parsers of every kind of message a node receives, seeded with real ones.

func FuzzParseCert(f *testing.F) {
	opPub, op := newOperator(f)
	id := newIdentity(f)
	c, err := Certify(op, id.Public, "site", "KE", time.Hour, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	b, _ := c.MarshalJSON()
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := ParseCert(data); err == nil {
			_ = c.Verify(opPub, time.Now())
			_ = c.Matches(id.Public)
		}
	})
}

func FuzzHeartbeat(f *testing.F) {
	opPub, op := newOperator(f)
	cfg := testConfig(f, op, "site", "KE")
	hb := &heartbeat{ID: cfg.Identity.ID, Site: "site", Jurisdiction: "KE", PublicKey: publicHex(cfg.Identity.Public),
		Load: Load{Models: []string{"m"}}, Time: time.Now().UTC(), Boot: 1, Seq: 1}
	if raw, err := rawCert(cfg.Cert); err == nil {
		hb.Cert = raw
	}
	data, err := signHeartbeat(cfg.Identity.Private, hb)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(StatusSubject("KE", cfg.Identity.ID), data)
	f.Add("hearth.status.KE.x", []byte(`{"heartbeat":{},"sig":""}`))
	tab := newTable(opPub, time.Second, time.Minute, time.Now)
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		_ = tab.accept(subject, data, "")
		_ = tab.list()
	})
}

func FuzzInferAndDeliver(f *testing.F) {
	_, op := newOperator(f)
	cfg := testConfig(f, op, "site", "KE")
	n, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	w := inferWire{InferRequest: *testRequest(), Node: n.ID(), Reply: "_INBOX.x", Control: ControlPrefix(n.ID()) + "tok"}
	w.Gateway, w.ID, w.Sent = n.ID(), "req", time.Now()
	signed, err := signInfer(cfg.Identity.Private, &w)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(signed, frame(kindData, 1, []byte("x")))
	f.Add([]byte(`{"request":"e30=","sig":""}`), []byte{ctlCancel, 0})
	o := &outStream{n: n, gatewayKey: cfg.Identity.Public, cancelMsg: []byte("m"), start: time.Now(), credit: make(chan struct{}, 1),
		cancel: func(error) {}}
	f.Fuzz(func(t *testing.T, request, control []byte) {
		_, _ = n.openInfer(&nats.Msg{Data: request, Reply: "_INBOX.x"})
		_, _, _ = n.openDeliver("capture", request)
		_, _, _, _ = unframe(control)
		o.control(control)
	})
}
