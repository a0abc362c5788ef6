package fabric

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"
)

// With RouteTLS, certified nodes cluster over TLS and see each other;
// a node with another operator's certificate, an expired one, or none
// cannot form a route, so it never reaches the fleet at all.
func TestRouteTLS(t *testing.T) {
	opPub, op := newOperator(t)
	_, rogue := newOperator(t)
	cfg := func(priv ed25519.PrivateKey, j string) Config {
		c := testConfig(t, priv, "site-"+j, j)
		c.OperatorKey, c.ClusterListen, c.RouteTLS = opPub, "127.0.0.1:0", true
		return c
	}
	a := runNode(t, cfg(op, "KE"))
	bc := cfg(op, "NG")
	bc.Join = []string{a.ClusterURL()}
	b := runNode(t, bc)
	checkFor(t, 5*time.Second, func() error {
		if err := sees(a, a.ID(), b.ID()); err != nil {
			return err
		}
		return sees(b, a.ID(), b.ID())
	})

	forged := cfg(rogue, "KE")
	forged.Join = []string{a.ClusterURL()}
	expired := cfg(op, "KE")
	expired.Cert, _ = Certify(op, expired.Identity.Public, "site-x", "KE", time.Second, time.Now().Add(-time.Hour))
	expired.Join = []string{a.ClusterURL()}
	plain := cfg(op, "KE")
	plain.RouteTLS = false
	plain.Join = []string{a.ClusterURL()}
	var outsiders []*Node
	for _, c := range []Config{forged, expired, plain} {
		outsiders = append(outsiders, runNode(t, c))
	}
	// Long enough for routes to be tried and heartbeats to arrive.
	time.Sleep(10 * testInterval)
	if err := sees(a, a.ID(), b.ID()); err != nil {
		t.Errorf("with outsiders trying to join: %v", err)
	}
	for _, o := range outsiders {
		if err := sees(o, o.ID()); err != nil {
			t.Errorf("outsider: %v", err)
		}
	}
}

// The TLS peer check refuses every way a certificate can be wrong.
func TestVerifyRoutePeer(t *testing.T) {
	opPub, op := newOperator(t)
	_, rogue := newOperator(t)
	id := newIdentity(t)
	other := newIdentity(t)
	now := time.Now()
	good, _ := Certify(op, id.Public, "s", "KE", time.Hour, now.Add(-time.Minute))
	forged, _ := Certify(rogue, id.Public, "s", "KE", time.Hour, now.Add(-time.Minute))
	expired, _ := Certify(op, id.Public, "s", "KE", time.Minute, now.Add(-time.Hour))
	someoneElses, _ := Certify(op, other.Public, "s", "KE", time.Hour, now.Add(-time.Minute))
	for _, c := range []struct {
		name string
		priv ed25519.PrivateKey
		cert *Cert
		ok   bool
	}{
		{"valid", id.Private, good, true},
		{"another operator", id.Private, forged, false},
		{"expired", id.Private, expired, false},
		{"another node's certificate", id.Private, someoneElses, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			leaf, err := routeCertificate(c.priv, c.cert)
			if err != nil {
				if c.ok {
					t.Fatal(err)
				}
				return // an expired certificate cannot even make a TLS certificate
			}
			got, err := verifyRoutePeer(leaf.Certificate, opPub, now)
			if c.ok && (err != nil || got.NodeID != id.ID) {
				t.Errorf("valid peer refused: %v", err)
			}
			if !c.ok && !errors.Is(err, ErrRouteTLS) {
				t.Errorf("got %v, want ErrRouteTLS", err)
			}
		})
	}
	if _, err := verifyRoutePeer(nil, opPub, now); !errors.Is(err, ErrRouteTLS) {
		t.Errorf("no certificate: %v", err)
	}
	if _, err := verifyRoutePeer([][]byte{[]byte("junk")}, opPub, now); !errors.Is(err, ErrRouteTLS) {
		t.Errorf("junk certificate: %v", err)
	}
}
