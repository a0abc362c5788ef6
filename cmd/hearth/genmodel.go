package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/engine/synth"
)

func newGenModelCmd(g *globals) *cobra.Command {
	var (
		shape, typ string
		seed       uint64
	)
	names := synth.ShapeNames()
	cmd := &cobra.Command{
		Use:   "gen-model --shape NAME --type TYPE OUT.gguf",
		Short: "Write a random-weight model of a benchmark shape (for bench and comparisons)",
		Long: `Write a llama-architecture GGUF model with seeded random weights (normal, std
0.02) in one of the benchmark shapes (` + strings.Join(names, ", ") + `) and
a weight type (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, ... or Q4_K_M, which
mixes Q4_K and Q6_K as llama.cpp does). The same seed gives the same file,
so anyone can reproduce the performance tables. Random weights make
gibberish text but exactly the work of a trained model.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := synth.ShapeNamed(shape)
			if err != nil {
				return fmt.Errorf("gen-model: %w", err)
			}
			spec, err := s.Spec(typ, seed)
			if err != nil {
				return fmt.Errorf("gen-model: %w", err)
			}
			if err := synth.Write(args[0], spec); err != nil {
				return fmt.Errorf("gen-model: %w", err)
			}
			fmt.Fprintf(g.stdout, "%s: %s shape, %s weights\n", args[0], shape, strings.ToUpper(typ))
			return nil
		},
	}
	cmd.Flags().StringVar(&shape, "shape", "200m", "model shape: "+strings.Join(names, ", "))
	cmd.Flags().StringVar(&typ, "type", "Q8_0", "weight type")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed")
	return cmd
}
