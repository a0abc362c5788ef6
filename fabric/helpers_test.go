package fabric

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/identity"
)

// testInterval keeps tests quick: peers expire after 3 of these.
const testInterval = 100 * time.Millisecond

// newIdentity creates a node identity in a temporary directory.
func newIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.LoadOrCreate(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// newOperator returns a fresh operator key pair.
func newOperator(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// testConfig is a loopback node in jurisdiction j at site s, with a
// certificate from op valid for a day.
func testConfig(t testing.TB, op ed25519.PrivateKey, site, j string) Config {
	t.Helper()
	id := newIdentity(t)
	cert, err := Certify(op, id.Public, site, j, 24*time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		Identity:          id,
		Site:              site,
		Jurisdiction:      j,
		Cert:              cert,
		OperatorKey:       op.Public().(ed25519.PublicKey),
		HeartbeatInterval: testInterval,
	}
}

// runNode starts a node from cfg and shuts it down when the test ends, the
// way nats-server's RunServer does for servers: Start returns once the
// server accepts clients.
func runNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown %s: %v", n.ID(), err)
		}
	})
	return n
}

// checkFor polls f every 20ms until it returns nil or total passes, then
// fails with f's last error.
func checkFor(t *testing.T, total time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", total, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sees reports an error unless n lists exactly the nodes ids.
func sees(n *Node, ids ...string) error {
	peers := n.Peers()
	got := make(map[string]bool, len(peers))
	for _, p := range peers {
		got[p.ID] = true
	}
	for _, id := range ids {
		if !got[id] {
			return fmt.Errorf("node %s does not see %s (sees %d peers)", n.ID(), id, len(peers))
		}
	}
	if len(peers) != len(ids) {
		return fmt.Errorf("node %s sees %d peers; want %d", n.ID(), len(peers), len(ids))
	}
	return nil
}

func mustRawCert(t *testing.T, c *Cert) json.RawMessage {
	t.Helper()
	raw, err := rawCert(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
