package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hearth-ai/hearth/engine/synth"
)

// modelServer serves one file over HTTP on 127.0.0.1 and records what each
// request asked for and got.
type modelServer struct {
	*httptest.Server

	mu          sync.Mutex
	data        []byte
	etag        string
	ranges      []string // Range header of each request ("" for none)
	served      []int    // body bytes written for each request
	cutAt       int      // >0: the next request gets this many bytes, then the connection drops
	block       chan struct{}
	ignoreRange bool // answer every request with the whole file
	status      int  // >0: answer every request with this status
}

func newModelServer(t *testing.T, data []byte) *modelServer {
	ms := &modelServer{data: data}
	ms.Server = httptest.NewServer(http.HandlerFunc(ms.serve))
	t.Cleanup(ms.Close)
	return ms
}

func (ms *modelServer) serve(w http.ResponseWriter, r *http.Request) {
	ms.mu.Lock()
	data, etag, cut, block := ms.data, ms.etag, ms.cutAt, ms.block
	ms.cutAt, ms.block = 0, nil
	ms.ranges = append(ms.ranges, r.Header.Get("Range"))
	ms.served = append(ms.served, 0)
	idx := len(ms.served) - 1
	ignore, status := ms.ignoreRange, ms.status
	ms.mu.Unlock()
	write := func(p []byte) {
		n, _ := w.Write(p)
		ms.mu.Lock()
		ms.served[idx] += n
		ms.mu.Unlock()
	}

	if status > 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	start := 0
	if rg := r.Header.Get("Range"); rg != "" && !ignore {
		ir := r.Header.Get("If-Range")
		if ir == "" || ir == etag {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
			if err != nil {
				http.Error(w, "bad range", http.StatusBadRequest)
				return
			}
			if n >= len(data) {
				w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
				w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
				return
			}
			start = n
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)-start))
	if start > 0 {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
		w.WriteHeader(http.StatusPartialContent)
	}
	body := data[start:]
	switch {
	case cut > 0:
		// Part of the body, then the connection drops mid-response.
		write(body[:cut])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	case block != nil:
		write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		select {
		case <-block:
		case <-r.Context().Done():
		}
	default:
		write(body)
	}
}

func (ms *modelServer) log() (ranges []string, served []int) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]string(nil), ms.ranges...), append([]int(nil), ms.served...)
}

// pullFixture is a store, a served model and its digest.
type pullFixture struct {
	s      *Store
	ms     *modelServer
	data   []byte
	digest string
	url    string
}

func newPullFixture(t *testing.T) *pullFixture {
	t.Helper()
	path := writeModel(t, t.TempDir(), "m.gguf", synth.Spec{Seed: 7})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ms := newModelServer(t, data)
	sum := sha256.Sum256(data)
	return &pullFixture{s: openStore(t), ms: ms, data: data, digest: hex.EncodeToString(sum[:]),
		url: ms.URL + "/owner/repo/resolve/main/Tiny-Model.Q8_0.gguf?download=true"}
}

// partialPath is where Pull keeps the download of url.
func (f *pullFixture) partialPath(url string) string {
	key := sha256.Sum256([]byte(url))
	return filepath.Join(f.s.partialDir(), hex.EncodeToString(key[:16]))
}

// checkStored asserts that name holds exactly want.
func (f *pullFixture) checkStored(t *testing.T, e Entry, name string, want []byte) {
	t.Helper()
	if e.Name != name {
		t.Errorf("entry name %q; want %q", e.Name, name)
	}
	p, err := f.s.Path(name)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(want)
	if string(got) != string(want) || e.Digest != "sha256:"+hex.EncodeToString(sum[:]) || e.Size != int64(len(want)) {
		t.Errorf("stored %d bytes, digest %s; want %d bytes, digest %x", len(got), e.Digest, len(want), sum)
	}
	if _, err := os.Stat(f.partialPath(f.url)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial download still there after success: %v", err)
	}
}

func TestPullFull(t *testing.T) {
	f := newPullFixture(t)
	var mu sync.Mutex
	var calls [][2]int64
	e, err := f.s.Pull(context.Background(), f.url, "", PullOptions{
		SHA256: "SHA256:" + strings.ToUpper(f.digest),
		Progress: func(done, total int64) {
			mu.Lock()
			calls = append(calls, [2]int64{done, total})
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.checkStored(t, e, "tiny-model.q8_0:latest", f.data)
	// Query values may be tokens: the source keeps their keys only.
	src := strings.Replace(f.url, "download=true", "download=REDACTED", 1)
	if e.Source != src || e.Architecture != "llama" || e.Quantization != "F32" || e.Parameters == 0 {
		t.Errorf("entry %+v: want source %s, llama, F32, parameters", e, src)
	}
	if got, err := f.s.Get("tiny-model.q8_0"); err != nil || got != e {
		t.Errorf("Get = %+v, %v; want %+v", got, err, e)
	}
	n := int64(len(f.data))
	if len(calls) < 2 || calls[0] != [2]int64{0, n} || calls[len(calls)-1] != [2]int64{n, n} {
		t.Errorf("progress calls %v; want from {0 %d} to {%d %d}", calls, n, n, n)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] < calls[i-1][0] {
			t.Errorf("progress went backwards: %v", calls)
			break
		}
	}
	if ranges, _ := f.ms.log(); len(ranges) != 1 || ranges[0] != "" {
		t.Errorf("requests with Range %q; want one without", ranges)
	}
}

func TestPullResume(t *testing.T) {
	f := newPullFixture(t)
	half := len(f.data) / 2
	f.ms.cutAt = half
	_, err := f.s.Pull(context.Background(), f.url, "m", PullOptions{})
	if err == nil || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("pull cut mid-way = %v; want an error suggesting to resume", err)
	}
	if st, err := os.Stat(f.partialPath(f.url)); err != nil || st.Size() != int64(half) {
		t.Fatalf("partial after the cut: %v, %v; want %d bytes", st, err, half)
	}
	if _, err := f.s.Get("m"); !errors.Is(err, ErrNotFound) {
		t.Errorf("interrupted pull recorded a model: %v", err)
	}

	e, err := f.s.Pull(context.Background(), f.url, "m", PullOptions{SHA256: f.digest})
	if err != nil {
		t.Fatal(err)
	}
	f.checkStored(t, e, "m:latest", f.data)
	ranges, served := f.ms.log()
	wantRanges := []string{"", fmt.Sprintf("bytes=%d-", half)}
	wantServed := []int{half, len(f.data) - half}
	if fmt.Sprint(ranges) != fmt.Sprint(wantRanges) || fmt.Sprint(served) != fmt.Sprint(wantServed) {
		t.Errorf("server saw ranges %q and served %v bytes; want %q and %v", ranges, served, wantRanges, wantServed)
	}
}

func TestPullServerIgnoresRange(t *testing.T) {
	f := newPullFixture(t)
	f.ms.cutAt = len(f.data) / 3
	if _, err := f.s.Pull(context.Background(), f.url, "m", PullOptions{}); err == nil {
		t.Fatal("pull cut mid-way succeeded")
	}
	f.ms.ignoreRange = true
	e, err := f.s.Pull(context.Background(), f.url, "m", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The whole file came again and replaced the partial, not appended to it.
	f.checkStored(t, e, "m:latest", f.data)
	if ranges, served := f.ms.log(); len(ranges) != 2 || ranges[1] == "" || served[1] != len(f.data) {
		t.Errorf("ranges %q, served %v; want a Range request answered with all %d bytes", ranges, served, len(f.data))
	}
}

func TestPullFileChangedSinceInterruption(t *testing.T) {
	f := newPullFixture(t)
	f.ms.etag = `"v1"`
	f.ms.cutAt = len(f.data) / 2
	if _, err := f.s.Pull(context.Background(), f.url, "m", PullOptions{}); err == nil {
		t.Fatal("pull cut mid-way succeeded")
	}
	newer := writeModel(t, t.TempDir(), "v2.gguf", synth.Spec{Seed: 99})
	data, _ := os.ReadFile(newer)
	f.ms.mu.Lock()
	f.ms.data, f.ms.etag = data, `"v2"`
	f.ms.mu.Unlock()
	e, err := f.s.Pull(context.Background(), f.url, "m", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// If-Range "v1" no longer matches, so the server sent all of v2; the
	// stored file is v2, not v1's first half with v2's second.
	f.checkStored(t, e, "m:latest", data)
}

func TestPullPartialAlreadyComplete(t *testing.T) {
	f := newPullFixture(t)
	// As if a previous pull died between the last byte and the move.
	if err := os.WriteFile(f.partialPath(f.url), f.data, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := f.s.Pull(context.Background(), f.url, "m", PullOptions{SHA256: f.digest})
	if err != nil {
		t.Fatal(err)
	}
	f.checkStored(t, e, "m:latest", f.data)
	if ranges, served := f.ms.log(); len(ranges) != 1 || served[0] != 0 {
		t.Errorf("ranges %q, served %v; want one 416 answer and no body", ranges, served)
	}
}

func TestPullPartialLongerThanFile(t *testing.T) {
	f := newPullFixture(t)
	junk := make([]byte, len(f.data)+100)
	if err := os.WriteFile(f.partialPath(f.url), junk, 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := f.s.Pull(context.Background(), f.url, "m", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.checkStored(t, e, "m:latest", f.data)
	if ranges, _ := f.ms.log(); len(ranges) != 2 || ranges[1] != "" {
		t.Errorf("ranges %q; want a ranged request (416) then a whole one", ranges)
	}
}

func TestPullChecksumMismatch(t *testing.T) {
	f := newPullFixture(t)
	wrong := strings.Repeat("ab", 32)
	_, err := f.s.Pull(context.Background(), f.url, "m", PullOptions{SHA256: wrong})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") ||
		!strings.Contains(err.Error(), f.digest) || !strings.Contains(err.Error(), wrong) {
		t.Fatalf("pull with wrong sha256 = %v; want a mismatch naming both digests", err)
	}
	if _, err := os.Stat(f.partialPath(f.url)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("mismatched download kept: %v", err)
	}
	if list, _ := f.s.List(); len(list) != 0 {
		t.Errorf("mismatched download recorded: %+v", list)
	}
}

func TestPullErrors(t *testing.T) {
	f := newPullFixture(t)
	text := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<!DOCTYPE html><html>please log in</html>")
	}))
	defer text.Close()
	for _, c := range []struct {
		name, url, sha string
		status         int
		err            string
	}{
		{"404", f.url, "", http.StatusNotFound, "model not found at " + RedactURL(f.url) + " (HTTP 404)"},
		{"403", f.url, "", http.StatusForbidden, "denied (403 Forbidden); the repository may be gated"},
		{"500", f.url, "", http.StatusInternalServerError, "server answered 500 Internal Server Error"},
		{"html", text.URL + "/m.gguf", "", 0, `sent data starting "<!DO", which is not a GGUF model`},
		{"bad sha", f.url, "1234", 0, "not 64 hex digits"},
		{"no name", f.ms.URL + "/", "", 0, "cannot derive a model name"},
		{"scheme", "file:///etc/passwd", "", 0, "scheme"},
		{"refused", "http://127.0.0.1:1/m.gguf", "", 0, "connection refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.ms.mu.Lock()
			f.ms.status = c.status
			f.ms.mu.Unlock()
			_, err := f.s.Pull(context.Background(), c.url, "", PullOptions{SHA256: c.sha})
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Pull = %v; want error containing %q", err, c.err)
			}
		})
	}
	if list, _ := f.s.List(); len(list) != 0 {
		t.Errorf("failed pulls recorded %+v", list)
	}
	// The HTML page is not kept as a partial download to resume.
	if _, err := os.Stat(f.partialPath(text.URL + "/m.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused download kept: %v", err)
	}
}

func TestPullRedactsCredentials(t *testing.T) {
	f := newPullFixture(t)
	u := strings.Replace(f.ms.URL, "http://", "http://user:secret@", 1) + "/m.gguf"
	e, err := f.s.Pull(context.Background(), u, "", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(e.Source, "secret") || e.Source != f.ms.URL+"/m.gguf" {
		t.Errorf("Source %q; want the URL without credentials", e.Source)
	}
}

func TestPullCancel(t *testing.T) {
	f := newPullFixture(t)
	release := make(chan struct{})
	f.ms.block = release
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		_, err := f.s.Pull(ctx, f.url, "m", PullOptions{Progress: func(done, total int64) {
			if done > 0 {
				once.Do(func() { close(started) })
			}
		}})
		errc <- err
	}()
	<-started
	// While it runs, a second pull of the same URL is refused rather than
	// writing into the same partial file.
	if _, err := f.s.Pull(context.Background(), f.url, "m", PullOptions{}); err == nil || !strings.Contains(err.Error(), "in progress") {
		t.Errorf("concurrent pull of the same URL = %v; want an in-progress error", err)
	}
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled pull = %v; want context.Canceled", err)
	}
	// What arrived before the cancel is kept: some of the half served.
	st, err := os.Stat(f.partialPath(f.url))
	if err != nil || st.Size() == 0 || st.Size() > int64(len(f.data)/2) {
		t.Fatalf("partial after cancel: %v; want 1 to %d bytes kept", err, len(f.data)/2)
	}
	kept := st.Size()

	e, err := f.s.Pull(context.Background(), f.url, "m", PullOptions{SHA256: f.digest})
	if err != nil {
		t.Fatal(err)
	}
	f.checkStored(t, e, "m:latest", f.data)
	ranges, served := f.ms.log()
	if last := len(ranges) - 1; ranges[last] != fmt.Sprintf("bytes=%d-", kept) || served[last] != len(f.data)-int(kept) {
		t.Errorf("resume after cancel sent Range %q and got %d bytes; want bytes=%d- and %d", ranges[last], served[last], kept, len(f.data)-int(kept))
	}
}

func TestPullKnownDigestSkipsDownload(t *testing.T) {
	f := newPullFixture(t)
	if _, err := f.s.Pull(context.Background(), f.url, "first", PullOptions{}); err != nil {
		t.Fatal(err)
	}
	// With the digest already in the store, a pull under another name
	// records it without asking the server.
	e, err := f.s.Pull(context.Background(), f.ms.URL+"/elsewhere.gguf", "second", PullOptions{SHA256: f.digest})
	if err != nil {
		t.Fatal(err)
	}
	f.checkStored(t, e, "second:latest", f.data)
	if ranges, _ := f.ms.log(); len(ranges) != 1 {
		t.Errorf("server saw %d requests; want 1 (the first pull only)", len(ranges))
	}
	if e.Source != f.ms.URL+"/elsewhere.gguf" {
		t.Errorf("Source %q; want the URL of this pull", e.Source)
	}
	// Once the bytes are gone, the same pull downloads them.
	for _, n := range []string{"first", "second"} {
		if err := f.s.Remove(n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.s.Pull(context.Background(), f.url, "third", PullOptions{SHA256: f.digest}); err != nil {
		t.Fatal(err)
	}
	if ranges, _ := f.ms.log(); len(ranges) != 2 {
		t.Errorf("server saw %d requests; want 2", len(ranges))
	}
}
