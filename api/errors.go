package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/hearth-ai/hearth/engine"
)

// This file is the one place that decides how an error looks on the wire:
// its HTTP status and its body in OpenAI's or Ollama's shape. Handlers
// return errors; they never pick status codes themselves.

// apiError is a client-visible error with everything both wire shapes
// need. Handlers build them for bad requests; classify builds them for the
// backend's sentinel errors.
type apiError struct {
	Status  int
	Type    string // OpenAI error.type
	Code    string // OpenAI error.code; empty becomes null
	Param   string // OpenAI error.param: the request field at fault; empty becomes null
	Message string
	// OllamaMessage, when set, replaces Message in Ollama's shape, for
	// the errors whose wording Ollama clients recognise.
	OllamaMessage string
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
	// Detail, when set, is what the node's log line says besides Message,
	// which the client sees: facts the client must not learn (which key
	// was refused, when it was revoked, whose it is).
	Detail string
}

func (e *apiError) Error() string { return e.Message }

// OpenAI's error types.
const (
	typeInvalidRequest = "invalid_request_error"
	typeServer         = "server_error"
	typeNotFound       = "not_found_error"
	typeAuth           = "authentication_error"
	typePermission     = "permission_error"
	typeRateLimit      = "rate_limit_error"
)

// badRequest is a 400 about one request field.
func badRequest(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "invalid_value", Param: param, Message: fmt.Sprintf(format, args...)}
}

// unsupported is a 400 for a feature Hearth does not implement (yet).
func unsupported(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "unsupported_parameter", Param: param, Message: fmt.Sprintf(format, args...)}
}

// modelNotFound names the model the way each API does.
func modelNotFound(name string) *apiError {
	return &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "model_not_found", Param: "model",
		Message:       fmt.Sprintf("The model `%s` does not exist.", clientText(name)),
		OllamaMessage: fmt.Sprintf("model '%s' not found", clientText(name))}
}

// statusClientClosed is nginx's code for a client that went away before
// the response; it only ever appears in logs and metrics.
const statusClientClosed = 499

// classify turns any error into an apiError. param names the request
// field that a context-length error is about ("messages" or "prompt").
func classify(err error, param string) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Type: typeInvalidRequest, Code: "request_too_large",
			Message: fmt.Sprintf("request body exceeds the limit of %d bytes", mbe.Limit)}
	case errors.Is(err, ErrModelNotFound):
		return &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "model_not_found", Param: "model", Message: err.Error()}
	case errors.Is(err, engine.ErrPromptTooLong):
		return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "context_length_exceeded", Param: param,
			Message: "the prompt is longer than the model's context: " + err.Error()}
	case errors.Is(err, ErrOverloaded):
		// 503 rather than 429: the node as a whole is full, not this
		// client over a quota. Both OpenAI's SDKs and Ollama's clients
		// retry on it, honouring Retry-After.
		return &apiError{Status: http.StatusServiceUnavailable, Type: typeServer, Code: "server_overloaded",
			Message: "the server is overloaded; retry later", RetryAfter: RetryAfter(err)}
	case errors.Is(err, ErrUnavailable):
		return &apiError{Status: http.StatusServiceUnavailable, Type: typeServer, Code: "service_unavailable",
			Message: err.Error(), RetryAfter: 5 * time.Second}
	case errors.Is(err, ErrUnauthorized):
		// The caller of a refused key may be anyone holding it: the wire
		// gets the error's public message where it has one, the log the
		// rest.
		msg := err.Error()
		var pm publicMessager
		if errors.As(err, &pm) {
			msg = pm.PublicMessage()
		}
		return &apiError{Status: http.StatusUnauthorized, Type: typeAuth, Code: "invalid_api_key", Message: msg, Detail: err.Error()}
	case errors.Is(err, ErrForbidden):
		return &apiError{Status: http.StatusForbidden, Type: typePermission, Code: "permission_denied", Message: err.Error()}
	case errors.Is(err, ErrQuotaExceeded):
		// OpenAI's code for a spent quota; clients do not retry it blindly.
		return &apiError{Status: http.StatusTooManyRequests, Type: typeRateLimit, Code: "insufficient_quota", Message: err.Error(), RetryAfter: RetryAfter(err)}
	case errors.Is(err, ErrRateLimited):
		return &apiError{Status: http.StatusTooManyRequests, Type: typeRateLimit, Code: "rate_limit_exceeded", Message: err.Error(), RetryAfter: RetryAfter(err)}
	case errors.Is(err, errClientGone):
		return &apiError{Status: statusClientClosed, Type: typeServer, Code: "client_gone", Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return &apiError{Status: statusClientClosed, Type: typeServer, Code: "request_cancelled", Message: "request cancelled"}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{Status: http.StatusGatewayTimeout, Type: typeServer, Code: "timeout", Message: "request timed out"}
	}
	return &apiError{Status: http.StatusInternalServerError, Type: typeServer, Code: "internal_error", Message: err.Error()}
}

// publicMessager is an error that says what of it a client may see (the
// tenant store's refused keys).
type publicMessager interface{ PublicMessage() string }

// retryAfterSeconds rounds a delay up to whole seconds, at least one, as
// the Retry-After header wants.
func retryAfterSeconds(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// openAIErrorBody is OpenAI's error object.
type openAIErrorBody struct {
	Error openAIError `json:"error"`
}

type openAIError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (e *apiError) openAI() openAIErrorBody {
	return openAIErrorBody{Error: openAIError{Message: e.Message, Type: e.Type, Param: nullable(e.Param), Code: nullable(e.Code)}}
}

// ollamaErrorBody is Ollama's error shape.
type ollamaErrorBody struct {
	Error string `json:"error"`
}

func (e *apiError) ollama() ollamaErrorBody {
	if e.OllamaMessage != "" {
		return ollamaErrorBody{Error: e.OllamaMessage}
	}
	return ollamaErrorBody{Error: e.Message}
}

// family is which API a route belongs to, and so which error shape it
// answers with.
type family int

const (
	familyPlain family = iota
	familyOpenAI
	familyOllama
)

// writeError sends err as a complete response in fam's shape. It must be
// called before anything else was written.
func writeError(w http.ResponseWriter, r *http.Request, fam family, err error, param string) {
	ae := classify(err, param)
	info := requestInfoFrom(r.Context())
	info.err = ae
	if ae.Status == statusClientClosed {
		// Nobody is listening; record the status for logs and metrics only.
		info.status = statusClientClosed
		return
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(ae.RetryAfter))
	}
	switch fam {
	case familyOpenAI:
		writeJSON(w, ae.Status, ae.openAI())
	case familyOllama:
		writeJSON(w, ae.Status, ae.ollama())
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(ae.Status)
		fmt.Fprintln(w, ae.Message)
	}
}

// writeJSON sends v as a complete JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		// Only our own response types reach here; failing to encode one
		// is a bug, reported as such rather than as a half-written body.
		status = http.StatusInternalServerError
		data = []byte(`{"error":{"message":"internal error: encoding the response failed","type":"server_error","param":null,"code":null}}`)
	}
	data = append(data, '\n')
	w.Header().Set("Content-Type", "application/json")
	// With its length declared, the client has the whole response as soon
	// as its bytes arrive, without waiting for the bookkeeping (metering,
	// audit, capture) that runs before the handler returns.
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	w.Write(data)
}
