package fabric

import (
	"context"
	"strings"
	"testing"
	"time"
)

// With a client token, the embedded NATS server's client port refuses
// clients without it (they could otherwise read the fleet's traffic),
// while the node itself, connected in-process, works as before.
func TestClientToken(t *testing.T) {
	_, op := newOperator(t)
	cfg := testConfig(t, op, "site-ke", "KE")
	cfg.ClientToken = "s3cret-token-of-this-node-0123456789"
	n := runNode(t, cfg)
	ctx := context.Background()
	if _, err := Collect(ctx, n.ClientURL(), CollectOptions{Wait: 3 * testInterval}); err == nil {
		t.Error("a client without the token connected")
	}
	if _, err := Collect(ctx, n.ClientURL(), CollectOptions{Wait: 3 * testInterval, Token: "wrong"}); err == nil {
		t.Error("a client with a wrong token connected")
	}
	checkFor(t, 5*time.Second, func() error {
		peers, err := Collect(ctx, n.ClientURL(), CollectOptions{Wait: 3 * testInterval, Token: cfg.ClientToken})
		if err != nil {
			return err
		}
		if len(peers) != 1 || peers[0].ID != n.ID() {
			t.Fatalf("with the token: %+v", peers)
		}
		return nil
	})
}

// A node on an external NATS that wants a token gives it in the URL, as
// NATS clients do (nats://TOKEN@host:port); without it, it cannot start.
func TestExternalWithToken(t *testing.T) {
	_, op := newOperator(t)
	cfg := testConfig(t, op, "site-ke", "KE")
	cfg.ClientToken = "token-for-the-fleet-nats-0123456789"
	a := runNode(t, cfg)
	u := a.ClientURL()
	withToken := strings.Replace(u, "nats://", "nats://"+cfg.ClientToken+"@", 1)
	bc := testConfig(t, op, "site-ng", "NG")
	bc.External = withToken
	b := runNode(t, bc)
	checkFor(t, 5*time.Second, func() error { return sees(a, a.ID(), b.ID()) })

	cc := testConfig(t, op, "site-br", "BR")
	cc.External = u
	n, err := New(cc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := n.Start(ctx); err == nil {
		n.Shutdown(context.Background())
		t.Error("a node without the token joined the fleet's NATS")
	}
}
