package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/synth"
)

func newGenAdapterCmd(g *globals) *cobra.Command {
	var (
		base, targets string
		rank          int
		seed          uint64
	)
	cmd := &cobra.Command{
		Use:   "gen-adapter --base MODEL.gguf [--rank 16] [--targets q,k,v,o] OUT.gguf",
		Short: "Write a random-weight LoRA adapter for a model (for multi-adapter benchmarks)",
		Long: `Write a LoRA adapter in llama.cpp's format with seeded random weights for the
base model file: the given rank on the projections named by --targets (q, k,
v, o, gate, up, down). It does the work of a trained adapter of that rank,
so benchmarks of many adapters at once (hearth loadgen --lora, llama-server
--lora) can be reproduced without training; different seeds give different
adapters.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if base == "" {
				return fmt.Errorf("gen-adapter: --base is required")
			}
			m, err := engine.Load(base, engine.Options{Threads: 1, Context: 16})
			if err != nil {
				return fmt.Errorf("gen-adapter: %w", err)
			}
			defer m.Close()
			a, err := synth.Adapter(m.Net, rank, strings.Split(targets, ","), seed)
			if err != nil {
				return fmt.Errorf("gen-adapter: %w", err)
			}
			if err := a.WriteFile(args[0]); err != nil {
				return fmt.Errorf("gen-adapter: %w", err)
			}
			fmt.Fprintf(g.stdout, "%s: rank %d on %s of %s (%d tensors)\n", args[0], rank, targets, base, 2*len(a.LoRA))
			return nil
		},
	}
	cmd.Flags().StringVar(&base, "base", "", "the base model file")
	cmd.Flags().IntVar(&rank, "rank", 16, "LoRA rank")
	cmd.Flags().StringVar(&targets, "targets", "q,k,v,o", "projections to adapt")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed")
	return cmd
}
