package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/engine/gguf"
)

func newInspectCmd(g *globals) *cobra.Command {
	var showTensors, showMeta, asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Describe a GGUF file: architecture, size, types, context, vocabulary, template",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := gguf.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			s := f.Summarize(args[0], gguf.SummaryOptions{Tensors: showTensors, Metadata: showMeta})
			for k, v := range s.Metadata {
				s.Metadata[k] = abbreviate(v)
			}
			if asJSON {
				return printJSON(g.stdout, s)
			}
			printSummary(g, s)
			return nil
		},
	}
	cmd.Flags().BoolVar(&showTensors, "tensors", false, "list every tensor")
	cmd.Flags().BoolVar(&showMeta, "metadata", false, "list every metadata key (long arrays abbreviated)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// abbreviate shortens long arrays (vocabularies) for display.
func abbreviate(v any) any {
	const keep = 8
	switch x := v.(type) {
	case []string:
		if len(x) > keep {
			return fmt.Sprintf("[%s ... (%d strings)]", strings.Join(quoteAll(x[:keep]), " "), len(x))
		}
	case []float32:
		if len(x) > keep {
			return fmt.Sprintf("%v ... (%d floats)", x[:keep], len(x))
		}
	case []int32:
		if len(x) > keep {
			return fmt.Sprintf("%v ... (%d ints)", x[:keep], len(x))
		}
	}
	return v
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

func printSummary(g *globals, s *gguf.Summary) {
	w := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(w, "%s\t%v\n", k, v) }
	row("file", s.File)
	row("format", fmt.Sprintf("GGUF v%d, %s", s.Version, humanBytes(s.SizeBytes)))
	row("architecture", s.Architecture)
	if s.Name != "" {
		row("name", s.Name)
	}
	row("parameters", humanCount(s.Parameters))
	var types []string
	for t, n := range s.Types {
		types = append(types, fmt.Sprintf("%s x%d", t, n))
	}
	sort.Strings(types)
	if len(types) == 0 {
		types = []string{"none (a vocabulary-only file)"}
	}
	row("tensor types", strings.Join(types, ", "))
	if s.Blocks > 0 {
		row("shape", fmt.Sprintf("%d blocks, width %d, %d heads (%d KV)", s.Blocks, s.Embedding, s.Heads, s.KVHeads))
	}
	if s.ContextLength > 0 {
		row("context length", s.ContextLength)
	}
	tk := s.TokenizerType
	if s.PreTokenizer != "" {
		tk += " (pre-tokenizer " + s.PreTokenizer + ")"
	}
	row("vocabulary", fmt.Sprintf("%d tokens, %s", s.VocabSize, tk))
	if s.BOS != nil || s.EOS != nil {
		row("special tokens", fmt.Sprintf("bos %s, eos %s", optInt(s.BOS), optInt(s.EOS)))
	}
	if s.ChatTemplate != "" {
		row("chat template", fmt.Sprintf("%d characters (see --metadata)", len(s.ChatTemplate)))
	} else {
		row("chat template", "none (a built-in one is used)")
	}
	w.Flush()
	if len(s.Metadata) > 0 {
		fmt.Fprintln(g.stdout, "\nmetadata:")
		keys := make([]string, 0, len(s.Metadata))
		for k := range s.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(g.stdout, "  %s = %v\n", k, s.Metadata[k])
		}
	}
	if len(s.Tensors) > 0 {
		fmt.Fprintln(g.stdout, "\ntensors:")
		tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  name\ttype\tshape\tbytes")
		for _, t := range s.Tensors {
			fmt.Fprintf(tw, "  %s\t%s\t%v\t%d\n", t.Name, t.Type, t.Shape, t.Bytes)
		}
		tw.Flush()
	}
}

func optInt(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB (%d)", float64(n)/1e9, n)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM (%d)", float64(n)/1e6, n)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK (%d)", float64(n)/1e3, n)
	}
	return fmt.Sprint(n)
}
