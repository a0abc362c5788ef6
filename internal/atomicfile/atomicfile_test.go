package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// leftovers lists what is in dir besides the named files.
func leftovers(t *testing.T, dir string, want ...string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, e := range entries {
		found := false
		for _, w := range want {
			found = found || e.Name() == w
		}
		if !found {
			extra = append(extra, e.Name())
		}
	}
	return extra
}

func TestModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits on Windows")
	}
	for _, tc := range []struct {
		name  string
		write func(string, []byte, fs.FileMode) error
		perm  fs.FileMode
	}{
		{"WriteFile 0600", WriteFile, 0o600},
		{"WriteFile 0644", WriteFile, 0o644},
		{"CreateFile 0600", CreateFile, 0o600},
		{"CreateFile 0644", CreateFile, 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if err := tc.write(path, []byte("secret\n"), tc.perm); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != tc.perm {
				t.Errorf("mode %04o, want %04o", st.Mode().Perm(), tc.perm)
			}
			if b, _ := os.ReadFile(path); string(b) != "secret\n" {
				t.Errorf("content %q", b)
			}
			if extra := leftovers(t, dir, "f"); len(extra) != 0 {
				t.Errorf("left behind: %v", extra)
			}
		})
	}
}

func TestWriteFileReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "url")
	for _, s := range []string{"one", "two"} {
		if err := WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); string(b) != s {
			t.Errorf("after writing %q the file holds %q", s, b)
		}
	}
}

func TestCreateFileExists(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token")
	if err := CreateFile(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := CreateFile(path, []byte("second"), 0o600)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second CreateFile: %v; want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "first" {
		t.Errorf("the file holds %q after a losing create", b)
	}
	if extra := leftovers(t, dir, "token"); len(extra) != 0 {
		t.Errorf("left behind: %v", extra)
	}
}

func TestMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent", "f")
	for name, write := range map[string]func(string, []byte, fs.FileMode) error{"WriteFile": WriteFile, "CreateFile": CreateFile} {
		if err := write(path, []byte("x"), 0o600); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s into a missing directory: %v; want fs.ErrNotExist", name, err)
		}
	}
}

// TestConcurrentReaders: while one writer keeps replacing a file with
// large contents, readers only ever see one whole version.
func TestConcurrentReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	versions := [][]byte{bytes.Repeat([]byte("a"), 1<<20), bytes.Repeat([]byte("b"), 1<<20+7)}
	if err := WriteFile(path, versions[0], 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var bad sync.Map
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				b, err := os.ReadFile(path)
				if err != nil {
					bad.Store(err.Error(), true)
					continue
				}
				if !bytes.Equal(b, versions[0]) && !bytes.Equal(b, versions[1]) {
					bad.Store(fmt.Sprintf("a partial file of %d bytes", len(b)), true)
				}
			}
		})
	}
	for i := range 50 {
		if err := WriteFile(path, versions[i%2], 0o600); err != nil {
			t.Error(err)
			break
		}
	}
	close(done)
	wg.Wait()
	bad.Range(func(k, _ any) bool {
		t.Errorf("a reader saw %s", k)
		return true
	})
}

// TestConcurrentCreators: of many concurrent creators exactly one wins,
// the rest get fs.ErrExist, readers see nothing or the winner's whole
// file, and no temporary file is left.
func TestConcurrentCreators(t *testing.T) {
	for round := range 20 {
		dir := t.TempDir()
		path := filepath.Join(dir, "token")
		const n = 8
		errs := make([]error, n)
		content := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 64<<10) }
		stop := make(chan struct{})
		var readers sync.WaitGroup
		var partial sync.Map
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := os.ReadFile(path)
				if err == nil && (len(b) != 64<<10 || !bytes.Equal(b, bytes.Repeat(b[:1], len(b)))) {
					partial.Store(len(b), true)
				}
			}
		})
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = CreateFile(path, content(i), 0o600) })
		}
		wg.Wait()
		close(stop)
		readers.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: creators %d and %d both succeeded", round, winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, fs.ErrExist):
				t.Fatalf("round %d: creator %d: %v; want fs.ErrExist", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no creator succeeded", round)
		}
		if b, _ := os.ReadFile(path); !bytes.Equal(b, content(winner)) {
			t.Errorf("round %d: the file is not the winner's", round)
		}
		partial.Range(func(k, _ any) bool {
			t.Errorf("round %d: a reader saw a file of %v bytes", round, k)
			return true
		})
		if extra := leftovers(t, dir, "token"); len(extra) != 0 {
			t.Errorf("round %d: left behind: %v", round, extra)
		}
	}
}

func TestWriteFunc(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "export.jsonl")
	if err := WriteFunc(path, 0o600, func(w io.Writer) error {
		for i := range 3 {
			if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "line 0\nline 1\nline 2\n" {
		t.Errorf("the file holds %q", b)
	}
	// A filler that fails half-way leaves the old file whole, and its
	// error is the one returned.
	errHalf := errors.New("half-way")
	err := WriteFunc(path, 0o600, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return errHalf
	})
	if err != errHalf {
		t.Errorf("WriteFunc = %v; want the filler's error", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "line 0\nline 1\nline 2\n" {
		t.Errorf("a failed write changed the file: %q", b)
	}
	if extra := leftovers(t, dir, "export.jsonl"); len(extra) != 0 {
		t.Errorf("left behind: %v", extra)
	}
}
