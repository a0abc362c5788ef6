package api

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/engine/sample"
)

// Ollama's API (/api/...), as its docs/api.md describes it: NDJSON
// streams by default, {"error": "..."} errors, durations in nanoseconds.
//
// Differences from Ollama: keep_alive is ignored (the backend decides how
// long models stay loaded); the deprecated "context" and the "template",
// "suffix", "format", "images" and "tools" fields are refused with a 400
// rather than silently ignored, because ignoring them would change what
// the client gets.

// ollamaOptions are the Modelfile parameters Hearth honours. Others
// (mirostat, num_gpu, ...) are ignored, as unknown fields are everywhere.
type ollamaOptions struct {
	Temperature      *float64        `json:"temperature"`
	TopK             *int            `json:"top_k"`
	TopP             *float64        `json:"top_p"`
	MinP             *float64        `json:"min_p"`
	Seed             *int64          `json:"seed"`
	NumPredict       *int            `json:"num_predict"`
	Stop             json.RawMessage `json:"stop"`
	RepeatPenalty    *float64        `json:"repeat_penalty"`
	RepeatLastN      *int            `json:"repeat_last_n"`
	PresencePenalty  *float64        `json:"presence_penalty"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	// NumCtx is ignored: the context size is the node's, fixed at load.
	NumCtx *int `json:"num_ctx"`
}

// request turns options into an engine request, starting from Ollama's
// defaults (temperature 0.8, top_k 40, top_p 0.9, repeat_penalty 1.1 over
// the last 64 tokens, a random seed, no length limit but the server's).
func (o *ollamaOptions) request(defaultMax int) (engine.Request, error) {
	req := engine.Request{MaxTokens: defaultMax, Sampling: sample.Params{
		Temperature: 0.8, TopK: 40, TopP: 0.9, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: rand.Uint64(),
	}}
	if o == nil {
		return req, nil
	}
	sp := &req.Sampling
	if v := o.Temperature; v != nil {
		if !(*v >= 0 && *v <= 100) {
			return req, badRequest("options.temperature", "option temperature must be 0 or more, got %v", *v)
		}
		sp.Temperature = float32(*v)
	}
	if v := o.TopK; v != nil {
		if *v < 0 {
			return req, badRequest("options.top_k", "option top_k must be 0 or more, got %d", *v)
		}
		sp.TopK = *v
	}
	for _, f := range []struct {
		name string
		v    *float64
		dst  *float32
		lo   float64
		hi   float64
	}{
		{"top_p", o.TopP, &sp.TopP, 0, 1},
		{"min_p", o.MinP, &sp.MinP, 0, 1},
		{"repeat_penalty", o.RepeatPenalty, &sp.RepeatPenalty, 0, 100},
		{"presence_penalty", o.PresencePenalty, &sp.PresencePenalty, -100, 100},
		{"frequency_penalty", o.FrequencyPenalty, &sp.FrequencyPenalty, -100, 100},
	} {
		if f.v == nil {
			continue
		}
		if !(*f.v >= f.lo && *f.v <= f.hi) {
			return req, badRequest("options."+f.name, "option %s must be between %v and %v, got %v", f.name, f.lo, f.hi, *f.v)
		}
		*f.dst = float32(*f.v)
	}
	if v := o.RepeatLastN; v != nil {
		if *v < -1 {
			return req, badRequest("options.repeat_last_n", "option repeat_last_n must be -1 (whole context) or more, got %d", *v)
		}
		sp.RepeatLastN = *v
		if *v == 0 {
			// Ollama's 0 disables the penalties' window; the engine's 0
			// means its default, so switch the penalties off instead.
			sp.RepeatPenalty, sp.PresencePenalty, sp.FrequencyPenalty = 1, 0, 0
		}
	}
	if v := o.Seed; v != nil && *v >= 0 {
		sp.Seed = uint64(*v) // -1 keeps the random seed, as in Ollama
	}
	if v := o.NumPredict; v != nil {
		switch {
		case *v < 0:
			req.MaxTokens = 0 // -1: no limit, -2: fill the context
		case *v > 0:
			req.MaxTokens = *v
		}
	}
	stops, err := stringOrStrings(o.Stop, "options.stop")
	if err != nil {
		return req, err
	}
	for _, s := range stops {
		if s != "" {
			req.Stop = append(req.Stop, s)
		}
	}
	if err := sp.Validate(); err != nil {
		return req, badRequest("options", "%v", err)
	}
	return req, nil
}

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
	Model    string          `json:"model"`
	Messages []ollamaMessage `json:"messages"`
	Stream   *bool           `json:"stream"`
	Format   json.RawMessage `json:"format"`
	Options  *ollamaOptions  `json:"options"`
	Tools    json.RawMessage `json:"tools"`
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
			return badRequest(fmt.Sprintf("messages[%d].role", i), "messages[%d]: role '%s' is not one of system, user, assistant, tool", i, m.Role)
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
	prompt, err := m.ChatPrompt(msgs)
	if err != nil {
		return badRequest("messages", "the messages do not fit the model's chat template: %v", err)
	}
	if err := checkPrompt(m, prompt, "messages"); err != nil {
		return err
	}
	ereq.Prompt = prompt

	if req.Stream != nil && !*req.Stream {
		res, _, err := s.generateAll(ctx, m, ereq)
		if err != nil {
			return classify(err, "messages")
		}
		out := reply(res.Text)
		out.Done, out.DoneReason, out.ollamaStats = true, res.FinishReason, s.ollamaStats(ctx, load, res)
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	sw := newNDJSON(w)
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
		return sw.fail(err, "messages")
	}
	out := reply("")
	out.Done, out.DoneReason, out.ollamaStats = true, res.FinishReason, s.ollamaStats(ctx, load, res)
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

	if req.Stream != nil && !*req.Stream {
		res, _, err := s.generateAll(ctx, m, ereq)
		if err != nil {
			return classify(err, "prompt")
		}
		out := reply(res.Text)
		out.Done, out.DoneReason, out.ollamaStats = true, res.FinishReason, s.ollamaStats(ctx, load, res)
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	sw := newNDJSON(w)
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
		return sw.fail(err, "prompt")
	}
	out := reply("")
	out.Done, out.DoneReason, out.ollamaStats = true, res.FinishReason, s.ollamaStats(ctx, load, res)
	return sw.send(out)
}

// --- /api/embed and /api/embeddings ---

type ollamaEmbedRequest struct {
	Model    string          `json:"model"`
	Input    json.RawMessage `json:"input"`
	Truncate *bool           `json:"truncate"`
}

type ollamaEmbedResponse struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	TotalDuration   int64       `json:"total_duration,omitempty"`
	LoadDuration    int64       `json:"load_duration,omitempty"`
	PromptEvalCount int         `json:"prompt_eval_count,omitempty"`
}

func (s *Server) ollamaEmbed(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req ollamaEmbedRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	texts, err := stringOrStrings(req.Input, "input")
	if err != nil {
		return err
	}
	m, release, load, err := s.acquire(ctx, req.Model)
	if err != nil {
		return err
	}
	defer release()
	out := ollamaEmbedResponse{Model: req.Model, Embeddings: [][]float32{}, LoadDuration: int64(load)}
	if len(texts) > 0 {
		inputs := make([]promptInput, len(texts))
		for i, t := range texts {
			if t == "" {
				return badRequest("input", "input[%d] is empty", i)
			}
			inputs[i] = promptInput{text: t}
		}
		truncate := req.Truncate == nil || *req.Truncate // Ollama truncates by default
		if out.Embeddings, out.PromptEvalCount, err = s.embedAll(ctx, m, inputs, truncate, "input"); err != nil {
			return err
		}
	}
	out.TotalDuration = int64(s.now().Sub(requestInfoFrom(ctx).start))
	writeJSON(w, http.StatusOK, out)
	return nil
}

type ollamaEmbeddingsRequest struct {
	Model  string `json:"model"`
	Prompt string `json:"prompt"`
}

type ollamaEmbeddingsResponse struct {
	Embedding []float64 `json:"embedding"`
}

// ollamaEmbeddings is the older single-prompt endpoint, which answers
// float64s and an empty embedding for an empty prompt.
func (s *Server) ollamaEmbeddings(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req ollamaEmbeddingsRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	m, release, _, err := s.acquire(ctx, req.Model)
	if err != nil {
		return err
	}
	defer release()
	out := ollamaEmbeddingsResponse{Embedding: []float64{}}
	if req.Prompt != "" {
		vecs, _, err := s.embedAll(ctx, m, []promptInput{{text: req.Prompt}}, false, "prompt")
		if err != nil {
			return err
		}
		for _, x := range vecs[0] {
			out.Embedding = append(out.Embedding, float64(x))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// --- /api/tags, /api/ps, /api/show, /api/version, / ---

type ollamaDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

func details(mi ModelInfo) ollamaDetails {
	d := ollamaDetails{Format: "gguf", Family: mi.Architecture, ParameterSize: humanCount(mi.Parameters), QuantizationLevel: mi.Quantization}
	if mi.Architecture != "" {
		d.Families = []string{mi.Architecture}
	}
	return d
}

// humanCount writes a parameter count the way Ollama shows it: "8.0B",
// "494M", "260K".
func humanCount(n int64) string {
	switch {
	case n <= 0:
		return ""
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// ollamaDigest is a digest as Ollama lists it: bare hex.
func ollamaDigest(d string) string { return strings.TrimPrefix(d, "sha256:") }

type ollamaModel struct {
	Name       string        `json:"name"`
	Model      string        `json:"model"`
	ModifiedAt time.Time     `json:"modified_at"`
	Size       int64         `json:"size"`
	Digest     string        `json:"digest"`
	Details    ollamaDetails `json:"details"`
}

type ollamaTags struct {
	Models []ollamaModel `json:"models"`
}

func (s *Server) ollamaTags(w http.ResponseWriter, r *http.Request) error {
	models, err := s.cfg.Backend.Models(r.Context())
	if err != nil {
		return fmt.Errorf("list models: %w", err)
	}
	out := ollamaTags{Models: make([]ollamaModel, 0, len(models))}
	for _, mi := range models {
		out.Models = append(out.Models, ollamaModel{Name: mi.Name, Model: mi.Name, ModifiedAt: mi.ModifiedAt, Size: mi.Size,
			Digest: ollamaDigest(mi.Digest), Details: details(mi)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type ollamaRunning struct {
	Name          string        `json:"name"`
	Model         string        `json:"model"`
	Size          int64         `json:"size"`
	Digest        string        `json:"digest"`
	Details       ollamaDetails `json:"details"`
	ExpiresAt     time.Time     `json:"expires_at"`
	SizeVRAM      int64         `json:"size_vram"` // always 0: Hearth runs on CPUs
	ContextLength int           `json:"context_length"`
}

type ollamaPS struct {
	Models []ollamaRunning `json:"models"`
}

func (s *Server) ollamaPS(w http.ResponseWriter, r *http.Request) error {
	models, err := s.cfg.Backend.Models(r.Context())
	if err != nil {
		return fmt.Errorf("list models: %w", err)
	}
	out := ollamaPS{Models: []ollamaRunning{}}
	for _, mi := range models {
		if !mi.Loaded {
			continue
		}
		out.Models = append(out.Models, ollamaRunning{Name: mi.Name, Model: mi.Name, Size: mi.Size, Digest: ollamaDigest(mi.Digest),
			Details: details(mi), ExpiresAt: mi.ExpiresAt, ContextLength: mi.ContextLength})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type ollamaShowRequest struct {
	Model string `json:"model"`
	Name  string `json:"name"` // the older spelling
}

type ollamaShowResponse struct {
	License      string         `json:"license"`
	Modelfile    string         `json:"modelfile"`
	Parameters   string         `json:"parameters"`
	Template     string         `json:"template"`
	Details      ollamaDetails  `json:"details"`
	ModelInfo    map[string]any `json:"model_info"`
	Capabilities []string       `json:"capabilities"`
	ModifiedAt   time.Time      `json:"modified_at"`
}

func (s *Server) ollamaShow(w http.ResponseWriter, r *http.Request) error {
	var req ollamaShowRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	name := req.Model
	if name == "" {
		name = req.Name
	}
	if name == "" {
		return badRequest("model", "'model' is required")
	}
	mi, err := s.findModel(r.Context(), name)
	if err != nil {
		return err
	}
	params := fmt.Sprintf("num_ctx                        %d", mi.ContextLength)
	// No TEMPLATE line: Ollama's are Go templates, Hearth's are Jinja (or
	// a built-in's name); the template field carries it as it is.
	modelfile := fmt.Sprintf("# Modelfile generated by Hearth\nFROM %s\nPARAMETER num_ctx %d\n", mi.Path, mi.ContextLength)
	info := map[string]any{"general.architecture": mi.Architecture, "general.parameter_count": mi.Parameters}
	if mi.Architecture != "" {
		info[mi.Architecture+".context_length"] = mi.ContextLength
		if mi.Vocab > 0 {
			info[mi.Architecture+".vocab_size"] = mi.Vocab
		}
	}
	writeJSON(w, http.StatusOK, ollamaShowResponse{
		Modelfile: modelfile, Parameters: params, Template: mi.ChatTemplate, Details: details(mi),
		ModelInfo: info, Capabilities: []string{"completion"}, ModifiedAt: mi.ModifiedAt,
	})
	return nil
}

func (s *Server) ollamaVersion(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"version": s.cfg.Version})
	return nil
}

// ollamaRoot answers GET and HEAD / exactly as Ollama does, because Open
// WebUI and other Ollama clients check for this text to see that the
// server is up.
func ollamaRoot(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		fmt.Fprint(w, "Ollama is running")
	}
	return nil
}
