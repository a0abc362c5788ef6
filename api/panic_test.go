package api

import (
	"strings"
	"testing"
)

// TestPanicFailsOneRequest: a panic in a backend fails that request with a
// 500 (or an error event on a stream already under way), is logged with
// its stack, and the node goes on serving. A panic on the generation's own
// goroutine used to end the process.
func TestPanicFailsOneRequest(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"panic","messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/chat/completions", `{"model":"panic","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/completions", `{"model":"panic","prompt":"hi","stream":true}`},
		{"/api/generate", `{"model":"panic","prompt":"hi","stream":false}`},
		{"/api/chat", `{"model":"panic","messages":[{"role":"user","content":"hi"}]}`},
	} {
		rec := h.do("POST", tc.path, tc.body)
		body := rec.Body.String()
		if rec.Code != 500 && !strings.Contains(body, "internal error") {
			t.Errorf("%s %s: %d %s; want a 500 or an in-band error", tc.path, tc.body, rec.Code, body)
		}
		if strings.Contains(body, `"finish_reason":"stop"`) || strings.Contains(body, "[DONE]") || strings.Contains(body, `"done":true`) {
			t.Errorf("%s: a failed generation looks finished: %s", tc.path, body)
		}
		if ok := h.do("POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":"hi"}]}`); ok.Code != 200 {
			t.Fatalf("after the panic the node answers %d %s", ok.Code, ok.Body)
		}
	}
	if log := h.log(); !strings.Contains(log, "panic") || !strings.Contains(log, "index out of range") {
		t.Errorf("the log does not show the panic:\n%s", log)
	}
}
