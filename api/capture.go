package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	// Capture is offered every successful generation of an authenticated
	// caller; it decides by the caller's tenant policy and in.OptIn.
	Capture(ctx context.Context, c Caller, in CaptureInput) error
	// Feedback records feedback from c on one of its tenant's responses.
	// Errors: ErrResponseNotFound (404) when the caller's tenant has no
	// such captured response, ErrInvalidFeedback (400), ErrForbidden (403)
	// when the caller may not give feedback.
	Feedback(ctx context.Context, c Caller, fb FeedbackInput) (id string, err error)
}

// CaptureMessage is one message as the client sent it.
type CaptureMessage struct {
	Role    string
	Content string
}

// CaptureInput is one finished generation.
type CaptureInput struct {
	ResponseID string // the response's id (X-Request-Id)
	Endpoint   string // e.g. "chat_completions", "ollama_generate"
	Model      string
	// Messages are the chat messages as sent, or one user message holding
	// a completion prompt (after a "system" message for Ollama's system).
	Messages []CaptureMessage
	Output   string
	// EndUser is OpenAI's "user" field; Ollama's API has none.
	EndUser string
	// Params are the request's other fields (sampling and limits).
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

// capturedEndpoints are the routes whose requests may be captured.
var capturedEndpoints = map[string]bool{
	"/v1/chat/completions": true, "/v1/completions": true, "/api/chat": true, "/api/generate": true,
}

// captureState holds a generating request's body as read by its handler.
type captureState struct {
	body  bytes.Buffer
	optIn bool
}

type captureKey struct{}

// captureStart arranges for a generating request's body to be kept as its
// handler reads it (the handler's own size limit still applies), when a
// Capturer is configured and a gate has identified the caller.
func (s *Server) captureStart(ctx context.Context, r *http.Request) context.Context {
	if s.cfg.Capture == nil || CallerFrom(ctx) == nil || !capturedEndpoints[r.URL.Path] || r.Body == nil {
		return ctx
	}
	st := &captureState{}
	st.optIn, _ = strconv.ParseBool(strings.TrimSpace(r.Header.Get(CaptureHeader)))
	r.Body = readCloser{io.TeeReader(r.Body, &st.body), r.Body}
	return context.WithValue(ctx, captureKey{}, st)
}

type readCloser struct {
	io.Reader
	io.Closer
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
	if st == nil || c == nil || err != nil || res == nil {
		return
	}
	info := requestInfoFrom(ctx)
	in := CaptureInput{ResponseID: info.id, Endpoint: info.endpoint, Model: m.Info().Name, Output: res.Text, OptIn: st.optIn, Time: s.now()}
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
		if err := parseCaptureBody(st.body.Bytes(), &in); err != nil {
			s.log.Warn("capture: cannot read the request again", "response_id", in.ResponseID, "err", err)
			return
		}
		if err := s.cfg.Capture.Capture(context.WithoutCancel(ctx), c, in); err != nil {
			s.log.Warn("capture failed", "response_id", in.ResponseID, "err", err)
		}
	}
}

// textFields are request fields that hold the conversation, not parameters.
var textFields = map[string]bool{"messages": true, "prompt": true, "system": true, "user": true, "store": true,
	"model": true, "stream": true, "stream_options": true, "metadata": true}

// parseCaptureBody reads the messages, end user, opt-in and parameters
// from a request body its handler has already accepted.
func parseCaptureBody(body []byte, in *CaptureInput) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return err
	}
	var common struct {
		User   string `json:"user"`
		Store  *bool  `json:"store"`
		System string `json:"system"`
	}
	if err := json.Unmarshal(body, &common); err != nil {
		return err
	}
	in.EndUser = common.User
	if common.Store != nil && *common.Store {
		in.OptIn = true
	}
	switch in.Endpoint {
	case "chat_completions":
		var req chatRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return err
		}
		msgs, err := chatMessages(req.Messages)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			in.Messages = append(in.Messages, CaptureMessage{Role: m.Role, Content: m.Content})
		}
	case "ollama_chat":
		var req ollamaChatRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return err
		}
		for _, m := range req.Messages {
			in.Messages = append(in.Messages, CaptureMessage{Role: m.Role, Content: m.Content})
		}
	case "completions", "ollama_generate":
		if common.System != "" {
			in.Messages = append(in.Messages, CaptureMessage{Role: "system", Content: common.System})
		}
		prompt := string(raw["prompt"])
		var one string
		var many []string
		if json.Unmarshal(raw["prompt"], &one) == nil {
			prompt = one
		} else if json.Unmarshal(raw["prompt"], &many) == nil && len(many) == 1 {
			prompt = many[0]
		}
		in.Messages = append(in.Messages, CaptureMessage{Role: "user", Content: prompt})
	default:
		return fmt.Errorf("endpoint %q is not captured", in.Endpoint)
	}
	for k, v := range raw {
		if textFields[k] || isNull(v) {
			continue
		}
		var val any
		if json.Unmarshal(v, &val) == nil {
			if in.Params == nil {
				in.Params = map[string]any{}
			}
			in.Params[k] = val
		}
	}
	return nil
}
