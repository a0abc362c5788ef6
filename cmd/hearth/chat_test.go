package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/runner"
)

// storiesAPI is the OpenAI API of a runner serving stories260K, shut down
// when the test ends: the node the chat tests talk to.
func storiesAPI(t *testing.T) http.Handler {
	t.Helper()
	node, err := runner.New(runner.Config{Files: []string{filepath.Join(models, "stories260K.gguf")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Shutdown(context.Background()) })
	srv, err := api.New(api.Config{Backend: node})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// TestChatRemote chats with a node over HTTP and checks that each turn
// sends the whole conversation so far, and that /reset forgets it.
func TestChatRemote(t *testing.T) {
	srv := storiesAPI(t)
	var mu sync.Mutex
	var seen [][]string // roles of each request's messages
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/chat/completions" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var req struct {
				Messages []struct{ Role string }
			}
			json.Unmarshal(body, &req)
			var roles []string
			for _, m := range req.Messages {
				roles = append(roles, m.Role)
			}
			mu.Lock()
			seen = append(seen, roles)
			mu.Unlock()
		}
		srv.ServeHTTP(w, r)
	}))
	defer ts.Close()
	out, err := run(t, "Once upon a time\nLily\n/reset\nThe dog\n/exit\n", "chat", "--url", ts.URL, "--system", "Be brief.", "-n", "8", "--temp", "0")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "\n") < 4 || !strings.Contains(out, "(history cleared)") {
		t.Errorf("chat output:\n%s", out)
	}
	want := []string{"system user", "system user assistant user", "system user"}
	if len(seen) != len(want) {
		t.Fatalf("%d requests; want %d", len(seen), len(want))
	}
	for i := range want {
		if got := strings.Join(seen[i], " "); got != want[i] {
			t.Errorf("request %d roles %q; want %q", i, got, want[i])
		}
	}
}

func TestChatLocal(t *testing.T) {
	out, err := run(t, "Tell me a story\n", "chat", "--model", filepath.Join(models, "stories260K.gguf"), "-n", "10", "--temp", "0")
	if err != nil {
		t.Fatal(err)
	}
	if len(strings.TrimSpace(out)) == 0 {
		t.Error("no reply")
	}
}

// TestConfigSources checks the order flags > environment > config file >
// defaults, and that unknown config keys are refused.
func TestConfigSources(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hearth.toml")
	os.WriteFile(cfg, []byte("addr = \"127.0.0.1:9999\"\nparallel = 7\nkeep_alive = \"1m\"\nmodel = [\"a.gguf\", \"b.gguf\"]\n"), 0o644)
	o := &serveOptions{}
	cmd := &cobra.Command{Use: "x"}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "")
	f.StringVar(&o.addr, "addr", DefaultAddr, "")
	f.IntVar(&o.parallel, "parallel", 4, "")
	f.IntVar(&o.queue, "queue", 64, "")
	f.DurationVar(&o.keepAlive, "keep-alive", 0, "")
	f.StringArrayVar(&o.models, "model", nil, "")
	if err := f.Parse([]string{"--parallel", "3"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HEARTH_ADDR", "127.0.0.1:7777")
	if err := applyConfig(cmd, cfg); err != nil {
		t.Fatal(err)
	}
	if o.parallel != 3 || o.addr != "127.0.0.1:7777" || o.keepAlive.String() != "1m0s" || strings.Join(o.models, ",") != "a.gguf,b.gguf" || o.queue != 64 {
		t.Errorf("flag>env>file>default broken: %+v", o)
	}
	os.WriteFile(cfg, []byte("adr = \"x\"\n"), 0o644)
	cmd2 := &cobra.Command{Use: "y"}
	cmd2.Flags().String("addr", "", "")
	if err := applyConfig(cmd2, cfg); err == nil || !strings.Contains(err.Error(), "unknown keys adr") {
		t.Errorf("unknown key: %v", err)
	}
	os.WriteFile(cfg, []byte("addr = [\n"), 0o644)
	if err := applyConfig(cmd2, cfg); err == nil {
		t.Error("a malformed config file was accepted")
	}
}

// TestChatRating rates the last reply with /good and /rate and checks the
// node receives feedback for that reply's response id.
func TestChatRating(t *testing.T) {
	srv := storiesAPI(t)
	var mu sync.Mutex
	var replyIDs []string
	var feedback []map[string]any
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/feedback" {
			var fb map[string]any
			json.NewDecoder(r.Body).Decode(&fb)
			mu.Lock()
			feedback = append(feedback, fb)
			mu.Unlock()
			w.Write([]byte(`{"id":"fb_1","object":"feedback","status":"recorded"}`))
			return
		}
		if r.URL.Path != "/v1/chat/completions" {
			srv.ServeHTTP(w, r)
			return
		}
		// Note the reply's id as its headers go out, before the client
		// can see the reply and rate it.
		srv.ServeHTTP(&onHeader{ResponseWriter: w, f: func(h http.Header) {
			mu.Lock()
			replyIDs = append(replyIDs, h.Get("X-Request-Id"))
			mu.Unlock()
		}}, r)
	}))
	defer ts.Close()
	out, err := run(t, "/good\nOnce upon a time\n/good\n/rate 4\n/rate 9\n", "chat", "--url", ts.URL, "-n", "4")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(out, "(feedback recorded)") != 2 {
		t.Errorf("chat output:\n%s", out)
	}
	if len(feedback) != 2 || len(replyIDs) != 1 {
		t.Fatalf("%d feedback posts for %d replies; want 2 for 1", len(feedback), len(replyIDs))
	}
	if feedback[0]["response_id"] != replyIDs[0] || feedback[0]["rating"] != 1.0 || feedback[1]["rating"] != 4.0 || feedback[1]["scale"] != "stars" {
		t.Errorf("feedback %v for reply %s", feedback, replyIDs[0])
	}
}

// onHeader calls f with the headers when the response starts.
type onHeader struct {
	http.ResponseWriter
	f    func(http.Header)
	done bool
}

func (o *onHeader) WriteHeader(code int) {
	if !o.done {
		o.done = true
		o.f(o.Header())
	}
	o.ResponseWriter.WriteHeader(code)
}

func (o *onHeader) Write(p []byte) (int, error) {
	if !o.done {
		o.WriteHeader(http.StatusOK)
	}
	return o.ResponseWriter.Write(p)
}

func (o *onHeader) Flush() {
	if f, ok := o.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
