package fabric

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The client token is made once, 0600, and kept; concurrent first starts
// agree on it; a node's URL and token read back as written.
func TestClientAccessFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := ReadClientAccess(dir); err == nil || !strings.Contains(err.Error(), "no fleet URL") {
		t.Errorf("ReadClientAccess of an empty directory: %v", err)
	}
	toks := make([]string, 8)
	errs := make([]error, len(toks))
	var wg sync.WaitGroup
	for i := range toks {
		wg.Go(func() { toks[i], errs[i] = LoadOrCreateClientToken(dir) })
	}
	wg.Wait()
	for i := range toks {
		if errs[i] != nil || len(toks[i]) != 64 || toks[i] != toks[0] {
			t.Fatalf("first start %d: token %q, %v; want the same 64 hex digits as the others (%q)", i, toks[i], errs[i], toks[0])
		}
	}
	path := filepath.Join(dir, ClientTokenFileName)
	if st, err := os.Stat(path); err != nil || (runtime.GOOS != "windows" && st.Mode().Perm() != 0o600) {
		t.Errorf("token file: %v %v; want mode 0600", st, err)
	}
	if again, err := LoadOrCreateClientToken(dir); err != nil || again != toks[0] {
		t.Errorf("second load: %q, %v; want %q", again, err, toks[0])
	}
	if err := WriteClientURL(dir, "nats://127.0.0.1:4222"); err != nil {
		t.Fatal(err)
	}
	a, err := ReadClientAccess(dir)
	if err != nil || a.URL != "nats://127.0.0.1:4222" || a.Token != toks[0] {
		t.Errorf("ReadClientAccess = %+v, %v", a, err)
	}

	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateClientToken(dir); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("a short token: %v", err)
	}
	if runtime.GOOS != "windows" {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreateClientToken(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("a token others may read: %v", err)
		}
	}
}
