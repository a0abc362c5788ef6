package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/engine"
)

// This file is the one place that decides how an error looks on the wire:
// its HTTP status and its body in OpenAI's, Ollama's or the admin API's
// shape. Handlers return errors; they never pick status codes themselves.
// The gateway, the access gate and the admin API answer through
// WriteError too, so every Hearth endpoint speaks one error vocabulary.

// Error is a client-visible error with everything the wire shapes need.
// Handlers build them for bad requests; WriteError builds them for the
// sentinel errors (ErrOverloaded, ErrUnauthorized, ...) and passes an
// *Error anywhere in an error's chain through as it is.
type Error struct {
	Status  int
	Type    string // OpenAI error.type: TypeServer, TypeAuth, ...
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

func (e *Error) Error() string { return e.Message }

// OpenAI's error types, which the admin API uses too.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeServer         = "server_error"
	TypeNotFound       = "not_found_error"
	TypeAuth           = "authentication_error"
	TypePermission     = "permission_error"
	TypeRateLimit      = "rate_limit_error"
)

// badRequest is a 400 about one request field.
func badRequest(param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "invalid_value", Param: param, Message: fmt.Sprintf(format, args...)}
}

// unsupported is a 400 for a feature Hearth does not implement (yet).
func unsupported(param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "unsupported_parameter", Param: param, Message: fmt.Sprintf(format, args...)}
}

// modelNotFound names the model the way each API does.
func modelNotFound(name string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: "model_not_found", Param: "model",
		Message:       fmt.Sprintf("The model `%s` does not exist.", clientText(name)),
		OllamaMessage: fmt.Sprintf("model '%s' not found", clientText(name))}
}

// statusClientClosed is nginx's code for a client that went away before
// the response; it only ever appears in logs and metrics.
const statusClientClosed = 499

// classify turns any error into an *Error. param names the request
// field that a context-length error is about ("messages" or "prompt").
func classify(err error, param string) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &Error{Status: http.StatusRequestEntityTooLarge, Type: TypeInvalidRequest, Code: "request_too_large",
			Message: fmt.Sprintf("request body exceeds the limit of %d bytes", mbe.Limit)}
	case errors.Is(err, ErrModelNotFound):
		return &Error{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: "model_not_found", Param: "model", Message: err.Error()}
	case errors.Is(err, ErrInvalidModel):
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "invalid_model", Param: "model", Message: err.Error()}
	case errors.Is(err, engine.ErrPromptTooLong):
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "context_length_exceeded", Param: param,
			Message: "the prompt is longer than the model's context: " + err.Error()}
	case errors.Is(err, ErrOverloaded):
		// 503 rather than 429: the node as a whole is full, not this
		// client over a quota. Both OpenAI's SDKs and Ollama's clients
		// retry on it, honouring Retry-After.
		return &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "server_overloaded",
			Message: "the server is overloaded; retry later", RetryAfter: RetryAfter(err)}
	case errors.Is(err, ErrUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "service_unavailable",
			Message: err.Error(), RetryAfter: 5 * time.Second}
	case errors.Is(err, ErrUnauthorized):
		// The caller of a refused key may be anyone holding it: the wire
		// gets the error's public message where it has one, the log the
		// rest.
		return &Error{Status: http.StatusUnauthorized, Type: TypeAuth, Code: "invalid_api_key", Message: publicMessage(err), Detail: err.Error()}
	case errors.Is(err, ErrForbidden):
		return &Error{Status: http.StatusForbidden, Type: TypePermission, Code: "permission_denied", Message: publicMessage(err), Detail: err.Error()}
	case errors.Is(err, ErrQuotaExceeded):
		// OpenAI's code for a spent quota; clients do not retry it blindly.
		return &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: "insufficient_quota", Message: err.Error(), RetryAfter: RetryAfter(err)}
	case errors.Is(err, ErrRateLimited):
		return &Error{Status: http.StatusTooManyRequests, Type: TypeRateLimit, Code: "rate_limit_exceeded", Message: err.Error(), RetryAfter: RetryAfter(err)}
	case errors.Is(err, errClientGone):
		return &Error{Status: statusClientClosed, Type: TypeServer, Code: "client_gone", Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return &Error{Status: statusClientClosed, Type: TypeServer, Code: "request_cancelled", Message: "request cancelled"}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Type: TypeServer, Code: "timeout", Message: "request timed out"}
	}
	return &Error{Status: http.StatusInternalServerError, Type: TypeServer, Code: "internal_error", Message: err.Error()}
}

// publicMessager is an error that says what of it a client may see (the
// tenant store's refused keys, Refusal).
type publicMessager interface{ PublicMessage() string }

// publicMessage is what of err a client may see: its public message where
// it has one, else all of it.
func publicMessage(err error) string {
	var pm publicMessager
	if errors.As(err, &pm) {
		return pm.PublicMessage()
	}
	return err.Error()
}

// Refusal returns an error that is kind (ErrUnauthorized or ErrForbidden)
// and whose client-visible message is msg as it is, without the
// sentinel's prefix: a refusal whose wording is part of its endpoint's
// answer.
func Refusal(kind error, msg string) error { return &refusal{kind: kind, msg: msg} }

type refusal struct {
	kind error
	msg  string
}

func (e *refusal) Error() string         { return e.kind.Error() + ": " + e.msg }
func (e *refusal) Unwrap() error         { return e.kind }
func (e *refusal) PublicMessage() string { return e.msg }

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

// ollamaErrorBody is Ollama's error shape.
type ollamaErrorBody struct {
	Error string `json:"error"`
}

// adminErrorBody is the admin API's: OpenAI's error object without param.
type adminErrorBody struct {
	Error adminError `json:"error"`
}

type adminError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code"`
}

// family is which API a route belongs to, and so which error shape it
// answers with.
type family int

const (
	familyPlain family = iota
	familyOpenAI
	familyOllama
	familyAdmin
)

// familyOf is the shape a path answers in outside the route table:
// Ollama's under /api/, the admin API's under /admin/, OpenAI's
// elsewhere.
func familyOf(path string) family {
	switch {
	case strings.HasPrefix(path, "/api/"):
		return familyOllama
	case strings.HasPrefix(path, "/admin/"):
		return familyAdmin
	}
	return familyOpenAI
}

// body is e in fam's shape.
func (e *Error) body(fam family) any {
	switch fam {
	case familyOllama:
		if e.OllamaMessage != "" {
			return ollamaErrorBody{Error: e.OllamaMessage}
		}
		return ollamaErrorBody{Error: e.Message}
	case familyAdmin:
		return adminErrorBody{Error: adminError{Message: e.Message, Type: e.Type, Code: e.Code}}
	}
	return openAIErrorBody{Error: openAIError{Message: e.Message, Type: e.Type, Param: nullable(e.Param), Code: nullable(e.Code)}}
}

// WriteError sends err as a complete response (Content-Length set) in
// the shape of the API r's path belongs to: Ollama's under /api/, the
// admin API's under /admin/, OpenAI's elsewhere. err is classified as the
// API's own handlers' errors are: an *Error in its chain is sent as it
// is; ErrUnauthorized, ErrOverloaded and the other sentinels get their
// status, type and code. It must be called before anything else was
// written, and returns what it sent, for the caller's log line. A client
// that went away (context.Canceled) gets nothing.
func WriteError(w http.ResponseWriter, r *http.Request, err error) *Error {
	return writeError(w, r, familyOf(r.URL.Path), err, "")
}

// writeError sends err as a complete response in fam's shape. It must be
// called before anything else was written.
func writeError(w http.ResponseWriter, r *http.Request, fam family, err error, param string) *Error {
	ae := classify(err, param)
	if fam == familyAdmin {
		ae = ae.inAdminTerms()
	}
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		info.err = ae
		if ae.Status == statusClientClosed {
			// Nobody is listening; record the status for logs and metrics only.
			info.status = statusClientClosed
		}
	}
	if ae.Status == statusClientClosed {
		return ae
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(ae.RetryAfter))
	}
	if fam == familyPlain {
		msg := ae.Message + "\n"
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
		w.WriteHeader(ae.Status)
		io.WriteString(w, msg)
		return ae
	}
	writeJSON(w, ae.Status, ae.body(fam))
	return ae
}

// inAdminTerms names the authentication refusals as the admin API
// always has: there a refused key is "unauthenticated", and one without
// the admin scope has "insufficient_scope". The access gate in front of
// the admin API and the admin API itself both refuse through WriteError,
// so its 401 and 403 read the same whichever of them refused.
func (e *Error) inAdminTerms() *Error {
	c := *e
	switch e.Code {
	case "invalid_api_key":
		c.Code = "unauthenticated"
	case "permission_denied":
		c.Code = "insufficient_scope"
	default:
		return e
	}
	return &c
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
