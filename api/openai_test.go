package api

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine/chat"
)

// Mirrors of OpenAI's response objects, decoded strictly so that a field
// Hearth sends that OpenAI does not define fails the test.

type oaError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

type oaUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type oaTop struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

type oaTokenLogprob struct {
	Token       string  `json:"token"`
	Logprob     float64 `json:"logprob"`
	Bytes       []int   `json:"bytes"`
	TopLogprobs []oaTop `json:"top_logprobs"`
}

type oaLogprobs struct {
	Content []oaTokenLogprob `json:"content"`
	Refusal []oaTokenLogprob `json:"refusal"`
}

// oaHead is how every OpenAI response object (chat completion, chunk,
// completion) begins.
type oaHead struct {
	ID                string `json:"id"`
	Object            string `json:"object"`
	Created           int64  `json:"created"`
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint"`
}

type oaChat struct {
	oaHead
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string  `json:"role"`
			Content string  `json:"content"`
			Refusal *string `json:"refusal"`
		} `json:"message"`
		Logprobs     *oaLogprobs `json:"logprobs"`
		FinishReason string      `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaUsage `json:"usage"`
}

type oaChunk struct {
	oaHead
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		Logprobs     *oaLogprobs `json:"logprobs"`
		FinishReason *string     `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaUsage `json:"usage"`
}

type oaCompletion struct {
	oaHead
	Choices []struct {
		Text     string `json:"text"`
		Index    int    `json:"index"`
		Logprobs *struct {
			Tokens        []string             `json:"tokens"`
			TokenLogprobs []float64            `json:"token_logprobs"`
			TopLogprobs   []map[string]float64 `json:"top_logprobs"`
			TextOffset    []int                `json:"text_offset"`
		} `json:"logprobs"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *oaUsage `json:"usage"`
}

func fakePromptLen(t *testing.T, h *harness, msgs ...chat.Message) int {
	t.Helper()
	ids, err := h.backend.models["fake"].ChatPrompt(msgs)
	if err != nil {
		t.Fatal(err)
	}
	return len(ids)
}

func TestChatCompletion(t *testing.T) {
	h := newHarness(t, nil)
	all := strings.Join(fakePieces, "")
	for _, tc := range []struct {
		name       string
		body       string
		wantText   string
		wantFinish string
		wantTokens int
	}{
		{"whole", `{"model":"fake","messages":[{"role":"user","content":"hi"}]}`, all, "stop", 5},
		{"max_tokens", `{"model":"fake","messages":[{"role":"user","content":"hi"}],"max_tokens":2}`, "Once upon", "length", 2},
		{"max_completion_tokens wins", `{"model":"fake","messages":[{"role":"user","content":"hi"}],"max_tokens":1,"max_completion_tokens":3}`, "Once upon a", "length", 3},
		{"text parts and unknown fields", `{"model":"fake","messages":[{"role":"user","content":[{"type":"text","text":"h"},{"type":"text","text":"i"}]}],"frobnicate":true,"user":"u1"}`, all, "stop", 5},
		{"nulls", `{"model":"fake","messages":[{"role":"user","content":"hi"}],"stop":null,"seed":null,"temperature":null,"n":null,"response_format":{"type":"text"},"tools":[]}`, all, "stop", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do("POST", "/v1/chat/completions", tc.body)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var got oaChat
			decode(t, rec.Body.Bytes(), &got)
			if !strings.HasPrefix(got.ID, "chatcmpl-") || len(got.ID) != len("chatcmpl-")+24 {
				t.Errorf("id %q, want chatcmpl- and 24 hex digits", got.ID)
			}
			if hdr := rec.Header().Get("X-Request-Id"); hdr != got.ID {
				t.Errorf("X-Request-Id %q, want the response id %q", hdr, got.ID)
			}
			if got.Object != "chat.completion" || got.Model != "fake" || got.Created != h.srv.now().Unix() {
				t.Errorf("object %q model %q created %d", got.Object, got.Model, got.Created)
			}
			if len(got.Choices) != 1 {
				t.Fatalf("%d choices, want 1", len(got.Choices))
			}
			c := got.Choices[0]
			if c.Index != 0 || c.Message.Role != "assistant" || c.Message.Content != tc.wantText || c.FinishReason != tc.wantFinish {
				t.Errorf("choice = %+v, want content %q finish %q", c, tc.wantText, tc.wantFinish)
			}
			if c.Logprobs != nil {
				t.Errorf("logprobs = %+v without logprobs requested", c.Logprobs)
			}
			n := tc.wantTokens
			wantPrompt := h.backend.models["fake"].lastRequest().Prompt
			want := oaUsage{PromptTokens: len(wantPrompt), CompletionTokens: n, TotalTokens: len(wantPrompt) + n}
			if got.Usage == nil || *got.Usage != want {
				t.Errorf("usage = %+v, want %+v", got.Usage, want)
			}
		})
	}
	if a, r := h.backend.acquired, h.backend.released; a != r || a == 0 {
		t.Errorf("acquired %d, released %d", a, r)
	}
	// Nullable fields are present as null, as in OpenAI's responses.
	rec := h.do("POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":"hi"}]}`)
	var raw struct {
		Choices []map[string]json.RawMessage `json:"choices"`
	}
	json.Unmarshal(rec.Body.Bytes(), &raw)
	if lp, ok := raw.Choices[0]["logprobs"]; !ok || string(lp) != "null" {
		t.Errorf("choices[0].logprobs = %s, present %v; want null", lp, ok)
	}
}

func TestChatRequestMapping(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.DefaultMaxTokens = 57 })
	m := h.backend.models["fake"]
	for _, tc := range []struct {
		name  string
		body  string
		check func(t *testing.T)
	}{
		{"defaults", `{"model":"fake","messages":[{"role":"developer","content":"be brief"},{"role":"user","content":"hi"}]}`, func(t *testing.T) {
			r := m.lastRequest()
			if r.MaxTokens != 57 || r.Sampling.Temperature != 1 || r.Sampling.TopK != 0 || r.Stop != nil || r.LogProbs {
				t.Errorf("request = %+v", r)
			}
			want := fakePromptLen(t, h, chat.Message{Role: "system", Content: "be brief"}, chat.Message{Role: "user", Content: "hi"})
			if len(r.Prompt) != want {
				t.Errorf("prompt has %d tokens, want %d (developer rendered as system)", len(r.Prompt), want)
			}
		}},
		{"sampling", `{"model":"fake","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"top_p":0.9,"seed":42,"presence_penalty":1.5,"frequency_penalty":-1,"stop":["a","","b"],"top_k":7}`, func(t *testing.T) {
			r := m.lastRequest()
			s := r.Sampling
			if s.Temperature != 0.5 || s.TopP != 0.9 || s.Seed != 42 || s.PresencePenalty != 1.5 || s.FrequencyPenalty != -1 || s.TopK != 7 {
				t.Errorf("sampling = %+v", s)
			}
			if strings.Join(r.Stop, ",") != "a,b" {
				t.Errorf("stop = %q, want [a b]", r.Stop)
			}
		}},
		{"stop string", `{"model":"fake","messages":[{"role":"user","content":"hi"}],"stop":"\n"}`, func(t *testing.T) {
			if r := m.lastRequest(); len(r.Stop) != 1 || r.Stop[0] != "\n" {
				t.Errorf("stop = %q", r.Stop)
			}
		}},
		{"top_p zero keeps one token", `{"model":"fake","messages":[{"role":"user","content":"hi"}],"top_p":0}`, func(t *testing.T) {
			if s := m.lastRequest().Sampling; !(s.TopP > 0 && s.TopP < 1e-30) {
				t.Errorf("top_p = %v, want a tiny positive mass", s.TopP)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do("POST", "/v1/chat/completions", tc.body)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			tc.check(t)
		})
	}
	// Without a seed each request draws a fresh one.
	h.do("POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":"hi"}]}`)
	s1 := m.lastRequest().Sampling.Seed
	h.do("POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":"hi"}]}`)
	if s2 := m.lastRequest().Sampling.Seed; s1 == s2 {
		t.Errorf("two unseeded requests got the same seed %d", s1)
	}
}

func TestChatLogprobs(t *testing.T) {
	h := newHarness(t, nil)
	rec := h.do("POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":2}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got oaChat
	decode(t, rec.Body.Bytes(), &got)
	lp := got.Choices[0].Logprobs
	if lp == nil || len(lp.Content) != len(fakePieces) || lp.Refusal != nil {
		t.Fatalf("logprobs = %+v, want %d entries and null refusal", lp, len(fakePieces))
	}
	for i, e := range lp.Content {
		if e.Token != fakePieces[i] || e.Logprob != fakeLogProb(i) || string(intBytes(e.Bytes)) != fakePieces[i] {
			t.Errorf("content[%d] = %+v, want token %q logprob %v", i, e, fakePieces[i], fakeLogProb(i))
		}
		if len(e.TopLogprobs) != 2 || e.TopLogprobs[1].Token != fakePieces[1] || e.TopLogprobs[1].Logprob != fakeLogProb(1) ||
			string(intBytes(e.TopLogprobs[0].Bytes)) != fakePieces[0] {
			t.Errorf("content[%d].top_logprobs = %+v", i, e.TopLogprobs)
		}
	}
	// logprobs without top_logprobs: empty (not null) alternatives.
	rec = h.do("POST", "/v1/chat/completions", `{"model":"fake","messages":[{"role":"user","content":"hi"}],"logprobs":true}`)
	if !strings.Contains(rec.Body.String(), `"top_logprobs":[]`) {
		t.Errorf("body %s lacks empty top_logprobs arrays", rec.Body)
	}
}

func intBytes(b []int) []byte {
	out := make([]byte, len(b))
	for i, x := range b {
		out[i] = byte(x)
	}
	return out
}

func TestChatStream(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct {
		name         string
		body         string
		includeUsage bool
		logprobs     bool
		wantFinish   string
		wantTokens   int
	}{
		{"plain", `{"model":"fake","messages":[{"role":"user","content":"hi"}],"stream":true}`, false, false, "stop", 5},
		{"include_usage", `{"model":"fake","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`, true, false, "stop", 5},
		{"length", `{"model":"fake","messages":[{"role":"user","content":"hi"}],"stream":true,"max_tokens":3,"stream_options":{"include_usage":true}}`, true, false, "length", 3},
		{"logprobs", `{"model":"fake","messages":[{"role":"user","content":"hi"}],"stream":true,"logprobs":true,"top_logprobs":1}`, false, true, "stop", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do("POST", "/v1/chat/completions", tc.body)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type %q", ct)
			}
			events := sseEvents(t, rec.Body.String())
			if events[len(events)-1] != "[DONE]" {
				t.Fatalf("last event %q, want [DONE]", events[len(events)-1])
			}
			events = events[:len(events)-1]
			var chunks []oaChunk
			for _, ev := range events {
				var c oaChunk
				decode(t, []byte(ev), &c)
				chunks = append(chunks, c)
				// With include_usage every chunk carries "usage" (null
				// until the last); without it, none does.
				var keys map[string]json.RawMessage
				json.Unmarshal([]byte(ev), &keys)
				if _, has := keys["usage"]; has != tc.includeUsage {
					t.Errorf("chunk %s: usage present %v, want %v", ev, has, tc.includeUsage)
				}
			}
			id := chunks[0].ID
			if !strings.HasPrefix(id, "chatcmpl-") || rec.Header().Get("X-Request-Id") != id {
				t.Errorf("id %q, header %q", id, rec.Header().Get("X-Request-Id"))
			}
			for _, c := range chunks {
				if c.ID != id || c.Object != "chat.completion.chunk" || c.Model != "fake" || c.Created != chunks[0].Created {
					t.Errorf("chunk header %+v differs", c)
				}
			}
			first := chunks[0]
			if len(first.Choices) != 1 || first.Choices[0].Delta.Role != "assistant" || first.Choices[0].FinishReason != nil {
				t.Errorf("first chunk %+v, want the assistant role", first)
			}
			if tc.includeUsage {
				last := chunks[len(chunks)-1]
				chunks = chunks[:len(chunks)-1]
				if len(last.Choices) != 0 || last.Usage == nil {
					t.Fatalf("usage chunk %+v, want empty choices and usage", last)
				}
				want := oaUsage{PromptTokens: len(h.backend.models["fake"].lastRequest().Prompt), CompletionTokens: tc.wantTokens}
				want.TotalTokens = want.PromptTokens + want.CompletionTokens
				if *last.Usage != want {
					t.Errorf("usage %+v, want %+v", *last.Usage, want)
				}
			}
			fin := chunks[len(chunks)-1]
			if len(fin.Choices) != 1 || fin.Choices[0].FinishReason == nil || *fin.Choices[0].FinishReason != tc.wantFinish || fin.Choices[0].Delta.Content != nil {
				t.Errorf("final chunk %+v, want finish_reason %q and an empty delta", fin, tc.wantFinish)
			}
			var text strings.Builder
			nlp := 0
			for _, c := range chunks[1 : len(chunks)-1] {
				if c.Choices[0].FinishReason != nil || c.Choices[0].Delta.Role != "" || c.Usage != nil {
					t.Errorf("middle chunk %+v", c)
				}
				text.WriteString(*c.Choices[0].Delta.Content)
				if lp := c.Choices[0].Logprobs; lp != nil {
					nlp += len(lp.Content)
					if len(lp.Content) != 1 || len(lp.Content[0].TopLogprobs) != 1 {
						t.Errorf("chunk logprobs %+v", lp)
					}
				}
			}
			if want := strings.Join(fakePieces[:tc.wantTokens], ""); text.String() != want {
				t.Errorf("streamed text %q, want %q", text.String(), want)
			}
			if tc.logprobs && nlp != tc.wantTokens {
				t.Errorf("%d logprob entries, want %d", nlp, tc.wantTokens)
			}
		})
	}
}

func TestCompletions(t *testing.T) {
	h := newHarness(t, nil)
	m := h.backend.models["fake"]
	all := strings.Join(fakePieces, "")
	for _, tc := range []struct {
		name       string
		body       string
		wantText   string
		wantPrompt []int32
	}{
		{"string", `{"model":"fake","prompt":"ab"}`, all, []int32{fakeBOS, 'a' + 3, 'b' + 3}},
		{"one string in an array", `{"model":"fake","prompt":["ab"]}`, all, []int32{fakeBOS, 'a' + 3, 'b' + 3}},
		{"token ids", `{"model":"fake","prompt":[5,6,7]}`, all, []int32{5, 6, 7}},
		{"nested token ids", `{"model":"fake","prompt":[[5,6]]}`, all, []int32{5, 6}},
		{"echo", `{"model":"fake","prompt":"ab","echo":true}`, "ab" + all, nil},
		{"echo token ids", `{"model":"fake","prompt":[100,101],"echo":true}`, "ab" + all, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do("POST", "/v1/completions", tc.body)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var got oaCompletion
			decode(t, rec.Body.Bytes(), &got)
			if !strings.HasPrefix(got.ID, "cmpl-") || rec.Header().Get("X-Request-Id") != got.ID || got.Object != "text_completion" || got.Model != "fake" {
				t.Errorf("header fields %+v", got)
			}
			c := got.Choices[0]
			if c.Text != tc.wantText || c.FinishReason == nil || *c.FinishReason != "stop" || c.Logprobs != nil {
				t.Errorf("choice %+v, want text %q", c, tc.wantText)
			}
			req := m.lastRequest()
			if tc.wantPrompt != nil && !slices.Equal(req.Prompt, tc.wantPrompt) {
				t.Errorf("prompt %v, want %v", req.Prompt, tc.wantPrompt)
			}
			if req.MaxTokens != 16 {
				t.Errorf("max tokens %d, want OpenAI's default 16", req.MaxTokens)
			}
			if want := (oaUsage{len(req.Prompt), len(fakePieces), len(req.Prompt) + len(fakePieces)}); *got.Usage != want {
				t.Errorf("usage %+v, want %+v", *got.Usage, want)
			}
		})
	}

	t.Run("default max_tokens 16", func(t *testing.T) {
		var got oaCompletion
		decode(t, h.do("POST", "/v1/completions", `{"model":"long","prompt":"x"}`).Body.Bytes(), &got)
		if got.Usage.CompletionTokens != 16 || *got.Choices[0].FinishReason != "length" {
			t.Errorf("usage %+v finish %q, want 16 tokens and length", got.Usage, *got.Choices[0].FinishReason)
		}
	})

	t.Run("logprobs", func(t *testing.T) {
		var got oaCompletion
		decode(t, h.do("POST", "/v1/completions", `{"model":"fake","prompt":"x","logprobs":2}`).Body.Bytes(), &got)
		lp := got.Choices[0].Logprobs
		if lp == nil || len(lp.Tokens) != len(fakePieces) {
			t.Fatalf("logprobs %+v", lp)
		}
		off := 0
		for i := range fakePieces {
			if lp.Tokens[i] != fakePieces[i] || lp.TokenLogprobs[i] != fakeLogProb(i) || lp.TextOffset[i] != off || len(lp.TopLogprobs[i]) != 2 ||
				lp.TopLogprobs[i][fakePieces[1]] != fakeLogProb(1) {
				t.Errorf("entry %d: %q %v %v %v", i, lp.Tokens[i], lp.TokenLogprobs[i], lp.TextOffset[i], lp.TopLogprobs[i])
			}
			off += len(fakePieces[i])
		}
	})

	t.Run("stream", func(t *testing.T) {
		rec := h.do("POST", "/v1/completions", `{"model":"fake","prompt":"ab","stream":true,"echo":true,"stream_options":{"include_usage":true}}`)
		events := sseEvents(t, rec.Body.String())
		if events[len(events)-1] != "[DONE]" {
			t.Fatalf("no [DONE]: %q", events)
		}
		var text strings.Builder
		var finish string
		var u *oaUsage
		for _, ev := range events[:len(events)-1] {
			var c oaCompletion
			decode(t, []byte(ev), &c)
			if c.Object != "text_completion" || c.ID != rec.Header().Get("X-Request-Id") {
				t.Errorf("chunk %s", ev)
			}
			if c.Usage != nil {
				u = c.Usage
				if len(c.Choices) != 0 {
					t.Errorf("usage chunk has choices: %s", ev)
				}
				continue
			}
			text.WriteString(c.Choices[0].Text)
			if c.Choices[0].FinishReason != nil {
				finish = *c.Choices[0].FinishReason
			}
		}
		if text.String() != "ab"+all || finish != "stop" || u == nil || u.CompletionTokens != len(fakePieces) {
			t.Errorf("text %q finish %q usage %+v", text.String(), finish, u)
		}
	})
}

func TestEmbeddings(t *testing.T) {
	h := newHarness(t, nil)
	type oaEmbeddings struct {
		Object string `json:"object"`
		Data   []struct {
			Object    string          `json:"object"`
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Model string `json:"model"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}
	m := h.backend.models["fake"]
	wantVec := func(toks []int32) []float32 {
		v, _ := m.Embed(t.Context(), toks)
		return v
	}
	ab := m.Tokenize("ab", true, false)
	c := m.Tokenize("c", true, false)
	for _, tc := range []struct {
		name   string
		body   string
		want   [][]int32
		base64 bool
	}{
		{"string", `{"model":"fake","input":"ab"}`, [][]int32{ab}, false},
		{"strings", `{"model":"fake","input":["ab","c"]}`, [][]int32{ab, c}, false},
		{"token ids", `{"model":"fake","input":[5,6]}`, [][]int32{{5, 6}}, false},
		{"token id arrays", `{"model":"fake","input":[[5],[6,7]]}`, [][]int32{{5}, {6, 7}}, false},
		{"base64", `{"model":"fake","input":["ab","c"],"encoding_format":"base64"}`, [][]int32{ab, c}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.do("POST", "/v1/embeddings", tc.body)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var got oaEmbeddings
			decode(t, rec.Body.Bytes(), &got)
			if got.Object != "list" || got.Model != "fake" || len(got.Data) != len(tc.want) {
				t.Fatalf("got %+v", got)
			}
			total := 0
			for i, d := range got.Data {
				var vec []float32
				if tc.base64 {
					var s string
					if err := json.Unmarshal(d.Embedding, &s); err != nil {
						t.Fatalf("base64 embedding is not a string: %s", d.Embedding)
					}
					raw, err := base64.StdEncoding.DecodeString(s)
					if err != nil {
						t.Fatal(err)
					}
					for j := 0; j+4 <= len(raw); j += 4 {
						vec = append(vec, math.Float32frombits(binary.LittleEndian.Uint32(raw[j:])))
					}
				} else if err := json.Unmarshal(d.Embedding, &vec); err != nil {
					t.Fatal(err)
				}
				want := wantVec(tc.want[i])
				if d.Object != "embedding" || d.Index != i || len(vec) != len(want) {
					t.Fatalf("data[%d] = %+v", i, d)
				}
				for j := range want {
					if vec[j] != want[j] {
						t.Errorf("data[%d][%d] = %v, want %v", i, j, vec[j], want[j])
					}
				}
				total += len(tc.want[i])
			}
			if got.Usage.PromptTokens != total || got.Usage.TotalTokens != total {
				t.Errorf("usage %+v, want %d tokens", got.Usage, total)
			}
		})
	}
}

func TestModels(t *testing.T) {
	h := newHarness(t, nil)
	type oaModel struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	var list struct {
		Object string    `json:"object"`
		Data   []oaModel `json:"data"`
	}
	decode(t, h.do("GET", "/v1/models", "").Body.Bytes(), &list)
	if list.Object != "list" || len(list.Data) != len(fakeNames) || list.Data[0].ID != "fake" || list.Data[0].Object != "model" ||
		list.Data[0].Created != h.backend.models["fake"].info.ModifiedAt.Unix() || list.Data[0].OwnedBy == "" {
		t.Errorf("list = %+v", list)
	}
	var one oaModel
	rec := h.do("GET", "/v1/models/long", "")
	decode(t, rec.Body.Bytes(), &one)
	if rec.Code != 200 || one.ID != "long" || one.Object != "model" {
		t.Errorf("GET /v1/models/long: %d %+v", rec.Code, one)
	}
}
