package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// hearthBinary builds the command once for the tests that run it as a real
// process.
func hearthBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hearth-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hearth")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// node is a running hearth serve process.
type node struct {
	url    string
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited is closed
}

// syncBuffer is a node's stderr as read so far, safe to read while the
// reader goroutine appends to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) WriteString(x string) {
	s.mu.Lock()
	s.b.WriteString(x)
	s.mu.Unlock()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var listening = regexp.MustCompile(`on (http://127\.0\.0\.1:\d+)`)

// startNode runs `hearth serve` on a random loopback port with the stories
// model and waits until it is ready.
func startNode(t *testing.T, extra ...string) *node {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--model", filepath.Join(models, "stories260K.gguf"),
		"--data-dir", t.TempDir()}, extra...)
	cmd := exec.Command(hearthBinary(t), args...)
	pr, pw := io.Pipe()
	n := &node{cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.err = cmd.Wait(); pw.Close(); close(n.exited) }()
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 4<<20) // a long line must not stop the reader (and so the node)
		for sc.Scan() {
			line := sc.Text()
			n.stderr.WriteString(line + "\n")
			if m := listening.FindStringSubmatch(line); m != nil {
				urlc <- m[1]
			}
		}
	}()
	select {
	case n.url = <-urlc:
	case <-n.exited:
		t.Fatalf("hearth serve exited: %v\n%s", n.err, n.stderr)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("hearth serve did not start:\n%s", n.stderr)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	})
	return n
}

// loopbackOnly is an HTTP client that refuses to dial anything but the
// node under test.
func loopbackOnly(n *node) *http.Client {
	host := strings.TrimPrefix(n.url, "http://")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != host {
			return nil, fmt.Errorf("test client may only reach %s, not %s", host, addr)
		}
		return dial(ctx, network, addr)
	}
	return &http.Client{Transport: tr}
}

// keyedRequest sends a request to url through c with the API key key and
// the headers given as name, value pairs, and returns the answer's status,
// headers and body; a request that gets no answer fails the test.
func keyedRequest(t *testing.T, c *http.Client, method, url, key, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestServeGoSDK drives a real node with the official Go SDK.
func TestServeGoSDK(t *testing.T) {
	n := startNode(t)
	c := openai.NewClient(option.WithBaseURL(n.url+"/v1"), option.WithAPIKey("unused"),
		option.WithHTTPClient(loopbackOnly(n)), option.WithMaxRetries(0))
	ctx := context.Background()

	page, err := c.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "stories260k" {
		t.Fatalf("models: %+v", page.Data)
	}

	params := openai.ChatCompletionNewParams{
		Model:       "stories260k",
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a story")},
		MaxTokens:   openai.Int(16),
		Temperature: openai.Float(0),
	}
	resp, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == "" || resp.Usage.CompletionTokens != 16 || resp.Choices[0].FinishReason != "length" {
		t.Fatalf("chat response: %+v", resp)
	}

	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := c.Chat.Completions.NewStreaming(ctx, params)
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got := acc.Choices[0].Message.Content; got != resp.Choices[0].Message.Content {
		t.Errorf("streamed %q; not streamed %q (greedy: they must agree)", got, resp.Choices[0].Message.Content)
	}
	if acc.Usage.CompletionTokens != 16 {
		t.Errorf("streamed usage %+v", acc.Usage)
	}

	comp, err := c.Completions.New(ctx, openai.CompletionNewParams{
		Model:     "stories260k",
		Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
		MaxTokens: openai.Int(8), Temperature: openai.Float(0),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(comp.Choices[0].Text, " there was") && comp.Usage.CompletionTokens != 8 {
		t.Errorf("completion %+v", comp)
	}

	emb, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "stories260k",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a dog", "a cat"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Data) != 2 || len(emb.Data[0].Embedding) != 64 {
		t.Errorf("embeddings: %d vectors of %d", len(emb.Data), len(emb.Data[0].Embedding))
	}

	_, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "missing", Messages: params.Messages})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("unknown model: %v", err)
	}
}

// TestServeNodeSDK runs the official openai npm package's tests
// (test/sdk/node) against a real node. It needs node and the package
// installed (scripts/test runs npm ci); CI fails rather than skips without
// them.
func TestServeNodeSDK(t *testing.T) {
	dir, _ := filepath.Abs("../../test/sdk/node")
	if _, err := exec.LookPath("node"); err != nil || !exists(filepath.Join(dir, "node_modules", "openai")) {
		if os.Getenv("CI") != "" {
			t.Fatalf("node or the openai package is missing (run npm ci in %s)", dir)
		}
		t.Skip("node or test/sdk/node/node_modules missing; run: npm ci --prefix test/sdk/node")
	}
	n := startNode(t)
	cmd := exec.Command("node", "--test", "openai.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HEARTH_URL="+n.url, "HEARTH_MODEL=stories260k")
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("openai npm package tests failed: %v", err)
	}
}

// TestServeGracefulShutdown starts a long stream, stops the node with
// SIGTERM mid-stream, and checks the stream still ends properly and the
// process exits cleanly.
func TestServeGracefulShutdown(t *testing.T) {
	n := startNode(t)
	body := `{"model":"stories260k","stream":true,"max_tokens":400,"ignore_eos":true,"messages":[{"role":"user","content":"hi"}]}`
	resp, err := loopbackOnly(n).Post(n.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	chunks := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: {") {
			if chunks++; chunks == 3 {
				n.cmd.Process.Signal(syscall.SIGTERM)
			}
		}
		if sc.Text() == "data: [DONE]" {
			break
		}
	}
	if chunks < 100 {
		t.Errorf("stream cut short at shutdown: %d chunks", chunks)
	}
	select {
	case <-n.exited:
		if n.err != nil {
			t.Errorf("hearth serve exited with %v\n%s", n.err, n.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("hearth serve did not exit after SIGTERM")
	}
}

// TestServeConcurrentStreams sends 16 concurrent greedy streams and checks
// every one completes with the same text as when it runs alone: none lost,
// none mixed up.
func TestServeConcurrentStreams(t *testing.T) {
	n := startNode(t, "--parallel", "4")
	hc := loopbackOnly(n)
	ask := func(i int) (string, error) {
		body := fmt.Sprintf(`{"model":"stories260k","max_tokens":24,"temperature":0,"messages":[{"role":"user","content":"story number %d"}]}`, i%5)
		resp, err := hc.Post(n.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var out struct {
			Choices []struct {
				Message struct{ Content string }
			}
			Usage struct {
				CompletionTokens int `json:"completion_tokens"`
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Choices) != 1 {
			return "", fmt.Errorf("status %d: %v", resp.StatusCode, err)
		}
		return fmt.Sprintf("%d:%s", out.Usage.CompletionTokens, out.Choices[0].Message.Content), nil
	}
	alone := make([]string, 5)
	for i := range alone {
		var err error
		if alone[i], err = ask(i); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]string, 16)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if got[i], err = ask(i); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i, g := range got {
		if g != alone[i%5] {
			t.Errorf("stream %d under load: %q; alone: %q", i, g, alone[i%5])
		}
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// TestServeDisconnectFreesCache starts a long stream, drops the connection,
// and checks through /metrics that the sequence left the batch and its KV
// cache was returned.
func TestServeDisconnectFreesCache(t *testing.T) {
	n := startNode(t, "--parallel", "2")
	hc := loopbackOnly(n)
	metric := func(name string) float64 {
		resp, err := hc.Get(n.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), name+`{model="stories260k"} `); ok {
				var v float64
				fmt.Sscan(rest, &v)
				return v
			}
		}
		return -1
	}
	ctx, cancel := context.WithCancel(context.Background())
	body := `{"model":"stories260k","stream":true,"max_tokens":1900,"ignore_eos":true,"messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.url+"/v1/chat/completions", strings.NewReader(body))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for i := 0; i < 5 && sc.Scan(); i++ {
	}
	if live := metric("hearth_kv_cache_live_tokens"); live <= 0 {
		t.Fatalf("KV cache in use during the stream: %v", live)
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for metric("hearth_kv_cache_live_tokens") != 0 || metric("hearth_active_sequences") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after the client left: live KV %v, active %v", metric("hearth_kv_cache_live_tokens"), metric("hearth_active_sequences"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Generation stopped early rather than running to its 1900 tokens.
	if steps := metric("hearth_batch_steps_total"); steps >= 1900 {
		t.Errorf("%v model steps ran: the abandoned stream was generated to the end", steps)
	}
}
