package store

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://user:pass@h.example/m.gguf?sig=SECRET&se=2030", "http://h.example/m.gguf?sig=REDACTED&se=REDACTED"},
		{"https://h.example/m.gguf", "https://h.example/m.gguf"},
		{"https://token@h.example/a/b.gguf#frag", "https://h.example/a/b.gguf"},
		{"https://h.example/m.gguf?SECRET", "https://h.example/m.gguf?SECRET"}, // a bare key is a key
		{"https://h.example/m.gguf?X-Amz-Signature=abc%2Fdef", "https://h.example/m.gguf?X-Amz-Signature=REDACTED"},
		{"http://us er:pa%zz@h.example/m?sig=SECRET", "http://h.example/m?REDACTED"}, // does not parse
	} {
		if got := RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q; want %q", c.in, got, c.want)
		}
	}
	msg := `store: pull: Get "http://user:***@127.0.0.1:1/m.gguf?sig=SECRET": dial tcp 127.0.0.1:1: connect: connection refused`
	if got := RedactText(msg); strings.Contains(got, "SECRET") || strings.Contains(got, "user") || !strings.Contains(got, "connection refused") {
		t.Errorf("RedactText: %s", got)
	}
}

// TestPullRedactsSecrets: neither the URL's credentials nor its query
// values (a pre-signed URL's token) appear in the manifest, in any error
// Pull returns (Go's *url.Error included, also for a redirect's target),
// or after a manifest written by an older hearth is read.
func TestPullRedactsSecrets(t *testing.T) {
	const secrets = "pass|SECRET|SECRET2|TOKEN"
	leak := func(s string) bool {
		for _, sec := range strings.Split(secrets, "|") {
			if strings.Contains(s, sec) {
				return true
			}
		}
		return false
	}
	withSecrets := func(base string) string {
		return strings.Replace(base, "http://", "http://user:pass@", 1) + "/m.gguf?sig=SECRET&token=TOKEN"
	}

	f := newPullFixture(t)
	e, err := f.s.Pull(context.Background(), withSecrets(f.ms.URL), "", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if leak(e.Source) || e.Source != f.ms.URL+"/m.gguf?sig=REDACTED&token=REDACTED" {
		t.Errorf("Source %q; want the URL without credentials and query values", e.Source)
	}
	if b, err := os.ReadFile(f.s.manifestPath()); err != nil || leak(string(b)) {
		t.Errorf("the manifest keeps a secret (%v):\n%s", err, b)
	}

	// Failures: a 404, a refused connection, a redirect to a signed URL
	// that fails, a URL that does not parse.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // nothing listens there now
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, gone.URL+"/blob?sig=SECRET2", http.StatusFound)
	}))
	defer redirect.Close()
	notFound := newModelServer(t, nil)
	notFound.status = http.StatusNotFound
	for _, c := range []struct{ name, url string }{
		{"404", withSecrets(notFound.URL)},
		{"connection refused", withSecrets(gone.URL)},
		{"redirect", withSecrets(redirect.URL)},
		{"bad URL", "http://user:pass@[::1/m.gguf?sig=SECRET"},
	} {
		_, err := f.s.Pull(context.Background(), c.url, "x", PullOptions{})
		if err == nil {
			t.Errorf("%s: pull succeeded", c.name)
			continue
		}
		if leak(err.Error()) {
			t.Errorf("%s: the error shows a secret: %v", c.name, err)
		}
		var ue *url.Error
		if errors.As(err, &ue) && leak(ue.URL) {
			t.Errorf("%s: the *url.Error in the chain keeps %q", c.name, ue.URL)
		}
		if c.name == "connection refused" {
			var op *net.OpError
			if !errors.As(err, &op) {
				t.Errorf("%s: the cause is lost from the chain: %v", c.name, err)
			}
		}
	}

	// A manifest from before redaction is redacted when read.
	b, err := os.ReadFile(f.s.manifestPath())
	if err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(string(b), "sig=REDACTED", "sig=SECRET", 1)
	if err := os.WriteFile(f.s.manifestPath(), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	list, err := f.s.List()
	if err != nil || len(list) != 1 || leak(list[0].Source) {
		t.Errorf("List after an old manifest: %+v, %v", list, err)
	}
}
