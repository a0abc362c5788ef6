// Package fleet runs a Hearth fleet on one machine for tests: real
// `hearth serve --route` processes on loopback, each with its own data
// directory, certified by one operator key (or deliberately not), with
// per-node added latency and slowed generation, which a test can kill,
// restart and stop.
//
// The harness drives only the hearth binary's command line, as an
// operator would, so it tests what users run. It builds the binary once
// per test process (see Build).
package fleet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Model is the model every node serves.
const Model = "stories260k"

// modelPath is stories260K.gguf relative to this package's directory.
const modelPath = "../../../shared/testdata/models/stories260K.gguf"

// CertKind says what certificate a node gets.
type CertKind int

const (
	CertValid   CertKind = iota // signed by the fleet's operator
	CertForged                  // signed by another operator key
	CertExpired                 // signed by the operator, expired before the node starts
)

// Spec describes one node.
type Spec struct {
	Name         string        // unique in the fleet, e.g. "ke-a"
	Jurisdiction string        // what the node claims and its certificate says
	Latency      time.Duration // added to the node's fleet replies (--fault-latency)
	StepDelay    time.Duration // added to every model step (--fault-step-delay)
	Parallel     int           // batch slots (default 4)
	Cert         CertKind
}

// Fleet is a set of nodes sharing one operator key and one NATS cluster.
type Fleet struct {
	t         testing.TB
	bin       string
	model     string
	dir       string
	opKey     string // operator private key file
	opPub     string // operator public key, hex
	heartbeat time.Duration

	mu    sync.Mutex
	nodes []*Node
}

// Node is one hearth process (running or not) and its data directory.
type Node struct {
	Spec
	f      *Fleet
	Dir    string
	ID     string // node id
	URL    string // http://127.0.0.1:port, set while running
	Fleet  string // NATS client URL, set while running
	routes string // nats-route://... of its cluster listener, set while running

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  bytes.Buffer  // its stderr, for failure reports
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Build compiles cmd/hearth once per test process and returns the
// binary's path.
func Build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hearth-fleet-bin")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "hearth")
		if runtime.GOOS == "windows" {
			buildBin += ".exe"
		}
		out, err := exec.Command("go", "build", "-o", buildBin, "github.com/hearth-ai/hearth/cmd/hearth").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build hearth: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// ModelFile is the absolute path of the test model (stories260K.gguf in
// the shared test data); the test is skipped without it.
func ModelFile(t testing.TB) string {
	t.Helper()
	model, err := filepath.Abs(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(model); err != nil {
		t.Skipf("test model not available: %v", err)
	}
	return model
}

// New creates a fleet's operator key in a temporary directory. Nodes
// publish heartbeats every heartbeat (so a dead node is noticed within
// three of them).
func New(t testing.TB, heartbeat time.Duration) *Fleet {
	t.Helper()
	f := &Fleet{t: t, bin: Build(t), model: ModelFile(t), dir: t.TempDir(), heartbeat: heartbeat}
	f.opKey = filepath.Join(f.dir, "operator.key")
	f.opPub = f.operatorInit(f.opKey)
	t.Cleanup(f.StopAll)
	return f
}

// run runs a hearth command to completion and returns its stdout.
func (f *Fleet) run(args ...string) string {
	f.t.Helper()
	cmd := exec.Command(f.bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		f.t.Fatalf("hearth %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func (f *Fleet) operatorInit(path string) string {
	var op struct {
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal([]byte(f.run("fleet", "operator", "init", "--out", path, "--json")), &op); err != nil || op.PublicKey == "" {
		f.t.Fatalf("fleet operator init: %v", err)
	}
	return op.PublicKey
}

// Add prepares a node's data directory: its key pair and certificate.
// It does not start it.
func (f *Fleet) Add(s Spec) *Node {
	f.t.Helper()
	if s.Parallel == 0 {
		s.Parallel = 4
	}
	n := &Node{Spec: s, f: f, Dir: filepath.Join(f.dir, s.Name)}
	var id struct {
		ID        string `json:"id"`
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal([]byte(f.run("node", "id", "--json", "--data-dir", n.Dir)), &id); err != nil {
		f.t.Fatalf("node id: %v", err)
	}
	n.ID = id.ID
	opKey, valid := f.opKey, "720h"
	switch s.Cert {
	case CertForged:
		opKey = filepath.Join(f.dir, s.Name+"-rogue-operator.key")
		f.operatorInit(opKey)
	case CertExpired:
		valid = "1s"
	}
	f.run("fleet", "certify", "--operator-key", opKey, "--node-key", id.PublicKey, "--site", "site-"+s.Name,
		"--jurisdiction", s.Jurisdiction, "--valid", valid, "--out", filepath.Join(n.Dir, "node.cert"))
	f.mu.Lock()
	f.nodes = append(f.nodes, n)
	f.mu.Unlock()
	return n
}

// Nodes returns the fleet's nodes in the order they were added.
func (f *Fleet) Nodes() []*Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*Node(nil), f.nodes...)
}

// OperatorKey is the fleet operator's public key (hex).
func (f *Fleet) OperatorKey() string { return f.opPub }

// CreateTenant creates the same tenant on every node added so far
// (tenants are per node: an operator creates them everywhere). An empty
// jurisdictions list permits any; extra are more `hearth tenants create`
// flags, such as "--capture", "on".
func (f *Fleet) CreateTenant(name string, jurisdictions []string, home string, extra ...string) {
	f.t.Helper()
	for _, n := range f.Nodes() {
		args := append([]string{"tenants", "create", name, "--data-dir", n.Dir}, extra...)
		if len(jurisdictions) > 0 {
			args = append(args, "--jurisdictions", strings.Join(jurisdictions, ","))
		}
		if home != "" {
			args = append(args, "--home", home)
		}
		f.run(args...)
	}
}

// Captures counts the interactions node n keeps for tenant (`hearth
// capture export`, which may read a running node's database).
func (n *Node) Captures(tenant string) int {
	n.f.t.Helper()
	out := strings.TrimSpace(n.f.run("capture", "export", "--tenant", tenant, "--data-dir", n.Dir))
	if out == "" {
		return 0
	}
	return strings.Count(out, "\n") + 1
}

// Key creates an API key for tenant on n (keys are per node: a client
// holds one for the node it talks to); extra are more `hearth keys
// create` flags, such as "--scopes", "admin".
func (n *Node) Key(tenant string, extra ...string) string {
	n.f.t.Helper()
	return strings.TrimSpace(n.f.run(append([]string{"keys", "create", "--tenant", tenant, "--data-dir", n.Dir}, extra...)...))
}

// startLine is what `hearth serve` prints once it is serving.
var startLine = regexp.MustCompile(`serving .* on (http://\S+) \(.*\); fleet: (\S+?)(?:, cluster (\S+))?$`)

// Start starts the node, joining the cluster through the running nodes,
// and returns once it serves HTTP.
func (n *Node) Start() {
	f := n.f
	f.t.Helper()
	args := []string{"serve", "--route", "--data-dir", n.Dir, "--model", f.model, "--addr", "127.0.0.1:0",
		"--site", "site-" + n.Name, "--operator", f.opPub, "--cluster-listen", "127.0.0.1:0",
		"--heartbeat", f.heartbeat.String(), "--parallel", fmt.Sprint(n.Parallel), "--drain", "5s",
		"--fault-latency", n.Latency.String(), "--fault-step-delay", n.StepDelay.String()}
	for _, p := range f.Nodes() {
		if p != n && p.running() {
			args = append(args, "--join", p.routes)
		}
	}
	cmd := exec.Command(f.bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	n.mu.Lock()
	n.cmd, n.done = cmd, make(chan struct{})
	n.log.Reset()
	n.mu.Unlock()
	started := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			n.mu.Lock()
			n.log.WriteString(line + "\n")
			n.mu.Unlock()
			if m := startLine.FindStringSubmatch(line); m != nil {
				started <- m[1:]
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
		close(n.done)
	}()
	select {
	case m := <-started:
		n.mu.Lock()
		n.URL, n.Fleet, n.routes = m[0], m[1], m[2]
		n.mu.Unlock()
	case <-n.done:
		f.t.Fatalf("node %s exited before serving:\n%s", n.Name, n.Log())
	case <-time.After(30 * time.Second):
		f.t.Fatalf("node %s did not start in 30s:\n%s", n.Name, n.Log())
	}
}

// Alive reports whether the node's process is running.
func (n *Node) Alive() bool { return n.running() }

func (n *Node) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Log is the node's stderr so far.
func (n *Node) Log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// Kill ends the node at once (SIGKILL): no drain, no goodbye to the
// fleet, its audit log cut wherever it was.
func (n *Node) Kill() { n.signal(syscall.SIGKILL) }

// Stop ends the node gracefully (SIGTERM) and waits for it.
func (n *Node) Stop() { n.signal(syscall.SIGTERM) }

func (n *Node) signal(sig syscall.Signal) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// StartAll starts every node added so far and waits until from holds
// them all certified.
func (f *Fleet) StartAll(ctx context.Context, from *Node) error {
	for _, n := range f.Nodes() {
		n.Start()
	}
	return f.WaitCertified(ctx, from, f.Nodes())
}

// StopAll stops every running node.
func (f *Fleet) StopAll() {
	var wg sync.WaitGroup
	for _, n := range f.Nodes() {
		if n.running() {
			wg.Go(n.Stop)
		}
	}
	wg.Wait()
}

// WaitCertified waits until node from's fleet status lists every node in
// want as certified (and as many certified nodes as want holds).
func (f *Fleet) WaitCertified(ctx context.Context, from *Node, want []*Node) error {
	for {
		got, err := f.Status(from)
		if err == nil {
			ok := 0
			for _, w := range want {
				if p, found := got[w.ID]; found && p.Certified {
					ok++
				}
			}
			if ok == len(want) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d nodes to be certified at %s: %w (last status %v, err %v)", len(want), from.Name, ctx.Err(), got, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PeerStatus is one node as `hearth fleet status --json` shows it.
type PeerStatus struct {
	ID           string `json:"id"`
	Jurisdiction string `json:"jurisdiction"`
	Certified    bool   `json:"certified"`
	Load         struct {
		Slots    int      `json:"slots"`
		Busy     int      `json:"busy"`
		Queue    int      `json:"queue"`
		Adapters []string `json:"adapters"` // the adapters it holds loaded: a tenant's by route.AdapterKeys, a published one by served name
	} `json:"load"`
}

// Status is the fleet as seen through from's NATS server, by node id.
func (f *Fleet) Status(from *Node) (map[string]PeerStatus, error) {
	out, err := exec.Command(f.bin, "fleet", "status", "--data-dir", from.Dir, "--operator", f.opPub,
		"--wait", (3 * f.heartbeat / 2).String(), "--json").Output()
	if err != nil {
		return nil, err
	}
	var peers []PeerStatus
	if err := json.Unmarshal(out, &peers); err != nil {
		return nil, fmt.Errorf("fleet status: %w: %s", err, out)
	}
	m := map[string]PeerStatus{}
	for _, p := range peers {
		m[p.ID] = p
	}
	return m, nil
}
