package api

import (
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStalledClientIsDropped: a client that asks for a stream and stops
// reading is given up on after StallTimeout: its generation stops and its
// connection closes (it used to be held, with its handler and tokens, for
// as long as the client liked), and the log says the client went, not that
// the node failed.
func TestStalledClientIsDropped(t *testing.T) {
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"flood","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"/api/generate", `{"model":"flood","prompt":"hi"}`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.StallTimeout = 300 * time.Millisecond })
			ts := httptest.NewServer(h.srv)
			defer ts.Close()
			conn, err := net.Dial("tcp", strings.TrimPrefix(ts.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", tc.path, len(tc.body), tc.body)
			// Read nothing: the node's writes fill the socket buffers, then stall.
			select {
			case <-h.backend.models["flood"].cancelled:
			case <-time.After(20 * time.Second):
				t.Fatal("the generation for a client that stopped reading still runs after 20 s")
			}
			waitLog(t, h, "499")
			if log := h.log(); strings.Contains(log, "level=ERROR") {
				t.Errorf("a client that stopped reading is logged as the node's error:\n%s", log)
			}
		})
	}
}

// waitLog waits for the harness's log to hold s.
func waitLog(t *testing.T, h *harness, s string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(h.log(), s); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the log never said %q:\n%s", s, h.log())
		}
	}
}
