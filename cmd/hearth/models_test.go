package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/engine/synth"
	"github.com/hearth-ai/hearth/engine/tensor"
	"github.com/hearth-ai/hearth/store"
)

// runErr executes the CLI in-process and returns stdout, stderr and the error.
func runErr(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := testRoot(strings.NewReader(""), &out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestModelsImportListRm(t *testing.T) {
	data := t.TempDir()
	stories := filepath.Join(models, "stories260K.gguf")
	out, _, err := runErr(t, "models", "import", stories, "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	if want := "imported stories260k:latest (1.13 MiB, llama, 292.8K parameters, F32)\n"; out != want {
		t.Errorf("import printed %q; want %q", out, want)
	}
	q8 := filepath.Join(t.TempDir(), "x.gguf")
	if err := synth.Write(q8, synth.Spec{Type: tensor.Q8_0, Arch: "qwen2"}); err != nil {
		t.Fatal(err)
	}
	// The data directory also comes from the environment.
	t.Setenv(store.EnvDataDir, data)
	if _, _, err := runErr(t, "models", "import", q8, "--name", "Tiny:Q8_0"); err != nil {
		t.Fatal(err)
	}

	out, _, err = runErr(t, "models", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("list printed %d lines; want a header and 2 models:\n%s", len(lines), out)
	}
	for i, want := range [][]string{
		{"NAME", "SIZE", "QUANT", "ARCH", "PARAMS", "ADDED"},
		{"stories260k:latest", "1.13 MiB", "F32", "llama", "292.8K"},
		{"tiny:q8_0", "Q8_0", "qwen2"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("list line %d %q lacks %q", i, lines[i], w)
			}
		}
	}

	out, _, err = runErr(t, "models", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var entries []store.Entry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("list --json printed %q: %v", out, err)
	}
	if len(entries) != 2 || entries[0].Name != "stories260k:latest" || entries[0].Parameters != 292800 ||
		entries[0].Source != stories && !filepath.IsAbs(entries[0].Source) {
		t.Errorf("list --json = %+v", entries)
	}
	path := filepath.Join(data, "models", entries[0].File)
	if got := fileDigest(t, path); "sha256:"+got != entries[0].Digest || got != fileDigest(t, stories) {
		t.Errorf("stored file digest %s; manifest says %s", got, entries[0].Digest)
	}

	out, _, err = runErr(t, "models", "rm", "STORIES260K", "--data-dir", data)
	if err != nil || out != "removed stories260k:latest\n" {
		t.Errorf("rm printed %q, %v", out, err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("rm left the file: %v", err)
	}
	out, _, _ = runErr(t, "models", "list", "--json")
	if err := json.Unmarshal([]byte(out), &entries); err != nil || len(entries) != 1 || entries[0].Name != "tiny:q8_0" {
		t.Errorf("after rm, list --json = %q, %v", out, err)
	}

	// An empty store says how to fill it, and --json prints an empty array.
	empty := t.TempDir()
	out, _, err = runErr(t, "models", "list", "--data-dir", empty)
	if err != nil || !strings.Contains(out, "no models in") {
		t.Errorf("empty list printed %q, %v", out, err)
	}
	out, _, err = runErr(t, "models", "list", "--json", "--data-dir", empty)
	if err != nil || out != "[]\n" {
		t.Errorf("empty list --json printed %q, %v; want []", out, err)
	}
}

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// serveFileAt serves file at path, and nothing else, until the test ends:
// a model host to pull from.
func serveFileAt(t *testing.T, path, file string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, file)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestModelsPull(t *testing.T) {
	stories := filepath.Join(models, "stories260K.gguf")
	srv := serveFileAt(t, "/stories260K.gguf", stories)
	data := t.TempDir()
	url := srv.URL + "/stories260K.gguf"
	out, stderr, err := runErr(t, "models", "pull", url, "--data-dir", data, "--sha256", fileDigest(t, stories))
	if err != nil {
		t.Fatal(err)
	}
	if want := "pulled stories260k:latest (1.13 MiB, llama, 292.8K parameters, F32)\n"; out != want {
		t.Errorf("pull printed %q; want %q", out, want)
	}
	// Not a terminal: plain progress lines, ending at 100%.
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "pulling "+url+": 1.13 MiB / 1.13 MiB  100%") {
		t.Errorf("last progress line %q; want 100%%", last)
	}
	if strings.Contains(stderr, "\r") {
		t.Errorf("progress for a non-terminal rewrites lines: %q", stderr)
	}

	_, _, err = runErr(t, "models", "pull", url, "--data-dir", data, "--name", "other", "--sha256", strings.Repeat("0", 64))
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("pull with a wrong --sha256 = %v; want a checksum mismatch", err)
	}
	_, _, err = runErr(t, "models", "pull", srv.URL+"/missing.gguf", "--data-dir", data)
	if err == nil || !strings.Contains(err.Error(), "not found at") {
		t.Errorf("pull of a missing file = %v; want not found", err)
	}
	out, _, _ = runErr(t, "models", "list", "--json", "--data-dir", data)
	var entries []store.Entry
	if err := json.Unmarshal([]byte(out), &entries); err != nil || len(entries) != 1 || entries[0].Source != url {
		t.Errorf("after pulls, list --json = %q, %v; want the one good pull", out, err)
	}
}

func TestModelsErrors(t *testing.T) {
	data := t.TempDir()
	notModel := filepath.Join(t.TempDir(), "notes.gguf")
	os.WriteFile(notModel, []byte("hello"), 0o644)
	os.MkdirAll(filepath.Join(data, "models"), 0o755)
	corrupt := t.TempDir()
	os.MkdirAll(filepath.Join(corrupt, "models"), 0o755)
	os.WriteFile(filepath.Join(corrupt, "models", "manifest.json"), []byte("{"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"models", "rm", "nothing", "--data-dir", data}, `remove "nothing:latest": model not found`},
		{[]string{"models", "import", notModel, "--data-dir", data}, "not a GGUF model"},
		{[]string{"models", "import", filepath.Join(models, "stories260K.gguf"), "--name", "a/b", "--data-dir", data}, "path separators"},
		{[]string{"models", "list", "--data-dir", corrupt}, "corrupt manifest"},
		{[]string{"models", "pull", "ftp://example/x.gguf", "--data-dir", data}, "scheme"},
		{[]string{"models", "import", "--data-dir", data}, "accepts 1 arg"},
	} {
		_, _, err := runErr(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("hearth %s = %v; want error containing %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

func TestPullStatus(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		done, total, first int64
		secs               float64
		want               string
	}{
		{12 * mib, 120 * mib, 0, 2, "12.00 MiB / 120.00 MiB   10%  6.00 MiB/s"},
		{120 * mib, 120 * mib, 100 * mib, 4, "120.00 MiB / 120.00 MiB  100%  5.00 MiB/s"},
		{5 * mib, -1, 0, 1, "5.00 MiB  5.00 MiB/s"},
		{0, 100, 0, 0, "0 bytes / 100 bytes    0%"},
	} {
		got := pullStatus(c.done, c.total, c.first, time.Duration(c.secs*float64(time.Second)))
		if got != c.want {
			t.Errorf("pullStatus(%d, %d, %d, %vs) = %q; want %q", c.done, c.total, c.first, c.secs, got, c.want)
		}
	}
}

// TestHostilePullSecrets: `models pull` of a URL with credentials and a
// signed token shows neither, in its progress lines, its errors or what
// `models list` prints, and warns about plain http without --sha256.
func TestHostilePullSecrets(t *testing.T) {
	stories := filepath.Join(models, "stories260K.gguf")
	srv := serveFileAt(t, "/m.gguf", stories)
	secretURL := func(path string) string {
		return strings.Replace(srv.URL, "http://", "http://user:PASSWORD@", 1) + path + "?sig=SIGNATURE"
	}
	leaks := func(what, s string) {
		t.Helper()
		for _, sec := range []string{"PASSWORD", "SIGNATURE", "user@", "user:"} {
			if strings.Contains(s, sec) {
				t.Errorf("%s shows %q:\n%s", what, sec, s)
			}
		}
	}
	data := t.TempDir()
	out, stderr, err := runErr(t, "models", "pull", secretURL("/m.gguf"), "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	leaks("pull's output", out+stderr)
	if !strings.Contains(stderr, "warning: "+srv.URL+"/m.gguf?sig=REDACTED is plain http and no --sha256") {
		t.Errorf("no plain-http warning:\n%s", stderr)
	}
	if !strings.Contains(stderr, "pulling "+srv.URL+"/m.gguf?sig=REDACTED: ") {
		t.Errorf("the progress lines do not name the redacted URL:\n%s", stderr)
	}
	out, _, err = runErr(t, "models", "list", "--json", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	leaks("models list", out)

	_, stderr, err = runErr(t, "models", "pull", secretURL("/missing.gguf"), "--data-dir", data, "--sha256", "123")
	if err == nil {
		t.Fatal("a bad --sha256 was accepted")
	}
	leaks("a bad --sha256", err.Error()+stderr)
	_, stderr, err = runErr(t, "models", "pull", secretURL("/missing.gguf"), "--data-dir", data)
	if err == nil {
		t.Fatal("pull of a missing file succeeded")
	}
	leaks("a failed pull", err.Error()+stderr)

	// With --sha256 there is nothing to warn about.
	_, stderr, err = runErr(t, "models", "pull", secretURL("/m.gguf"), "--name", "again", "--data-dir", data, "--sha256", fileDigest(t, stories))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("a warning although --sha256 was given:\n%s", stderr)
	}
}
