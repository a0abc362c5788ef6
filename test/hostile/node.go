// Package hostile attacks a real `hearth serve` process the way a hostile
// client would: absurd sizes, huge bodies, slow bodies, forged headers,
// and the fleet gateway's retries. Each test names the hole it closes;
// `go test ./test/hostile -run Hostile -v` runs them all.
//
// The harness drives only the hearth binary, built once per test process
// (fleet.Build), so what is tested is what operators run.
package hostile

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/test/fleet"
)

// Model is the name the node serves the model under.
const Model = "stories260k"

// Node is one running `hearth serve` process.
type Node struct {
	t    testing.TB
	URL  string
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}

	mu  sync.Mutex
	log strings.Builder
	err error // how the process ended, once done is closed
}

var serving = regexp.MustCompile(`serving .* on (http://\S+) `)

// Start runs `hearth serve` on a loopback port with its own data
// directory (dir, or a fresh one if empty), the test model and the extra
// flags, and returns once it serves HTTP. The node is stopped when the
// test ends.
func Start(t testing.TB, dir string, flags ...string) *Node {
	t.Helper()
	model := fleet.ModelFile(t)
	if dir == "" {
		dir = t.TempDir()
	}
	args := append([]string{"serve", "--data-dir", dir, "--model", model, "--addr", "127.0.0.1:0", "--drain", "2s"}, flags...)
	n := &Node{t: t, Dir: dir, cmd: exec.Command(fleet.Build(t), args...), done: make(chan struct{})}
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			n.mu.Lock()
			n.log.WriteString(sc.Text() + "\n")
			n.mu.Unlock()
			if m := serving.FindStringSubmatch(sc.Text()); m != nil {
				started <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
		err := n.cmd.Wait()
		n.mu.Lock()
		n.err = err
		n.mu.Unlock()
		close(n.done)
	}()
	select {
	case n.URL = <-started:
	case <-n.done:
		t.Fatalf("hearth serve exited before serving:\n%s", n.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("hearth serve did not start in 30s:\n%s", n.Log())
	}
	t.Cleanup(n.Stop)
	return n
}

// Log is the node's stderr so far.
func (n *Node) Log() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.log.String()
}

// Alive reports whether the process is still running.
func (n *Node) Alive() bool {
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Stop ends the node with SIGTERM and waits for it.
func (n *Node) Stop() {
	if n.cmd.Process == nil || !n.Alive() {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
	}
}

// MustBeAlive fails the test, with the node's log, if the process ended.
func (n *Node) MustBeAlive() {
	n.t.Helper()
	if !n.Alive() {
		n.mu.Lock()
		err := n.err
		n.mu.Unlock()
		n.t.Fatalf("hearth serve died (%v):\n%s", err, tail(n.Log(), 40))
	}
}

// PeakRSS is the process's high-water resident set size in bytes
// (VmHWM), and its current one (VmRSS).
func (n *Node) PeakRSS() (peak, now int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			peak = kb << 10
		case "VmRSS:":
			now = kb << 10
		}
	}
	return peak, now, nil
}

// Post sends body to path and returns the status and response body.
func (n *Node) Post(ctx context.Context, path, body string, header ...string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(data), err
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Hearth runs a hearth command (such as `tenants create`) to completion
// and returns its stdout, failing the test on an error.
func Hearth(t testing.TB, args ...string) string {
	t.Helper()
	out, stderr, err := HearthErr(t, args...)
	if err != nil {
		t.Fatalf("hearth %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// Tenant creates a tenant in dir with an inference key and returns the
// key, so that requests go through the node's gate: keys, limits,
// metering and the audit log.
func Tenant(t testing.TB, dir, name string, flags ...string) string {
	t.Helper()
	Hearth(t, append([]string{"tenants", "create", name, "--data-dir", dir}, flags...)...)
	return strings.TrimSpace(Hearth(t, "keys", "create", "--tenant", name, "--data-dir", dir))
}

// HearthErr runs a hearth command and returns its stdout and stderr and
// how it ended, for commands that are meant to fail.
func HearthErr(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(fleet.Build(t), args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// Kill ends the node at once (SIGKILL): no drain, its audit log cut
// wherever it was.
func (n *Node) Kill() {
	if n.cmd.Process == nil || !n.Alive() {
		return
	}
	n.cmd.Process.Kill()
	<-n.done
}
