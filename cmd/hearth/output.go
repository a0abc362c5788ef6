package main

import (
	"encoding/json"
	"io"
)

// printJSON writes v as the commands' --json output: indented JSON, one
// value, a newline after it.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
