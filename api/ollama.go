package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
)

// Ollama's API (/api/...), as its docs/api.md describes it: NDJSON
// streams by default, {"error": "..."} errors, durations in nanoseconds.
//
// Differences from Ollama: keep_alive is ignored (the backend decides how
// long models stay loaded); the deprecated "context" and the "template",
// "suffix", "format", "images" and "tools" fields are refused with a 400
// rather than silently ignored, because ignoring them would change what
// the client gets.

// ollamaStats are the timings and counts on a final response.
type ollamaStats struct {
	TotalDuration      int64 `json:"total_duration,omitempty"`
	LoadDuration       int64 `json:"load_duration,omitempty"`
	PromptEvalCount    int   `json:"prompt_eval_count,omitempty"`
	PromptEvalDuration int64 `json:"prompt_eval_duration,omitempty"`
	EvalCount          int   `json:"eval_count,omitempty"`
	EvalDuration       int64 `json:"eval_duration,omitempty"`
}

func (s *Server) ollamaStats(ctx context.Context, load time.Duration, res *engine.Result) ollamaStats {
	st := ollamaStats{TotalDuration: int64(s.now().Sub(requestInfoFrom(ctx).start)), LoadDuration: int64(load)}
	if res != nil {
		st.PromptEvalCount = res.PromptTokens
		st.PromptEvalDuration = int64(res.PromptTime)
		st.EvalCount = len(res.Tokens)
		st.EvalDuration = int64(res.GenTime)
	}
	return st
}

// Ollama's done_reason for a request that only loaded the model.
const doneLoad = "load"

// refuse returns a 400 when a field Hearth does not support is set.
func refuse(raw json.RawMessage, name, why string) error {
	t := strings.TrimSpace(string(raw))
	if isNull(raw) || t == `""` || t == "[]" || t == "{}" {
		return nil
	}
	return unsupported(name, "'%s' is not supported: %s", name, why)
}

// --- /api/chat ---

type ollamaChatRequest struct {
	Model    string                     `json:"model"`
	Messages messageList[ollamaMessage] `json:"messages"`
	Stream   *bool                      `json:"stream"`
	Format   json.RawMessage            `json:"format"`
	Options  *ollamaOptions             `json:"options"`
	Tools    json.RawMessage            `json:"tools"`
}

type ollamaMessage struct {
	Role      string          `json:"role"`
	Content   string          `json:"content"`
	Images    []string        `json:"images,omitempty"`
	ToolCalls json.RawMessage `json:"tool_calls,omitempty"`
}

type ollamaChatResponse struct {
	Model      string        `json:"model"`
	CreatedAt  time.Time     `json:"created_at"`
	Message    ollamaMessage `json:"message"`
	DoneReason string        `json:"done_reason,omitempty"`
	Done       bool          `json:"done"`
	ollamaStats
}

func (s *Server) ollamaChat(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req ollamaChatRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := refuse(req.Format, "format", "structured output is not implemented yet"); err != nil {
		return err
	}
	if err := refuse(req.Tools, "tools", "tool calling is not implemented yet"); err != nil {
		return err
	}
	msgs := make([]chat.Message, 0, len(req.Messages))
	for i, m := range req.Messages {
		switch m.Role {
		case "system", "user", "assistant", "tool":
		default:
			return badRequest(fmt.Sprintf("messages[%d].role", i), "messages[%d]: role '%s' is not one of system, user, assistant, tool", i, clientText(m.Role))
		}
		if len(m.Images) > 0 {
			return unsupported(fmt.Sprintf("messages[%d].images", i), "messages[%d]: images are not supported, the model reads text only", i)
		}
		msgs = append(msgs, chat.Message{Role: m.Role, Content: m.Content})
	}
	ereq, err := req.Options.request(s.cfg.DefaultMaxTokens)
	if err != nil {
		return err
	}
	m, release, load, err := s.acquire(ctx, req.Model)
	if err != nil {
		return err
	}
	defer release()
	reply := func(text string) ollamaChatResponse {
		return ollamaChatResponse{Model: req.Model, CreatedAt: s.now().UTC(), Message: ollamaMessage{Role: "assistant", Content: text}}
	}
	if len(msgs) == 0 {
		// No messages: Ollama's way to load a model.
		out := reply("")
		out.Done, out.DoneReason = true, doneLoad
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	if err := limitMessages(m, msgs); err != nil {
		return err
	}
	prompt, err := m.ChatPrompt(msgs)
	if err != nil {
		return badRequest("messages", "the messages do not fit the model's chat template: %v", err)
	}
	if err := checkPrompt(m, prompt, "messages"); err != nil {
		return err
	}
	ereq.Prompt = prompt
	if err := s.limitTokens(m, &ereq, "options.num_predict", true); err != nil {
		return err
	}

	return ollamaRespond(s, w, ctx, m, ereq, req.Stream, "messages", load, reply,
		func(o *ollamaChatResponse, reason string, st ollamaStats) {
			o.Done, o.DoneReason, o.ollamaStats = true, reason, st
		})
}

// ollamaRespond runs a generation and answers as Ollama does: NDJSON lines
// of reply(text) as tokens arrive, then a final one marked done with the
// statistics; or, with "stream": false, a single done object holding the
// whole text. finish marks a reply done.
func ollamaRespond[T any](s *Server, w http.ResponseWriter, ctx context.Context, m Model, ereq engine.Request, stream *bool,
	param string, load time.Duration, reply func(string) T, finish func(*T, string, ollamaStats)) error {
	if stream != nil && !*stream {
		res, _, err := s.generateAll(ctx, m, ereq)
		if err != nil {
			return classify(err, param)
		}
		out := reply(res.Text)
		finish(&out, res.FinishReason, s.ollamaStats(ctx, load, res))
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	sw := s.newNDJSON(w)
	res, err := s.stream(ctx, m, ereq, func(toks []engine.Token) error {
		for _, t := range toks {
			if t.Text == "" {
				continue
			}
			if err := sw.send(reply(t.Text)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return sw.fail(err, param)
	}
	out := reply("")
	finish(&out, res.FinishReason, s.ollamaStats(ctx, load, res))
	return sw.send(out)
}

// --- /api/generate ---

type ollamaGenerateRequest struct {
	Model    string          `json:"model"`
	Prompt   string          `json:"prompt"`
	System   string          `json:"system"`
	Raw      bool            `json:"raw"`
	Stream   *bool           `json:"stream"`
	Options  *ollamaOptions  `json:"options"`
	Template json.RawMessage `json:"template"`
	Suffix   json.RawMessage `json:"suffix"`
	Context  json.RawMessage `json:"context"`
	Format   json.RawMessage `json:"format"`
	Images   json.RawMessage `json:"images"`
}

type ollamaGenerateResponse struct {
	Model      string    `json:"model"`
	CreatedAt  time.Time `json:"created_at"`
	Response   string    `json:"response"`
	Done       bool      `json:"done"`
	DoneReason string    `json:"done_reason,omitempty"`
	ollamaStats
}

func (s *Server) ollamaGenerate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req ollamaGenerateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	for _, f := range []struct {
		raw       json.RawMessage
		name, why string
	}{
		{req.Template, "template", "the model's own chat template is always used (or none, with raw)"},
		{req.Suffix, "suffix", "fill-in-the-middle is not implemented yet"},
		{req.Context, "context", "it is deprecated; send the conversation to /api/chat instead"},
		{req.Format, "format", "structured output is not implemented yet"},
		{req.Images, "images", "the model reads text only"},
	} {
		if err := refuse(f.raw, f.name, f.why); err != nil {
			return err
		}
	}
	ereq, err := req.Options.request(s.cfg.DefaultMaxTokens)
	if err != nil {
		return err
	}
	m, release, load, err := s.acquire(ctx, req.Model)
	if err != nil {
		return err
	}
	defer release()
	reply := func(text string) ollamaGenerateResponse {
		return ollamaGenerateResponse{Model: req.Model, CreatedAt: s.now().UTC(), Response: text}
	}
	if req.Prompt == "" && req.System == "" {
		out := reply("") // an empty prompt only loads the model
		out.Done, out.DoneReason = true, doneLoad
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	var prompt []int32
	if req.Raw {
		prompt = m.Tokenize(req.Prompt, true, true)
	} else {
		var msgs []chat.Message
		if req.System != "" {
			msgs = append(msgs, chat.Message{Role: "system", Content: req.System})
		}
		msgs = append(msgs, chat.Message{Role: "user", Content: req.Prompt})
		if prompt, err = m.ChatPrompt(msgs); err != nil {
			return badRequest("prompt", "the prompt does not fit the model's chat template: %v", err)
		}
	}
	if err := checkPrompt(m, prompt, "prompt"); err != nil {
		return err
	}
	ereq.Prompt = prompt
	if err := s.limitTokens(m, &ereq, "options.num_predict", true); err != nil {
		return err
	}

	return ollamaRespond(s, w, ctx, m, ereq, req.Stream, "prompt", load, reply,
		func(o *ollamaGenerateResponse, reason string, st ollamaStats) {
			o.Done, o.DoneReason, o.ollamaStats = true, reason, st
		})
}
