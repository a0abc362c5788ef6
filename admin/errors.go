package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/tenant"
)

// apiError is an error as the client sees it: api.WriteError sends it in
// the admin API's shape, {"error": {"message", "type", "code"}}.
type apiError = api.Error

// auditError is a change refused because its audit record could not be
// written: nothing was changed (see Config.OnAction).
type auditError struct {
	action string
	err    error
}

func (e *auditError) Error() string {
	return fmt.Sprintf("%s refused, nothing was changed: its audit record could not be written: %v", e.action, e.err)
}

func (e *auditError) Unwrap() error { return e.err }

// Error types, as OpenAI names them.
const (
	typeInvalidRequest = api.TypeInvalidRequest
	typeNotFound       = api.TypeNotFound
	typeServer         = api.TypeServer
)

// The refusals of a caller without the admin scope. The access gate in
// front refuses a missing or bad key through the same writer, so the
// admin API's 401 and 403 read the same ("unauthenticated",
// "insufficient_scope") whichever of them refused.
var (
	errUnauthenticated = api.Refusal(api.ErrUnauthorized, "the admin API needs an API key with the admin scope (Authorization: Bearer hk_...)")
	errForbidden       = api.Refusal(api.ErrForbidden, "this API key lacks the admin scope")
)

// badRequest is a 400 about the request itself.
func badRequest(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "invalid_request", Message: fmt.Sprintf(format, args...)}
}

// classify maps the tenant store's errors to responses; any other error
// is api.WriteError's to classify (a refusal, or a 500).
func classify(err error) error {
	var mbe *http.MaxBytesError
	var aue *auditError
	switch {
	case errors.As(err, new(*apiError)):
		return err
	case errors.As(err, &aue):
		return &apiError{Status: http.StatusServiceUnavailable, Type: typeServer, Code: "audit_unavailable", Message: aue.Error(), RetryAfter: auditRetry}
	case errors.As(err, &mbe):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Type: typeInvalidRequest, Code: "request_too_large",
			Message: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
	case errors.Is(err, tenant.ErrInvalid):
		return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "invalid_value", Message: err.Error()}
	case errors.Is(err, tenant.ErrNotFound):
		return &apiError{Status: http.StatusNotFound, Type: typeNotFound, Code: "not_found", Message: err.Error()}
	case errors.Is(err, tenant.ErrExists):
		return &apiError{Status: http.StatusConflict, Type: typeInvalidRequest, Code: "already_exists", Message: err.Error()}
	}
	if ae := classifyRollout(err); ae != nil {
		return ae
	}
	return err
}

// auditRetry is the Retry-After of a change refused for its audit record:
// about one probe of the audit log's health.
const auditRetry = 5 * time.Second

// fail sends err as the whole response.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	ae := api.WriteError(w, r, classify(err))
	level := h.log.Info
	if ae.Status >= 500 {
		level = h.log.Error
	}
	level("admin request failed", "method", r.Method, "path", r.URL.Path, "status", ae.Status, "error", ae.Message)
}

// writeJSON sends v as the whole response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"error":{"message":"internal error: encoding the response failed","type":"server_error","code":"internal_error"}}`)
	}
	data = append(data, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	w.Write(data)
}

// decode reads a JSON body into v, refusing unknown fields (a misspelt
// field would otherwise be silently ignored) and trailing data.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("invalid JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("invalid JSON body: data after the object")
	}
	return nil
}
