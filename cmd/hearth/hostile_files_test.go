package main

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveExit runs `hearth serve` expecting it to refuse to start, and
// returns what it printed.
func serveExit(t *testing.T, dataDir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hearthBinary(t), "serve", "--addr", "127.0.0.1:0",
		"--model", filepath.Join(models, "stories260K.gguf"), "--data-dir", dataDir)
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("hearth serve started (err %v); want a refusal:\n%s", err, out)
	}
	return string(out)
}

// TestHostileDataDirPrivate: a node started on an existing 0755 data
// directory leaves no file in it that another local user can read (the
// database's WAL and shared-memory files included), makes the directory
// 0700 and says so; a secret file others can read stops the next start,
// naming the file and the fix.
func TestHostileDataDirPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "--data-dir", dir)
	// A request writes usage and audit records: the WAL is in use.
	resp, err := loopbackOnly(n).Post(n.url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"stories260k","max_tokens":4,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("chat: %s", resp.Status)
	}
	waitFor(t, func() bool { return exists(filepath.Join(dir, "hearth.db-wal")) })
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o700 {
		t.Errorf("data directory mode %04o; want 0700", perm)
	}
	if !strings.Contains(n.stderr.String(), "made it 0700") {
		t.Errorf("the log does not say the data directory was made 0700:\n%s", n.stderr)
	}
	var files []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // a temporary file that went away
		}
		rel, _ := filepath.Rel(dir, path)
		files = append(files, rel)
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %04o: other users may read it", rel, perm)
		}
		return nil
	})
	for _, want := range []string{"hearth.db", "hearth.db-wal", "hearth.db-shm", "node.key", "fleet.token"} {
		if !exists(filepath.Join(dir, want)) {
			t.Errorf("%s missing from the data directory (%v)", want, files)
		}
	}
	stopNode(t, n)

	// The capture master key appears with the first capture; one made
	// by hand stands in for it.
	if err := os.WriteFile(filepath.Join(dir, "capture.key"), []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"node.key", "fleet.token", "capture.key"} {
		p := filepath.Join(dir, secret)
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		out := serveExit(t, dir)
		if !strings.Contains(out, p) || !strings.Contains(out, "chmod 600 "+p) {
			t.Errorf("a 0644 %s: the refusal does not name the file and the fix:\n%s", secret, out)
		}
		os.Chmod(p, 0o600)
	}
}

// stopNode ends a node started by startNode and waits for it.
func stopNode(t *testing.T, n *node) {
	t.Helper()
	n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		n.cmd.Process.Kill()
		t.Fatalf("node did not stop:\n%s", n.stderr)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
