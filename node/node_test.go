package node_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/node"
	"github.com/hearth-ai/hearth/runner"
)

const stories = "../../shared/testdata/models/stories260K.gguf"

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func config(t *testing.T, dir string) node.Config {
	t.Helper()
	if _, err := os.Stat(stories); err != nil {
		t.Skipf("test model not available: %v", err)
	}
	return node.Config{DataDir: dir, Listener: listen(t), Runner: runner.Config{Files: []string{stories}},
		Fabric: fabric.Config{HeartbeatInterval: 50 * time.Millisecond}}
}

// settle waits for the goroutine count to come back to at most want, as
// a node's goroutines (and those of the parts it closed) end.
func settle(want int) int {
	var n int
	for range 100 {
		if n = runtime.NumGoroutine(); n <= want {
			return n
		}
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

// TestLifecycle: New starts nothing (no port answers), Start serves a
// chat request through the whole path, Shutdown is idempotent, fails
// /readyz no more (the port is closed) and leaves no goroutine behind;
// a stopped node cannot be started again.
func TestLifecycle(t *testing.T) {
	before := runtime.NumGoroutine()
	cfg := config(t, t.TempDir())
	addr := cfg.Listener.Addr().String()
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 300 * time.Millisecond}
	if resp, err := c.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a node that was only built answers HTTP")
	}
	if got := n.Fabric().ClientURL(); got != "" {
		t.Fatalf("a node that was only built has joined a fleet at %q", got)
	}
	ctx := context.Background()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err == nil {
		t.Fatal("a second Start succeeded")
	}
	resp, err := http.Post("http://"+addr+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"stories260k","max_tokens":5,"messages":[{"role":"user","content":"Hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"chat.completion"`) {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := n.Start(ctx); err == nil {
		t.Fatal("a stopped node started again")
	}
	if resp, err := c.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a stopped node still answers HTTP")
	}
	http.DefaultClient.CloseIdleConnections()
	if after := settle(before); after > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines before the node, %d after Shutdown:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// TestShutdownBeforeStart releases what New opened: the data directory's
// audit log can be opened by the next node at once.
func TestShutdownBeforeStart(t *testing.T) {
	dir := t.TempDir()
	n, err := node.New(config(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, err := node.New(config(t, dir))
	if err != nil {
		t.Fatalf("a second node on the directory: %v", err)
	}
	m.Shutdown(context.Background())
}

// TestStartFailureUndoes: a node whose fleet cannot start (its NATS port
// is taken) fails Start, and is stopped: the HTTP port is released and
// the directory can be used again.
func TestStartFailureUndoes(t *testing.T) {
	dir := t.TempDir()
	taken := listen(t)
	defer taken.Close()
	cfg := config(t, dir)
	cfg.Fabric.Listen = taken.Addr().String()
	addr := cfg.Listener.Addr().String()
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The embedded server gives up on a taken port only after its own
	// start timeout; the context ends Start sooner, the same way.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := n.Start(ctx); err == nil {
		t.Fatal("Start succeeded on a taken NATS port")
	}
	if err := n.Shutdown(context.Background()); err == nil || !strings.Contains(err.Error(), "fleet") {
		t.Fatalf("Shutdown after a failed Start: %v, want the Start error", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the HTTP port is still held after a failed Start: %v", err)
	}
	ln.Close()
	m, err := node.New(config(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	m.Shutdown(context.Background())
}

// TestConfigResolved: the jurisdiction comes from the certificate, which
// the configuration may repeat but not contradict, and a certified node
// with an operator key routes unless told not to.
func TestConfigResolved(t *testing.T) {
	opPub, opPriv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	certified := func(t *testing.T) string {
		dir := t.TempDir()
		id, err := identity.LoadOrCreate(dir)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := fabric.Certify(opPriv, id.Public, "site-ke", "KE", time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := fabric.WriteCert(fabric.CertPath(dir), cert); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	no := false
	for _, tc := range []struct {
		name      string
		certified bool
		jur       string
		op        bool
		route     *bool
		wantJur   string
		wantRoute bool
		wantErr   string
	}{
		{name: "standalone", jur: "NG", wantJur: "NG"},
		{name: "from the certificate", certified: true, wantJur: "KE"},
		{name: "repeated", certified: true, jur: "KE", wantJur: "KE"},
		{name: "contradicted", certified: true, jur: "NG", wantErr: "certificate is for KE"},
		{name: "certified with operator routes", certified: true, op: true, wantJur: "KE", wantRoute: true},
		{name: "routing turned off", certified: true, op: true, route: &no, wantJur: "KE"},
		{name: "operator without certificate serves", op: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.certified {
				dir = certified(t)
			}
			cfg := config(t, dir)
			cfg.Jurisdiction, cfg.Route = tc.jur, tc.route
			if tc.op {
				cfg.OperatorKey = opPub
			}
			n, err := node.New(cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New: %v, want an error saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer n.Shutdown(context.Background())
			got := n.Config()
			if got.Jurisdiction != tc.wantJur || *got.Route != tc.wantRoute {
				t.Fatalf("resolved jurisdiction %q route %v, want %q %v", got.Jurisdiction, *got.Route, tc.wantJur, tc.wantRoute)
			}
		})
	}
}

// TestNoListener is a clear error, not a panic.
func TestNoListener(t *testing.T) {
	_, err := node.New(node.Config{DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "Listener") {
		t.Fatalf("New without a listener: %v", err)
	}
}
