package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// printJSON writes v as the commands' --json output: indented JSON, one
// value, a newline after it.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printList is the output of the list commands: with --json the list as a
// JSON array ([] when empty, never null); otherwise none on stderr when
// the list is empty, or a table of header and one row per item.
func printList[T any](g *globals, asJSON bool, list []T, none, header string, row func(w io.Writer, item T)) error {
	if asJSON {
		if list == nil {
			list = []T{}
		}
		return printJSON(g.stdout, list)
	}
	if len(list) == 0 {
		fmt.Fprintln(g.stderr, none)
		return nil
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, item := range list {
		row(tw, item)
	}
	return tw.Flush()
}
