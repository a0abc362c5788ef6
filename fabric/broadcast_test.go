package fabric

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBroadcastSubjects(t *testing.T) {
	for _, tc := range []struct {
		subject string
		ok      bool
	}{
		{"hearth.tenantdoc", true},
		{"hearth.tenantdoc.hello", true},
		{"hearth.a-b.c9", true},
		{"hearth", false},
		{"hearth.", false},
		{"hearth..x", false},
		{"hearth.x.", false},
		{"other.x", false},
		{"hearth.*", false},
		{"hearth.>", false},
		{"hearth.x y", false},
		{"hearth.Tenant", false},
		{"hearth.status", false},
		{"hearth.status.KE.n1", false},
		{"hearth.ping.n1", false},
		{"hearth.infer.KE.n1", false},
		{"hearth.inferctl.n1.t", false},
		{"hearth.deliver.NG.n1.capture", false},
		{"hearth.statusx", true},
		{"hearth." + strings.Repeat("a", 130), false},
	} {
		if err := validBroadcast(tc.subject); (err == nil) != tc.ok {
			t.Errorf("validBroadcast(%q) = %v; want ok %v", tc.subject, err, tc.ok)
		}
	}
}

// received collects what a subscription's handler is given.
type received struct {
	mu   sync.Mutex
	msgs []string
}

func (r *received) take(data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, string(data))
}

func (r *received) has(want ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if fmt.Sprint(r.msgs) != fmt.Sprint(want) {
		return fmt.Errorf("received %q; want %q", r.msgs, want)
	}
	return nil
}

// A subscription made before Start is made by Start; one undone before
// Start is never made; Publish needs a running node; after Shutdown
// Subscribe says the node is closed.
func TestSubscribeBeforeStart(t *testing.T) {
	_, op := newOperator(t)
	n, err := New(testConfig(t, op, "site-ke", "KE"))
	if err != nil {
		t.Fatal(err)
	}
	var early, undone received
	if _, err := n.Subscribe("hearth.test", early.take); err != nil {
		t.Fatal(err)
	}
	unsub, err := n.Subscribe("hearth.test", undone.take)
	if err != nil {
		t.Fatal(err)
	}
	unsub()
	unsub() // twice is harmless
	if err := n.Publish("hearth.test", []byte("too soon")); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Publish before Start: %v; want ErrNotRunning", err)
	}
	if _, err := n.Subscribe("hearth.status.KE.x", early.take); err == nil {
		t.Error("Subscribe took one of the fabric's own subjects")
	}
	if _, err := n.Subscribe("hearth.test", nil); err == nil {
		t.Error("Subscribe took a nil handler")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Publish("hearth.test", []byte("one")); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, func() error { return early.has("one") })
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := undone.has(); err != nil {
		t.Errorf("the subscription undone before Start: %v", err)
	}
	if err := n.Publish("hearth.test", []byte("late")); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Publish after Shutdown: %v; want ErrNotRunning", err)
	}
	if _, err := n.Subscribe("hearth.test", early.take); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Shutdown: %v; want ErrClosed", err)
	}
}

// A broadcast from one node reaches the subscribers of every node, the
// sender's included, and stops at unsubscribe.
func TestBroadcastAcrossCluster(t *testing.T) {
	_, op := newOperator(t)
	nodes := cluster(t, op, nil)
	ids := []string{nodes[0].ID(), nodes[1].ID(), nodes[2].ID()}
	for _, n := range nodes {
		checkFor(t, 10*time.Second, func() error { return sees(n, ids...) })
	}
	got := make([]received, len(nodes))
	unsubs := make([]func(), len(nodes))
	for i, n := range nodes {
		var err error
		if unsubs[i], err = n.Subscribe("hearth.test.news", got[i].take); err != nil {
			t.Fatal(err)
		}
	}
	// Interest crosses routes asynchronously: publish until all have it.
	checkFor(t, 10*time.Second, func() error {
		for i := range got {
			got[i].mu.Lock()
			n := len(got[i].msgs)
			got[i].mu.Unlock()
			if n == 0 {
				if err := nodes[2].Publish("hearth.test.news", []byte("hello")); err != nil {
					t.Fatal(err)
				}
				return fmt.Errorf("node %d has received nothing", i)
			}
		}
		return nil
	})
	unsubs[1]()
	got[1].mu.Lock()
	before := len(got[1].msgs)
	got[1].mu.Unlock()
	if err := nodes[2].Publish("hearth.test.news", []byte("after")); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, func() error {
		got[0].mu.Lock()
		defer got[0].mu.Unlock()
		if got[0].msgs[len(got[0].msgs)-1] != "after" {
			return errors.New("node 0 has not received the last broadcast")
		}
		return nil
	})
	got[1].mu.Lock()
	defer got[1].mu.Unlock()
	if len(got[1].msgs) != before {
		t.Errorf("node 1 received %q after unsubscribing", got[1].msgs[before:])
	}
}

// PublishTo reaches a node's subscribers as a plain client with the
// node's token, and is refused without it.
func TestPublishTo(t *testing.T) {
	_, op := newOperator(t)
	cfg := testConfig(t, op, "site-ke", "KE")
	cfg.ClientToken = "s3cret-token-of-this-node-0123456789"
	n := runNode(t, cfg)
	var got received
	if _, err := n.Subscribe("hearth.test", got.take); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := PublishTo(ctx, ClientAccess{URL: n.ClientURL()}, "test", "hearth.test", []byte("x")); err == nil {
		t.Error("PublishTo without the token succeeded")
	}
	if err := PublishTo(ctx, ClientAccess{URL: n.ClientURL(), Token: cfg.ClientToken}, "test", "hearth.ping.x", []byte("x")); err == nil {
		t.Error("PublishTo published on the fabric's own subject")
	}
	a := ClientAccess{URL: n.ClientURL(), Token: cfg.ClientToken}
	if err := PublishTo(ctx, a, "test", "hearth.test", []byte("a"), []byte("b")); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, func() error { return got.has("a", "b") })
}
