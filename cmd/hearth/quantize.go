package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/engine/quantize"
	"github.com/hearth-ai/hearth/engine/tensor"
)

func newQuantizeCmd(g *globals) *cobra.Command {
	var threads int
	cmd := &cobra.Command{
		Use:   "quantize IN OUT TYPE",
		Short: "Write a copy of a model with its weight matrices in another type (e.g. Q4_K, Q8_0)",
		Long: `Write a copy of a GGUF model with its weight matrices converted to TYPE.
Norm weights and biases stay as they are. Matrices whose rows do not divide
into TYPE's blocks fall back to Q8_0 or F16. Types: ` + fmt.Sprint(quantize.Targets()),
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			typ, err := tensor.ParseDType(args[2])
			if err != nil {
				return fmt.Errorf("quantize: %w (types: %v)", err, quantize.Targets())
			}
			rep, err := quantize.File(args[0], args[1], quantize.Options{
				Type:     typ,
				Threads:  threads,
				Progress: g.progress("quantize"),
			})
			g.progressDone()
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: %d tensors to %s, %d kept, %s -> %s\n", args[1], rep.Converted, typ,
				rep.Kept, humanBytes(rep.InBytes), humanBytes(rep.OutBytes))
			names := make([]string, 0, len(rep.Fallback))
			for n := range rep.Fallback {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(g.stdout, "  %s stored as %s (rows do not divide into %s blocks)\n", n, rep.Fallback[n], typ)
			}
			if rep.Requantized {
				fmt.Fprintln(g.stderr, "hearth: warning: some weights were already quantized; quantizing again loses more precision")
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&threads, "threads", "t", 0, "worker threads (0: one per core)")
	return cmd
}
