package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/hearth-ai/hearth/tenant"
)

// apiError is an error as the client sees it: a status and OpenAI's error
// object.
type apiError struct {
	Status  int    `json:"-"`
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code"`
	// RetryAfter, when positive, is sent as Retry-After (seconds).
	RetryAfter int `json:"-"`
}

func (e *apiError) Error() string { return e.Message }

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
	typeInvalidRequest = "invalid_request_error"
	typeAuthentication = "authentication_error"
	typePermission     = "permission_error"
	typeNotFound       = "not_found_error"
	typeServer         = "server_error"
)

var (
	errUnauthenticated = &apiError{Status: http.StatusUnauthorized, Type: typeAuthentication, Code: "unauthenticated",
		Message: "the admin API needs an API key with the admin scope (Authorization: Bearer hk_...)"}
	errForbidden = &apiError{Status: http.StatusForbidden, Type: typePermission, Code: "insufficient_scope",
		Message: "this API key lacks the admin scope"}
)

// badRequest is a 400 about the request itself.
func badRequest(format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "invalid_request", Message: fmt.Sprintf(format, args...)}
}

// classify maps the tenant store's errors to responses.
func classify(err error) *apiError {
	var ae *apiError
	var mbe *http.MaxBytesError
	var aue *auditError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &aue):
		return &apiError{Status: http.StatusServiceUnavailable, Type: typeServer, Code: "audit_unavailable", Message: aue.Error(), RetryAfter: 5}
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
	return &apiError{Status: http.StatusInternalServerError, Type: typeServer, Code: "internal_error", Message: err.Error()}
}

// fail sends err as the whole response.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	ae := classify(err)
	level := h.log.Info
	if ae.Status >= 500 {
		level = h.log.Error
	}
	level("admin request failed", "method", r.Method, "path", r.URL.Path, "status", ae.Status, "error", ae.Message)
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	writeJSON(w, ae.Status, struct {
		Error *apiError `json:"error"`
	}{ae})
}

// writeJSON sends v as the whole response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"error":{"message":"internal error: encoding the response failed","type":"server_error","code":"internal_error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
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
