package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/engine"
)

// Consented capture: after a generating request has been answered and
// flushed, the server hands what was asked and answered to Config.Capture,
// which decides under the caller's tenant policy whether to keep it (and
// scrubs, encrypts and stores it; see package capture). The request never
// waits for a decision and never fails because of capture: errors are
// logged.

// Capturer keeps consented interactions and their feedback.
type Capturer interface {
	// Wants says, by the caller's tenant policy alone, whether c's
	// generations may be captured at all. The server asks it before it
	// keeps or reads anything of a request for capture, so it must be
	// cheap: a caller it answers CaptureNever for (a node's own machine
	// with no tenants, a tenant with capture off) costs nothing more than
	// its request's own handling.
	Wants(ctx context.Context, c Caller) CaptureWant
	// Capture is offered every successful generation of a caller that
	// Wants allowed; it decides by the caller's tenant policy and
	// in.OptIn.
	Capture(ctx context.Context, c Caller, in CaptureInput) error
	// Feedback records feedback from c on one of its tenant's responses.
	// Errors: ErrResponseNotFound (404) when the caller's tenant has no
	// such captured response, ErrInvalidFeedback (400), ErrForbidden (403)
	// when the caller may not give feedback.
	Feedback(ctx context.Context, c Caller, fb FeedbackInput) (id string, err error)
}

// CaptureWant is what a Capturer wants of a caller's generations.
type CaptureWant int

const (
	CaptureNever   CaptureWant = iota // nothing is kept
	CaptureIfAsked                    // only requests that opt in (CaptureInput.OptIn)
	CaptureAlways                     // every successful generation
)

// CaptureMessage is one message as the client sent it.
type CaptureMessage struct {
	Role    string
	Content string
}

// CaptureInput is one finished generation.
type CaptureInput struct {
	ResponseID string // the response's id (X-Request-Id)
	Endpoint   string // EndpointChatCompletions, EndpointOllamaGenerate, ...
	Model      string
	// Messages are the chat messages as sent, or one user message holding
	// a completion prompt (after a "system" message for Ollama's system).
	Messages []CaptureMessage
	Output   string
	// EndUser is OpenAI's "user" field; Ollama's API has none.
	EndUser string
	// Params are the request's sampling and length settings (see
	// openAISampled and ollamaSampled), never its other fields.
	Params map[string]any
	// OptIn is set when the request asked to be kept: OpenAI's
	// "store": true or the header X-Hearth-Capture: true.
	OptIn bool
	Time  time.Time
}

// FeedbackInput is the body of POST /v1/feedback.
type FeedbackInput struct {
	ResponseID string
	Rating     int // stars, 1..5; 0: none
	Thumb      int // +1 up, -1 down; 0: none
	Correction string
	Tags       []string
	Comment    string
}

var (
	// ErrResponseNotFound: no captured response of the caller's tenant has
	// this id (404). Another tenant's response is not found either.
	ErrResponseNotFound = errors.New("response not found")
	// ErrInvalidFeedback: the feedback is malformed (400).
	ErrInvalidFeedback = errors.New("invalid feedback")
)

// CaptureHeader is the request header that opts a request in to capture.
const CaptureHeader = "X-Hearth-Capture"

// captureState is what the capture of one generating request needs from
// its start: what the Capturer wants of the caller, the header's opt-in,
// and the body as the handler read it.
type captureState struct {
	want  CaptureWant
	optIn bool
	body  []byte // the handler's own buffer (keepBody), never a copy
}

type captureKey struct{}

// captureStart prepares the capture of a generating request, when a
// Capturer is configured, a gate has identified the caller and the
// Capturer may want its generations; otherwise nothing of the request is
// kept for capture.
func (s *Server) captureStart(ctx context.Context, r *http.Request) context.Context {
	c := CallerFrom(ctx)
	if s.cfg.Capture == nil || c == nil || !generates(r.URL.Path) { // only generations are captured
		return ctx
	}
	want := s.cfg.Capture.Wants(ctx, c)
	if want == CaptureNever {
		return ctx
	}
	st := &captureState{want: want}
	st.optIn, _ = strconv.ParseBool(strings.TrimSpace(r.Header.Get(CaptureHeader)))
	return context.WithValue(ctx, captureKey{}, st)
}

// keepBody hands the body a handler has read (decodeJSON) to the request's
// capture, if it has one. The buffer is shared, not copied: the handler is
// done with it once decoded.
func keepBody(ctx context.Context, body []byte) {
	if st, ok := ctx.Value(captureKey{}).(*captureState); ok {
		st.body = body
	}
}

// Recorder is a Pass that can say, after Done, whether the request's audit
// record was kept (access's passes can). The capture of a request whose
// record failed is not saved: nothing the log does not know of is kept.
type Recorder interface {
	Recorded() error
}

// captureWhenDone runs after finish: for a successful generation it
// extends the request's done callback, which ServeHTTP calls once the
// response has been written and flushed, with the capture, which it saves
// only if the pass's audit record was kept.
func (s *Server) captureWhenDone(ctx context.Context, m Model, p Pass, res *engine.Result, err error) {
	st, _ := ctx.Value(captureKey{}).(*captureState)
	c := CallerFrom(ctx)
	if st == nil || st.body == nil || c == nil || err != nil || res == nil {
		return
	}
	info := requestInfoFrom(ctx)
	in := CaptureInput{ResponseID: info.id, Endpoint: info.endpoint, Model: m.Info().Name, Output: res.Text,
		OptIn: st.optIn || storeAsked(st.body), Time: s.now()}
	if st.want == CaptureIfAsked && !in.OptIn {
		return // the tenant keeps only what a request asks to be kept
	}
	done := info.done
	info.done = func() {
		if done != nil {
			done()
		}
		if rp, ok := p.(Recorder); ok {
			if err := rp.Recorded(); err != nil {
				s.log.Error("capture not saved: the request's audit record failed", "response_id", in.ResponseID, "err", err)
				return
			}
		}
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("capture panicked", "response_id", in.ResponseID, "panic", fmt.Sprint(p))
			}
		}()
		dropped, err := parseCaptureBody(st.body, &in)
		st.body = nil
		if err != nil {
			s.log.Warn("capture: cannot read the request again", "response_id", in.ResponseID, "err", err)
			return
		}
		if dropped > 0 {
			s.log.Info("capture: parameters too long to keep were dropped", "response_id", in.ResponseID, "dropped", dropped)
		}
		if err := s.cfg.Capture.Capture(context.WithoutCancel(ctx), c, in); err != nil {
			s.log.Warn("capture failed", "response_id", in.ResponseID, "err", err)
		}
	}
}

// storeAsked reports whether a body holds OpenAI's "store": true. Every
// other field is skipped by the decoder, not decoded.
func storeAsked(body []byte) bool {
	var v struct {
		Store *bool `json:"store"`
	}
	return json.Unmarshal(body, &v) == nil && v.Store != nil && *v.Store
}

// A capture keeps, besides the conversation, only the fields that say how
// the answer was made: the sampling and length settings below, each at
// most maxParamBytes of JSON. Everything else a client sends, unknown
// fields included, is skipped by the decoder without being decoded, so
// neither the node's memory nor the capture's storage grows with it.
const maxParamBytes = 1024

// openAISampled are the settings kept of chat and text completions.
type openAISampled struct {
	MaxTokens           json.RawMessage `json:"max_tokens"`
	MaxCompletionTokens json.RawMessage `json:"max_completion_tokens"`
	Temperature         json.RawMessage `json:"temperature"`
	TopP                json.RawMessage `json:"top_p"`
	TopK                json.RawMessage `json:"top_k"`
	MinP                json.RawMessage `json:"min_p"`
	Seed                json.RawMessage `json:"seed"`
	PresencePenalty     json.RawMessage `json:"presence_penalty"`
	FrequencyPenalty    json.RawMessage `json:"frequency_penalty"`
	RepeatPenalty       json.RawMessage `json:"repeat_penalty"`
	Stop                json.RawMessage `json:"stop"`
	N                   json.RawMessage `json:"n"`
	Logprobs            json.RawMessage `json:"logprobs"`
	TopLogprobs         json.RawMessage `json:"top_logprobs"`
	Echo                json.RawMessage `json:"echo"`
	BestOf              json.RawMessage `json:"best_of"`
	ResponseFormat      json.RawMessage `json:"response_format"`
}

// ollamaSampled are the settings kept of Ollama's chat and generate: the
// options Hearth honours (ollamaOptions), and raw.
type ollamaSampled struct {
	Options *struct {
		Temperature      json.RawMessage `json:"temperature"`
		TopK             json.RawMessage `json:"top_k"`
		TopP             json.RawMessage `json:"top_p"`
		MinP             json.RawMessage `json:"min_p"`
		Seed             json.RawMessage `json:"seed"`
		NumPredict       json.RawMessage `json:"num_predict"`
		Stop             json.RawMessage `json:"stop"`
		RepeatPenalty    json.RawMessage `json:"repeat_penalty"`
		RepeatLastN      json.RawMessage `json:"repeat_last_n"`
		PresencePenalty  json.RawMessage `json:"presence_penalty"`
		FrequencyPenalty json.RawMessage `json:"frequency_penalty"`
		NumCtx           json.RawMessage `json:"num_ctx"`
	} `json:"options"`
	Raw json.RawMessage `json:"raw"`
}

// keepParams adds the fields set in v (a pointer to openAISampled,
// ollamaSampled or a struct inside them) to params under their JSON names,
// decoded; it returns how many it dropped for being longer than
// maxParamBytes.
func keepParams(v reflect.Value, params map[string]any) (dropped int) {
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		switch f := v.Field(i); f.Kind() {
		case reflect.Pointer:
			if f.IsNil() {
				continue
			}
			sub := map[string]any{}
			dropped += keepParams(f.Elem(), sub)
			if len(sub) > 0 {
				params[name] = sub
			}
		default:
			raw := f.Interface().(json.RawMessage)
			if isNull(raw) {
				continue
			}
			if len(raw) > maxParamBytes {
				dropped++
				continue
			}
			var val any
			if json.Unmarshal(raw, &val) == nil {
				params[name] = val
			}
		}
	}
	return dropped
}

// parseCaptureBody reads the messages, end user and settings from a
// request body its handler has already accepted; it returns how many
// settings it dropped for their size.
func parseCaptureBody(body []byte, in *CaptureInput) (dropped int, err error) {
	params := map[string]any{}
	switch in.Endpoint {
	case EndpointChatCompletions:
		var req struct {
			Messages messageList[chatMessageIn] `json:"messages"`
			User     string                     `json:"user"`
			openAISampled
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, err
		}
		msgs, err := chatMessages(req.Messages)
		if err != nil {
			return 0, err
		}
		for _, m := range msgs {
			in.Messages = append(in.Messages, CaptureMessage{Role: m.Role, Content: m.Content})
		}
		in.EndUser = req.User
		dropped = keepParams(reflect.ValueOf(&req.openAISampled).Elem(), params)
	case EndpointCompletions:
		var req struct {
			Prompt json.RawMessage `json:"prompt"`
			User   string          `json:"user"`
			openAISampled
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, err
		}
		prompt := string(req.Prompt) // token ids stay as the JSON they came in
		var one string
		var many []string
		if json.Unmarshal(req.Prompt, &one) == nil {
			prompt = one
		} else if json.Unmarshal(req.Prompt, &many) == nil && len(many) == 1 {
			prompt = many[0]
		}
		in.Messages = append(in.Messages, CaptureMessage{Role: "user", Content: prompt})
		in.EndUser = req.User
		dropped = keepParams(reflect.ValueOf(&req.openAISampled).Elem(), params)
	case EndpointOllamaChat:
		var req struct {
			Messages messageList[ollamaMessage] `json:"messages"`
			ollamaSampled
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, err
		}
		for _, m := range req.Messages {
			in.Messages = append(in.Messages, CaptureMessage{Role: m.Role, Content: m.Content})
		}
		dropped = keepParams(reflect.ValueOf(&req.ollamaSampled).Elem(), params)
	case EndpointOllamaGenerate:
		var req struct {
			System string `json:"system"`
			Prompt string `json:"prompt"`
			ollamaSampled
		}
		if err := json.Unmarshal(body, &req); err != nil {
			return 0, err
		}
		if req.System != "" {
			in.Messages = append(in.Messages, CaptureMessage{Role: "system", Content: req.System})
		}
		in.Messages = append(in.Messages, CaptureMessage{Role: "user", Content: req.Prompt})
		dropped = keepParams(reflect.ValueOf(&req.ollamaSampled).Elem(), params)
	default:
		return 0, fmt.Errorf("endpoint %q is not captured", in.Endpoint)
	}
	if len(params) > 0 {
		in.Params = params
	}
	return dropped, nil
}
