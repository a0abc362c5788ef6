package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/ardanlabs/jinja"
)

// toValue converts a template variable. json.RawMessage is decoded with
// object keys kept in document order, as Python's json.loads keeps them,
// so `tools | tojson` prints what the client sent. Go maps have no order
// and render with sorted keys.
func toValue(v any) (jinja.Value, error) {
	switch x := v.(type) {
	case jinja.Value:
		return x, nil
	case json.RawMessage:
		dec := json.NewDecoder(bytes.NewReader(x))
		dec.UseNumber()
		val, err := decodeJSON(dec)
		if err != nil {
			return jinja.Undefined(), fmt.Errorf("decode JSON: %w", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return jinja.Undefined(), fmt.Errorf("decode JSON: trailing data")
		}
		return val, nil
	}
	return jinja.FromGoValue(v), nil
}

// decodeJSON reads one JSON value from dec's token stream.
func decodeJSON(dec *json.Decoder) (jinja.Value, error) {
	tok, err := dec.Token()
	if err != nil {
		return jinja.Undefined(), err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			var items []jinja.Value
			for dec.More() {
				v, err := decodeJSON(dec)
				if err != nil {
					return jinja.Undefined(), err
				}
				items = append(items, v)
			}
			if _, err := dec.Token(); err != nil { // ]
				return jinja.Undefined(), err
			}
			return jinja.NewList(items), nil
		case '{':
			d := jinja.NewDict()
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return jinja.Undefined(), err
				}
				v, err := decodeJSON(dec)
				if err != nil {
					return jinja.Undefined(), err
				}
				d.AsDict().Set(k.(string), v) // object keys are always strings
			}
			if _, err := dec.Token(); err != nil { // }
				return jinja.Undefined(), err
			}
			return d, nil
		}
		return jinja.Undefined(), fmt.Errorf("unexpected %v", t)
	default:
		return jinja.FromGoValue(t), nil // nil, bool, string, json.Number
	}
}
