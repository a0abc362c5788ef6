package fabric

import (
	"context"
	"crypto/ed25519"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// cluster starts three nodes in KE, NG and BR that form a NATS cluster:
// the second and third join the first.
func cluster(t *testing.T, op ed25519.PrivateKey, tweak func(i int, c *Config)) []*Node {
	t.Helper()
	var nodes []*Node
	for i, j := range []string{"KE", "NG", "BR"} {
		cfg := testConfig(t, op, "site-"+strings.ToLower(j), j)
		cfg.ClusterListen = "127.0.0.1:0"
		if i > 0 {
			cfg.Join = []string{nodes[0].ClusterURL()}
		}
		if tweak != nil {
			tweak(i, &cfg)
		}
		nodes = append(nodes, runNode(t, cfg))
	}
	return nodes
}

// leakPair starts two clustered KE nodes with latency added to their
// pings, calling setup (if not nil) on each before it starts. Unlike
// cluster it registers no cleanup: the leak tests shut the nodes down
// themselves and then count goroutines.
func leakPair(t *testing.T, ctx context.Context, latency time.Duration, setup func(*Node) error) []*Node {
	t.Helper()
	_, op := newOperator(t)
	var nodes []*Node
	for i := range 2 {
		cfg := testConfig(t, op, "s", "KE")
		cfg.ClusterListen = "127.0.0.1:0"
		cfg.AddedLatency = latency
		if i > 0 {
			cfg.Join = []string{nodes[0].ClusterURL()}
		}
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if setup != nil {
			if err := setup(n); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

func TestClusterSeesEachOtherAndExpiry(t *testing.T) {
	_, op := newOperator(t)
	nodes := cluster(t, op, func(i int, c *Config) {
		c.HTTPAddr = "127.0.0.1:80" + string(rune('0'+i))
		c.Status = func() Load { return Load{Models: []string{"stories"}, Slots: 4, Queue: i} }
	})
	ids := []string{nodes[0].ID(), nodes[1].ID(), nodes[2].ID()}
	// Nodes 1 and 2 joined only node 0, and NATS forwards a message over
	// one route at most: for them to see each other, route gossip must
	// have made the cluster a full mesh.
	for _, n := range nodes {
		if !strings.HasPrefix(n.ClusterURL(), "nats-route://127.0.0.1:") {
			t.Fatalf("ClusterURL = %q; want a loopback nats-route URL", n.ClusterURL())
		}
		checkFor(t, 10*time.Second, func() error { return sees(n, ids...) })
	}

	// Every node has every other's status, certified.
	for _, n := range nodes {
		for i, id := range ids {
			p, ok := n.Peer(id)
			if !ok {
				t.Fatalf("%s: Peer(%s) missing", n.ID(), id)
			}
			if !p.Certified || p.CertProblem != "" {
				t.Errorf("%s sees %s: Certified = %v (%s); want true", n.ID(), id, p.Certified, p.CertProblem)
			}
			if p.Self != (id == n.ID()) {
				t.Errorf("%s sees %s: Self = %v", n.ID(), id, p.Self)
			}
			if want := []string{"KE", "NG", "BR"}[i]; p.Jurisdiction != want {
				t.Errorf("%s sees %s in %s; want %s", n.ID(), id, p.Jurisdiction, want)
			}
			if p.Load.Queue != i || p.Load.Slots != 4 || len(p.Load.Models) != 1 {
				t.Errorf("%s sees %s load %+v; want queue %d, 4 slots, 1 model", n.ID(), id, p.Load, i)
			}
			if want := "127.0.0.1:80" + string(rune('0'+i)); p.HTTPAddr != want {
				t.Errorf("%s sees %s HTTPAddr %q; want %q", n.ID(), id, p.HTTPAddr, want)
			}
		}
	}
	// Peers is sorted.
	peers := nodes[0].Peers()
	for i := 1; i < len(peers); i++ {
		if peers[i-1].ID >= peers[i].ID {
			t.Errorf("Peers not sorted: %s before %s", peers[i-1].ID, peers[i].ID)
		}
	}

	// SetHTTPAddr shows in the next heartbeats.
	nodes[1].SetHTTPAddr("127.0.0.1:9999")
	checkFor(t, 5*time.Second, func() error {
		if p, _ := nodes[0].Peer(ids[1]); p.HTTPAddr != "127.0.0.1:9999" {
			return errors.New("HTTPAddr " + p.HTTPAddr + " not updated")
		}
		return nil
	})

	// A stopped node expires from the others' tables.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nodes[2].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	for _, n := range nodes[:2] {
		checkFor(t, 10*time.Second, func() error { return sees(n, ids[0], ids[1]) })
		if _, ok := n.Peer(ids[2]); ok {
			t.Errorf("%s: Peer(%s) still present after expiry", n.ID(), ids[2])
		}
	}
	// Expiry takes at least the 3 missed heartbeats.
	if d := time.Since(stopped); d < 2*testInterval {
		t.Errorf("stopped node expired after %v; want at least ~%v", d, missedBeats*testInterval)
	}
}

func TestCertifiedOnlyWithValidCert(t *testing.T) {
	_, op := newOperator(t)
	_, other := newOperator(t)
	gw := runNode(t, testConfig(t, op, "gateway", "KE"))

	now := time.Now()
	cases := []struct {
		name    string
		cfg     func() Config
		problem string // substring of CertProblem; "" means certified
	}{
		{"valid", func() Config { return testConfig(t, op, "nbo-1", "KE") }, ""},
		{"no cert", func() Config {
			c := testConfig(t, op, "nbo-2", "KE")
			c.Cert = nil
			return c
		}, "no certificate"},
		{"other operator", func() Config {
			c := testConfig(t, op, "nbo-3", "KE")
			var err error
			if c.Cert, err = Certify(other, c.Identity.Public, "nbo-3", "KE", time.Hour, now); err != nil {
				t.Fatal(err)
			}
			return c
		}, "signature does not verify"},
		{"expired", func() Config {
			c := testConfig(t, op, "nbo-4", "KE")
			var err error
			if c.Cert, err = Certify(op, c.Identity.Public, "nbo-4", "KE", time.Hour, now.Add(-2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			return c
		}, "expired"},
		{"not yet valid", func() Config {
			c := testConfig(t, op, "nbo-5", "KE")
			var err error
			if c.Cert, err = Certify(op, c.Identity.Public, "nbo-5", "KE", time.Hour, now.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			return c
		}, "not yet valid"},
		{"other jurisdiction", func() Config {
			c := testConfig(t, op, "lag-1", "NG")
			c.Jurisdiction = "KE" // claims KE with an NG certificate
			return c
		}, "jurisdiction NG, node claims KE"},
		{"other site", func() Config {
			c := testConfig(t, op, "lag-2", "KE")
			c.Site = "elsewhere"
			return c
		}, "site lag-2, node claims elsewhere"},
		{"another node's cert", func() Config {
			c := testConfig(t, op, "nbo-6", "KE")
			c.Cert = testConfig(t, op, "nbo-6", "KE").Cert
			return c
		}, "certificate is for node"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			cfg.External = gw.ClientURL()
			n := runNode(t, cfg)
			var p Peer
			checkFor(t, 10*time.Second, func() error {
				var ok bool
				if p, ok = gw.Peer(n.ID()); !ok {
					return errors.New("gateway does not list " + n.ID())
				}
				return nil
			})
			if got := p.Certified; got != (tc.problem == "") {
				t.Errorf("Certified = %v (%q); want %v", got, p.CertProblem, tc.problem == "")
			}
			if !strings.Contains(p.CertProblem, tc.problem) {
				t.Errorf("CertProblem = %q; want it to contain %q", p.CertProblem, tc.problem)
			}
			// The node judges itself the same way.
			self, ok := n.Peer(n.ID())
			if !ok || self.Certified != p.Certified || !self.Self {
				t.Errorf("self entry %+v, ok %v; want Self and Certified = %v", self, ok, p.Certified)
			}
		})
	}
}

func TestForgedHeartbeatRejected(t *testing.T) {
	_, op := newOperator(t)
	a := runNode(t, testConfig(t, op, "a", "KE"))
	bcfg := testConfig(t, op, "b", "KE")
	bcfg.External = a.ClientURL()
	b := runNode(t, bcfg)
	checkFor(t, 10*time.Second, func() error { return sees(a, a.ID(), b.ID()) })

	nc, err := nats.Connect(a.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	mallory := newIdentity(t)
	base := func() *heartbeat {
		return &heartbeat{ID: b.ID(), Site: "evil", Jurisdiction: "KE", PublicKey: publicHex(mallory.Public),
			Cert: mustRawCert(t, bcfg.Cert), Time: time.Now().UTC(), Boot: time.Now().UnixNano(), Seq: 1 << 40}
	}
	forgeries := []struct {
		name    string
		subject string
		data    func() []byte
	}{
		{"b's id, mallory's key", StatusSubject("KE", b.ID()), func() []byte {
			d, _ := signHeartbeat(mallory.Private, base())
			return d
		}},
		{"b's id and key, mallory's signature", StatusSubject("KE", b.ID()), func() []byte {
			hb := base()
			hb.PublicKey = publicHex(b.cfg.Identity.Public)
			d, _ := signHeartbeat(mallory.Private, hb)
			return d
		}},
		{"b's genuine heartbeat altered", StatusSubject("KE", b.ID()), func() []byte {
			hb := base()
			hb.PublicKey = publicHex(b.cfg.Identity.Public)
			d, _ := signHeartbeat(b.cfg.Identity.Private, hb)
			return []byte(strings.Replace(string(d), `"site"`, `"site" `, 1)) // still JSON, bytes differ
		}},
		{"mallory on b's subject", StatusSubject("KE", b.ID()), func() []byte {
			hb := base()
			hb.ID = mallory.ID
			d, _ := signHeartbeat(mallory.Private, hb)
			return d
		}},
		{"garbage", StatusSubject("KE", b.ID()), func() []byte { return []byte("{not json") }},
	}
	for i, f := range forgeries {
		before := a.rejected.Load()
		if err := nc.Publish(f.subject, f.data()); err != nil {
			t.Fatal(err)
		}
		checkFor(t, 5*time.Second, func() error {
			if a.rejected.Load() <= before {
				return errors.New(f.name + ": not rejected")
			}
			return nil
		})
		p, ok := a.Peer(b.ID())
		if !ok || p.Site != "b" || !p.PublicKey.Equal(b.cfg.Identity.Public) {
			t.Errorf("forgery %d (%s): b's entry became %+v (ok %v)", i, f.name, p, ok)
		}
		if _, ok := a.Peer(mallory.ID); ok {
			t.Errorf("forgery %d (%s): mallory listed", i, f.name)
		}
	}
}

func TestRTTReflectsAddedLatency(t *testing.T) {
	_, op := newOperator(t)
	const added = 20 * time.Millisecond
	nodes := cluster(t, op, func(i int, c *Config) {
		c.PingInterval = 50 * time.Millisecond
		if i == 2 {
			c.AddedLatency = added
		}
	})
	near, far := nodes[1].ID(), nodes[2].ID()
	// Several probes after the first, so the averages have settled.
	checkFor(t, 10*time.Second, func() error {
		pn, _ := nodes[0].Peer(near)
		pf, _ := nodes[0].Peer(far)
		if pn.RTT == 0 || pf.RTT < added {
			return errors.New("RTT not measured yet: near " + pn.RTT.String() + ", far " + pf.RTT.String())
		}
		return nil
	})
	pn, _ := nodes[0].Peer(near)
	pf, _ := nodes[0].Peer(far)
	t.Logf("RTT near %v, far (+%v) %v", pn.RTT, added, pf.RTT)
	if pf.RTT-pn.RTT < added/2 {
		t.Errorf("far RTT %v minus near RTT %v = %v; want at least %v", pf.RTT, pn.RTT, pf.RTT-pn.RTT, added/2)
	}
	if self, _ := nodes[0].Peer(nodes[0].ID()); self.RTT != 0 {
		t.Errorf("self RTT = %v; want 0", self.RTT)
	}
}

func TestShutdownIdempotentNoLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	_, op := newOperator(t) // for a node never started, below
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nodes := leakPair(t, ctx, 5*time.Millisecond, nil)
	checkFor(t, 10*time.Second, func() error { return sees(nodes[0], nodes[0].ID(), nodes[1].ID()) })
	checkFor(t, 10*time.Second, func() error {
		if p, _ := nodes[0].Peer(nodes[1].ID()); p.RTT == 0 {
			return errors.New("no RTT yet")
		}
		return nil
	})
	if err := nodes[0].Start(ctx); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start = %v; want ErrStarted", err)
	}
	for _, n := range nodes {
		done := make(chan error, 2)
		go func() { done <- n.Shutdown(ctx) }()
		go func() { done <- n.Shutdown(ctx) }()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("concurrent Shutdown: %v", err)
			}
		}
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("third Shutdown: %v", err)
		}
		if err := n.Start(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("Start after Shutdown = %v; want ErrClosed", err)
		}
	}
	// The NATS client and server end a few goroutines asynchronously;
	// allow them a moment and a little slack.
	checkFor(t, 5*time.Second, func() error {
		if now := runtime.NumGoroutine(); now > before+2 {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			return errors.New("goroutines: " + strconv.Itoa(before) + " before, " + strconv.Itoa(now) + " after shutdown:\n" + string(buf))
		}
		return nil
	})
	// A node never started shuts down cleanly too.
	n, err := New(testConfig(t, op, "s", "KE"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown before Start: %v", err)
	}
}

func TestCollect(t *testing.T) {
	opPub, op := newOperator(t)
	a := runNode(t, testConfig(t, op, "a", "KE"))
	bcfg := testConfig(t, op, "b", "NG")
	bcfg.External = a.ClientURL()
	bcfg.Cert = nil
	b := runNode(t, bcfg)

	peers, err := Collect(context.Background(), a.ClientURL(), CollectOptions{Wait: 3 * testInterval, OperatorKey: opPub})
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 2 {
		t.Fatalf("Collect found %d nodes; want 2", len(peers))
	}
	for _, p := range peers {
		want := p.ID == a.ID()
		if p.ID != a.ID() && p.ID != b.ID() {
			t.Errorf("unexpected node %s", p.ID)
		}
		if p.Certified != want || p.Self {
			t.Errorf("%s: Certified = %v, Self = %v; want %v, false", p.ID, p.Certified, p.Self, want)
		}
	}
	if _, err := Collect(context.Background(), "nats://127.0.0.1:1", CollectOptions{Wait: testInterval}); err == nil {
		t.Error("Collect from a closed port succeeded")
	}
}

func TestConfigValidation(t *testing.T) {
	_, op := newOperator(t)
	good := testConfig(t, op, "s", "KE")
	cases := []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"no identity", func(c *Config) { c.Identity = nil }, "Identity"},
		{"bad site", func(c *Config) { c.Site = "a b" }, "site"},
		{"bad jurisdiction", func(c *Config) { c.Jurisdiction = "ke" }, "jurisdiction"},
		{"short operator key", func(c *Config) { c.OperatorKey = c.OperatorKey[:5] }, "operator key"},
		{"bad listen", func(c *Config) { c.Listen = "localhost" }, "Listen"},
		{"bad port", func(c *Config) { c.Listen = "127.0.0.1:99999" }, "port"},
		{"join without cluster", func(c *Config) { c.Join = []string{"nats-route://127.0.0.1:6222"} }, "ClusterListen"},
		{"bad join", func(c *Config) { c.ClusterListen = "127.0.0.1:0"; c.Join = []string{"127.0.0.1:6222"} }, "nats-route"},
		{"external and join", func(c *Config) {
			c.External = "nats://127.0.0.1:4222"
			c.ClusterListen = "127.0.0.1:0"
		}, "must be empty"},
		{"external bad scheme", func(c *Config) { c.External = "http://127.0.0.1:4222" }, "scheme"},
		{"creds without external", func(c *Config) { c.Credentials = "x.creds" }, "External"},
		{"negative interval", func(c *Config) { c.HeartbeatInterval = -time.Second }, "below 10ms"},
		{"tiny interval", func(c *Config) { c.HeartbeatInterval = time.Millisecond }, "below 10ms"},
		{"negative latency", func(c *Config) { c.AddedLatency = -1 }, "AddedLatency"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v; want an error mentioning %q", err, tc.want)
			}
		})
	}
	n, err := New(good)
	if err != nil {
		t.Fatalf("New(good) = %v", err)
	}
	if n.cfg.Listen != DefaultListen || n.cfg.HeartbeatInterval != testInterval || n.cfg.PingInterval != testInterval || n.cfg.ClusterName != DefaultClusterName {
		t.Errorf("defaults: listen %q, interval %v, ping %v, cluster %q", n.cfg.Listen, n.cfg.HeartbeatInterval, n.cfg.PingInterval, n.cfg.ClusterName)
	}
}
