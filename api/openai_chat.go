package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
)

// POST /v1/chat/completions, in OpenAI's wire format.

type chatRequest struct {
	openAIParams
	Messages            messageList[chatMessageIn] `json:"messages"`
	MaxCompletionTokens *int                       `json:"max_completion_tokens"`
	Logprobs            *bool                      `json:"logprobs"`
	TopLogprobs         *int                       `json:"top_logprobs"`
	ResponseFormat      *responseFormat            `json:"response_format"`
	Tools               json.RawMessage            `json:"tools"`
}

type chatMessageIn struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"` // a string or an array of parts
	Name       string          `json:"name"`
	ToolCallID string          `json:"tool_call_id"`
}

type responseFormat struct {
	Type string `json:"type"`
}

// maxTopLogprobs is OpenAI's limit on top_logprobs.
const maxTopLogprobs = 20

type chatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"`
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	Choices           []chatChoice `json:"choices"`
	Usage             *usage       `json:"usage"`
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
}

type chatChoice struct {
	Index        int            `json:"index"`
	Message      chatMessageOut `json:"message"`
	Logprobs     *chatLogprobs  `json:"logprobs"`
	FinishReason string         `json:"finish_reason"`
}

type chatMessageOut struct {
	Role    string  `json:"role"`
	Content string  `json:"content"`
	Refusal *string `json:"refusal"`
}

type chatChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"`
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
	Choices           []chunkChoice `json:"choices"`
	// Usage is absent unless stream_options.include_usage is set; then it
	// is null on every chunk but the last, as OpenAI sends it.
	Usage any `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int           `json:"index"`
	Delta        chunkDelta    `json:"delta"`
	Logprobs     *chatLogprobs `json:"logprobs"`
	FinishReason *string       `json:"finish_reason"`
}

type chunkDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

// jsonNull is an explicit null for fields that are otherwise omitted.
var jsonNull = json.RawMessage("null")

// chatOptions is a validated chat request, ready to generate.
type chatOptions struct {
	msgs     []chat.Message
	req      engine.Request
	maxParam string // the field max tokens came from
	logprobs bool
}

func (s *Server) parseChat(req *chatRequest) (*chatOptions, error) {
	msgs, err := chatMessages(req.Messages)
	if err != nil {
		return nil, err
	}
	opt := &chatOptions{msgs: msgs}
	if opt.req.Sampling, err = req.sampling(); err != nil {
		return nil, err
	}
	if opt.req.Stop, err = req.stops(); err != nil {
		return nil, err
	}
	if err := req.checkN(); err != nil {
		return nil, err
	}
	opt.req.MaxTokens, opt.maxParam, err = maxTokens(s.cfg.DefaultMaxTokens, []*int{req.MaxCompletionTokens, req.MaxTokens}, []string{"max_completion_tokens", "max_tokens"})
	if err != nil {
		return nil, err
	}
	opt.logprobs = req.Logprobs != nil && *req.Logprobs
	if req.TopLogprobs != nil {
		n := *req.TopLogprobs
		if n < 0 || n > maxTopLogprobs {
			return nil, badRequest("top_logprobs", "'top_logprobs' must be between 0 and %d, got %d", maxTopLogprobs, n)
		}
		if n > 0 && !opt.logprobs {
			return nil, badRequest("top_logprobs", "'top_logprobs' requires 'logprobs' to be true")
		}
		opt.req.TopLogProbs = n
	}
	opt.req.LogProbs = opt.logprobs
	if rf := req.ResponseFormat; rf != nil && rf.Type != "" && rf.Type != "text" {
		return nil, unsupported("response_format", "response_format type '%s' is not supported yet; only 'text' is", clientText(rf.Type))
	}
	if !isNull(req.Tools) && strings.TrimSpace(string(req.Tools)) != "[]" {
		return nil, unsupported("tools", "'tools' (function calling) is not supported yet")
	}
	return opt, nil
}

// chatMessages converts OpenAI messages into the template's.
func chatMessages(in []chatMessageIn) ([]chat.Message, error) {
	if len(in) == 0 {
		return nil, badRequest("messages", "'messages' must hold at least one message")
	}
	out := make([]chat.Message, 0, len(in))
	for i, m := range in {
		role := m.Role
		switch role {
		case "system", "user", "assistant", "tool":
		case "developer":
			role = "system" // OpenAI's newer name for system instructions
		case "":
			return nil, badRequest(fmt.Sprintf("messages[%d].role", i), "'messages[%d].role' is required", i)
		default:
			return nil, badRequest(fmt.Sprintf("messages[%d].role", i), "'messages[%d].role' is '%s'; expected system, developer, user, assistant or tool", i, clientText(m.Role))
		}
		text, err := messageContent(m.Content, i)
		if err != nil {
			return nil, err
		}
		out = append(out, chat.Message{Role: role, Content: text, Name: m.Name, ToolCallID: m.ToolCallID})
	}
	return out, nil
}

// messageContent flattens a message's content: a string, null, or an
// array of text parts (joined by newlines). Other parts (images, audio,
// files) are refused: the models served here read text only.
func messageContent(raw json.RawMessage, i int) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		return text, nil
	}
	param := fmt.Sprintf("messages[%d].content", i) // named only here: most contents are strings
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", badRequest(param, "'%s' must be a string or an array of content parts", param)
	}
	var texts []string
	for j, p := range parts {
		pp := fmt.Sprintf("%s[%d]", param, j)
		switch p.Type {
		case "text":
			if p.Text == nil {
				return "", badRequest(pp+".text", "'%s.text' is required for a text part", pp)
			}
			texts = append(texts, *p.Text)
		case "image_url", "input_image":
			return "", unsupported(pp, "'%s' is an image: image input is not supported, the model reads text only", pp)
		case "input_audio", "file":
			return "", unsupported(pp, "'%s' is of type '%s', which is not supported; only text parts are", pp, clientText(p.Type))
		default:
			return "", badRequest(pp+".type", "'%s.type' is '%s'; expected 'text'", pp, clientText(p.Type))
		}
	}
	return strings.Join(texts, "\n"), nil
}

func (s *Server) chatCompletions(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req chatRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	opt, err := s.parseChat(&req)
	if err != nil {
		return err
	}
	requestInfoFrom(ctx).user = string(req.User)
	ctx = withLoRA(ctx, req.LoRA) // llama-server's per-request adapters (lora.go)
	m, release, _, err := s.acquire(ctx, req.Model)
	if err != nil {
		return err
	}
	defer release()
	if err := limitMessages(m, opt.msgs); err != nil {
		return err
	}
	prompt, err := m.ChatPrompt(opt.msgs)
	if err != nil {
		return badRequest("messages", "the messages do not fit the model's chat template: %v", err)
	}
	if err := checkPrompt(m, prompt, "messages"); err != nil {
		return err
	}
	opt.req.Prompt = prompt
	if err := s.limitTokens(m, &opt.req, opt.maxParam, false); err != nil {
		return err
	}

	info := requestInfoFrom(ctx)
	id := "chatcmpl-" + info.rand
	created := s.now().Unix()
	if r := resumeFrom(ctx); r != nil && req.Stream {
		id, created = r.ID, r.Created // one response, whichever node sends it
	}
	info.id = id
	w.Header().Set("X-Request-Id", id)
	if req.Stream {
		return s.chatStream(w, r, m, opt, chatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model},
			req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
	}

	res, toks, err := s.generateAll(ctx, m, opt.req)
	if err != nil {
		return classify(err, "messages")
	}
	choice := chatChoice{Message: chatMessageOut{Role: "assistant", Content: res.Text}, FinishReason: res.FinishReason}
	if opt.logprobs {
		choice.Logprobs = &chatLogprobs{Content: []tokenLogprob{}}
		for _, t := range toks {
			if e, ok := chatLogprob(m, t); ok {
				choice.Logprobs.Content = append(choice.Logprobs.Content, e)
			}
		}
	}
	writeJSON(w, http.StatusOK, chatCompletion{
		ID: id, Object: "chat.completion", Created: created, Model: req.Model,
		Choices: []chatChoice{choice},
		Usage:   newUsage(res.PromptTokens, len(res.Tokens)),
	})
	return nil
}

// chatStream sends the completion as chat.completion.chunk events: one
// with the role, one per token, one with the finish reason, then usage
// if asked for, then [DONE].
func (s *Server) chatStream(w http.ResponseWriter, r *http.Request, m Model, opt *chatOptions, base chatChunk, includeUsage bool) error {
	sw := s.newSSE(w)
	if includeUsage {
		base.Usage = jsonNull
	}
	chunk := func(c chunkChoice) chatChunk {
		out := base
		out.Choices = []chunkChoice{c}
		return out
	}
	sentRole := resumeFrom(r.Context()) != nil // the node that started the response sent it
	sendRole := func() error {
		if sentRole {
			return nil
		}
		sentRole = true
		empty := ""
		return sw.send(chunk(chunkChoice{Delta: chunkDelta{Role: "assistant", Content: &empty}}))
	}
	res, err := s.stream(r.Context(), m, opt.req, func(toks []engine.Token) error {
		if err := sendRole(); err != nil {
			return err
		}
		for _, t := range toks {
			var lp *chatLogprobs
			if opt.logprobs {
				if e, ok := chatLogprob(m, t); ok {
					lp = &chatLogprobs{Content: []tokenLogprob{e}}
				}
			}
			if t.Text == "" && lp == nil {
				continue // text held back (a partial character or stop string)
			}
			text := t.Text
			if err := sw.send(chunk(chunkChoice{Delta: chunkDelta{Content: &text}, Logprobs: lp})); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return sw.fail(err, "messages")
	}
	if err := sendRole(); err != nil {
		return err
	}
	finish := res.FinishReason
	if err := sw.send(chunk(chunkChoice{FinishReason: &finish})); err != nil {
		return err
	}
	if includeUsage {
		last := base
		last.Choices = []chunkChoice{}
		last.Usage = newUsage(res.PromptTokens, len(res.Tokens))
		if err := sw.send(last); err != nil {
			return err
		}
	}
	return sw.done()
}
