package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// decodeJSON reads r's body, at most MaxBodyBytes of it, into v. Unknown
// fields are ignored, as OpenAI's API ignores them; malformed JSON is a 400
// that says where it went wrong.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("", "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return badRequest("", "the request body is empty; expected a JSON object")
	}
	keepBody(r.Context(), data) // for a consented capture (capture.go)
	if err := json.Unmarshal(data, v); err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return ae // a limit a field's decoder applies (messageList)
		}
		return jsonError(data, err)
	}
	return nil
}

// jsonError describes a decoding failure with its line, column and, for
// a wrong type, the field.
func jsonError(data []byte, err error) *Error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col := position(data, syn.Offset)
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "invalid_json",
			Message: fmt.Sprintf("the request body is not valid JSON: %v (line %d, column %d)", syn, line, col)}
	case errors.As(err, &typ):
		line, col := position(data, typ.Offset)
		// The path names embedded structs by their Go type; drop those.
		field := strings.ReplaceAll(typ.Field, "openAIParams.", "")
		if field == "" {
			return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "invalid_type",
				Message: fmt.Sprintf("the request body must be a JSON object, not %s", typ.Value)}
		}
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "invalid_type", Param: field,
			Message: fmt.Sprintf("invalid type for '%s': expected %s, got %s (line %d, column %d)", field, jsonTypeName(typ.Type.Kind().String()), clientText(typ.Value), line, col)}
	}
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "invalid_json",
		Message: "the request body is not valid JSON: " + err.Error()}
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, max(col, 1)
}

// jsonTypeName names a Go kind the way a JSON user thinks of it.
func jsonTypeName(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"):
		return "an integer"
	case strings.HasPrefix(kind, "float"):
		return "a number"
	case kind == "string":
		return "a string"
	case kind == "bool":
		return "a boolean"
	case kind == "slice", kind == "array":
		return "an array"
	case kind == "struct", kind == "map":
		return "an object"
	}
	return kind
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// stringOrStrings decodes a field that may be a string or an array of
// strings (stop, input, prompt).
func stringOrStrings(raw json.RawMessage, param string) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err == nil {
		return many, nil
	}
	return nil, badRequest(param, "'%s' must be a string or an array of strings", param)
}
