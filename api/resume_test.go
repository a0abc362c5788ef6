package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// serveResumed serves body as the continuation of r.
func serveResumed(srv *Server, path, body string, r Resume) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req = req.WithContext(WithResume(req.Context(), r))
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	return rec
}

// chatStreamText reads a chat stream: its chunks' text, in order.
func chatStreamText(t *testing.T, body string) (chunks []oaChunk, texts []string) {
	t.Helper()
	for _, ev := range sseEvents(t, body) {
		if ev == "[DONE]" {
			break
		}
		var c oaChunk
		decode(t, []byte(ev), &c)
		chunks = append(chunks, c)
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != nil && *c.Choices[0].Delta.Content != "" {
			texts = append(texts, *c.Choices[0].Delta.Content)
		}
	}
	return chunks, texts
}

// A stream cut after any token and resumed from the text sent so far
// ends exactly as the uninterrupted stream does (greedy decoding): same
// id and creation time, no second role chunk, the rest of the text, the
// same finish reason and usage for the whole response.
func TestResumeChatStream(t *testing.T) {
	srv, _ := newEngineServer(t)
	body := `{"model":"stories260k","messages":[{"role":"user","content":"Tell me a story about a dog."}],"temperature":0,"max_tokens":40,"stream":true,"stream_options":{"include_usage":true}}`
	rec := serve(srv, "POST", "/v1/chat/completions", body)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	whole, texts := chatStreamText(t, rec.Body.String())
	if len(texts) < 10 {
		t.Fatalf("only %d text chunks", len(texts))
	}
	want := strings.Join(texts, "")
	wantUsage := whole[len(whole)-1].Usage
	wantFinish := *whole[len(whole)-2].Choices[0].FinishReason

	for _, cut := range []int{1, len(texts) / 2, len(texts) - 1} {
		sent := strings.Join(texts[:cut], "")
		rec := serveResumed(srv, "/v1/chat/completions", body, Resume{ID: "chatcmpl-first", Created: 1700000000, Text: sent})
		if rec.Code != 200 {
			t.Fatalf("cut %d: status %d: %s", cut, rec.Code, rec.Body)
		}
		chunks, rest := chatStreamText(t, rec.Body.String())
		if got := sent + strings.Join(rest, ""); got != want {
			t.Errorf("cut %d: sent %q + resumed %q\nwant %q", cut, sent, strings.Join(rest, ""), want)
		}
		for i, c := range chunks {
			if c.ID != "chatcmpl-first" || c.Created != 1700000000 {
				t.Errorf("cut %d: chunk %d has id %q created %d, want the first node's", cut, i, c.ID, c.Created)
			}
			if len(c.Choices) > 0 && c.Choices[0].Delta.Role != "" {
				t.Errorf("cut %d: chunk %d repeats the role", cut, i)
			}
		}
		last := chunks[len(chunks)-1]
		if last.Usage == nil || *last.Usage != *wantUsage {
			t.Errorf("cut %d: usage %+v, want %+v", cut, last.Usage, wantUsage)
		}
		if f := chunks[len(chunks)-2].Choices[0].FinishReason; f == nil || *f != wantFinish {
			t.Errorf("cut %d: finish %v, want %q", cut, f, wantFinish)
		}
	}
}

// Text that already used up max_tokens ends the response at once.
func TestResumeExhausted(t *testing.T) {
	srv, _ := newEngineServer(t)
	body := `{"model":"stories260k","prompt":"Once upon","temperature":0,"max_tokens":5,"stream":true}`
	rec := serve(srv, "POST", "/v1/completions", body)
	var text strings.Builder
	for _, ev := range sseEvents(t, rec.Body.String()) {
		if ev == "[DONE]" {
			break
		}
		var c oaCompletion
		decode(t, []byte(ev), &c)
		text.WriteString(c.Choices[0].Text)
	}
	rec = serveResumed(srv, "/v1/completions", body, Resume{ID: "cmpl-first", Created: 1, Text: text.String()})
	evs := sseEvents(t, rec.Body.String())
	if len(evs) != 2 || evs[1] != "[DONE]" {
		t.Fatalf("resumed after max_tokens: events %q, want one finish chunk and [DONE]", evs)
	}
	var c oaCompletion
	if err := json.Unmarshal([]byte(evs[0]), &c); err != nil {
		t.Fatal(err)
	}
	if c.ID != "cmpl-first" || c.Choices[0].Text != "" || c.Choices[0].FinishReason == nil || *c.Choices[0].FinishReason != "length" {
		t.Errorf("finish chunk %s", evs[0])
	}
}

// A request body cannot ask to be a continuation: only the gateway's
// context can.
func TestResumeNotFromBody(t *testing.T) {
	srv, _ := newEngineServer(t)
	rec := serve(srv, "POST", "/v1/chat/completions", `{"model":"stories260k","messages":[{"role":"user","content":"hi"}],"max_tokens":3,"stream":true,"resume":{"id":"chatcmpl-x","created":1,"text":"Hello"}}`)
	chunks, _ := chatStreamText(t, rec.Body.String())
	if len(chunks) == 0 || chunks[0].ID == "chatcmpl-x" || chunks[0].Choices[0].Delta.Role != "assistant" {
		t.Errorf("a body's resume field took effect: %s", rec.Body)
	}
}

// A sampled stream with a seed resumes exactly too: the node taking over
// skips the draws of the tokens already sent.
func TestResumeSampledStream(t *testing.T) {
	srv, _ := newEngineServer(t)
	body := `{"model":"stories260k","messages":[{"role":"user","content":"Tell me about a cat."}],"temperature":0.9,"top_p":0.95,"seed":7,"max_tokens":40,"stream":true}`
	rec := serve(srv, "POST", "/v1/chat/completions", body)
	_, texts := chatStreamText(t, rec.Body.String())
	if len(texts) < 10 {
		t.Fatalf("only %d text chunks", len(texts))
	}
	want := strings.Join(texts, "")
	for _, cut := range []int{3, len(texts) / 2} {
		sent := strings.Join(texts[:cut], "")
		rec := serveResumed(srv, "/v1/chat/completions", body, Resume{ID: "chatcmpl-s", Created: 1, Text: sent})
		_, rest := chatStreamText(t, rec.Body.String())
		if got := sent + strings.Join(rest, ""); got != want {
			t.Errorf("cut %d: resumed %q\nwant %q", cut, got, want)
		}
	}
}
