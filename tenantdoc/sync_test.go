package tenantdoc

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/tenant"
)

// run runs s until the test ends, and checks that Run then returns nil.
func run(t *testing.T, s *Sync) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: not %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasTenant(ts *tenant.Store, name string) bool {
	_, err := ts.GetTenant(context.Background(), name)
	return err == nil
}

// member is one node of the test fleet: a fabric node, its book and its
// Sync.
type member struct {
	fab   *fabric.Node
	book  *Book
	ts    *tenant.Store
	audit *testfixture.Audit
}

// newMember builds a node clustering with join (if any) and runs its Sync
// from before the fabric starts, as a node assembling its parts does.
func newMember(t *testing.T, op ed25519.PublicKey, join string) *member {
	t.Helper()
	m := &member{audit: &testfixture.Audit{}}
	m.book, m.ts = openBook(t, op)
	id, err := identity.LoadOrCreate(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fabric.Config{Identity: id, Site: "site", Jurisdiction: "KE", OperatorKey: op,
		ClusterListen: "127.0.0.1:0", HeartbeatInterval: 100 * time.Millisecond}
	if join != "" {
		cfg.Join = []string{join}
	}
	if m.fab, err = fabric.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.fab.Shutdown(context.Background()) })
	run(t, NewSync(m.book, m.fab, m.audit, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.fab.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSyncOverFabric: a document published through one node is applied
// by the others and audited; a node that starts later catches up; a
// document signed with another key changes nothing anywhere.
func TestSyncOverFabric(t *testing.T) {
	opPub, opPriv, _ := ed25519.GenerateKey(nil)
	a := newMember(t, opPub, "")
	b := newMember(t, opPub, a.fab.ClusterURL())
	waitFor(t, "the two nodes see each other", func() bool { return len(a.fab.Peers()) == 2 && len(b.fab.Peers()) == 2 })

	doc := sign(t, opPriv, Doc{Tenant: "ng-health", Policy: tenant.Policy{Jurisdictions: []string{"NG"}}}, time.Now())
	if err := b.fab.Publish(Subject, doc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ng-health on the other node", func() bool { return hasTenant(a.ts, "ng-health") })
	recs := a.audit.Records()
	if len(recs) != 1 || recs[0].Kind != audit.KindAdmin || recs[0].Decision != audit.DecisionAllow ||
		recs[0].Tenant != "ng-health" || recs[0].Detail["action"] != "tenant.apply" || recs[0].Detail["via"] != "tenant document" {
		t.Errorf("audit records for the applied document: %+v", recs)
	}

	_, rogue, _ := ed25519.GenerateKey(nil)
	evil := sign(t, rogue, Doc{Tenant: "evil"}, time.Now())
	marker := sign(t, opPriv, Doc{Tenant: "marker"}, time.Now())
	for _, d := range [][]byte{evil, marker} {
		if err := a.fab.Publish(Subject, d); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "marker on both nodes", func() bool { return hasTenant(a.ts, "marker") && hasTenant(b.ts, "marker") })
	for i, m := range []*member{a, b} {
		if hasTenant(m.ts, "evil") {
			t.Errorf("node %d applied a document signed with another key", i)
		}
	}

	late := newMember(t, opPub, a.fab.ClusterURL())
	waitFor(t, "the late node has both tenants", func() bool { return hasTenant(late.ts, "ng-health") && hasTenant(late.ts, "marker") })
	if hasTenant(late.ts, "evil") {
		t.Error("the late node applied a document signed with another key")
	}
}

// fakeFabric is a Fabric without a network: Publish records, deliver
// calls the handlers.
type fakeFabric struct {
	mu        sync.Mutex
	published map[string]int
	handlers  map[string]func([]byte)
	err       error // from Subscribe
}

func (f *fakeFabric) Publish(subject string, _ []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.published[subject]++
	return nil
}

func (f *fakeFabric) Subscribe(subject string, h func([]byte)) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	f.handlers[subject] = h
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.handlers, subject)
	}, nil
}

func (f *fakeFabric) Peers() []fabric.Peer { return nil }

func (f *fakeFabric) deliver(subject string, data []byte) error {
	f.mu.Lock()
	h := f.handlers[subject]
	f.mu.Unlock()
	if h == nil {
		return fmt.Errorf("no subscription to %s", subject)
	}
	h(data)
	return nil
}

func (f *fakeFabric) count(subject string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.published[subject]
}

// TestSyncRules: Run says hello; a hello makes the node pass on what it
// holds, at most once per helloGap; a document whose change cannot be
// audited is not applied, and is when it comes again; Run unsubscribes
// when it ends, and fails when it cannot subscribe.
func TestSyncRules(t *testing.T) {
	opPub, opPriv, _ := ed25519.GenerateKey(nil)
	book, ts := openBook(t, opPub)
	fab := &fakeFabric{published: map[string]int{}, handlers: map[string]func([]byte){}}
	al := &testfixture.Audit{}
	al.Fail(errors.New("the audit log cannot record"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewSync(book, fab, al, nil).Run(ctx) }()
	waitFor(t, "a hello", func() bool { return fab.count(HelloSubject) == 1 })

	doc := sign(t, opPriv, Doc{Tenant: "acme"}, time.Now())
	if err := fab.deliver(Subject, doc); err != nil {
		t.Fatal(err)
	}
	if hasTenant(ts, "acme") {
		t.Error("a document whose change could not be audited was applied")
	}
	al.Fail(nil)
	if err := fab.deliver(Subject, doc); err != nil {
		t.Fatal(err)
	}
	if !hasTenant(ts, "acme") || len(al.Records()) != 1 {
		t.Errorf("the document again: tenant %v, %d audit records; want applied and audited once", hasTenant(ts, "acme"), len(al.Records()))
	}

	for range 3 {
		if err := fab.deliver(HelloSubject, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := fab.count(Subject); n != 1 {
		t.Errorf("three hellos in a row published %d documents; want the one held, once", n)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := fab.deliver(Subject, doc); err == nil {
		t.Error("Run left its subscription behind")
	}

	fab.err = errors.New("no subscriptions today")
	if err := NewSync(book, fab, al, nil).Run(context.Background()); !errors.Is(err, fab.err) {
		t.Errorf("Run when it cannot subscribe: %v", err)
	}
}
