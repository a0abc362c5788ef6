package fabric

import (
	"context"
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
