package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/flywheel/eval"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/internal/atomicfile"
)

func newEvalCmd(g *globals) *cobra.Command {
	var (
		baseArg, adapterArg, datasetArg, tenantArg, split, reportPath, stepsPath string
		asJSON                                                                   bool
		threads, maxTokens                                                       int
	)
	cmd := &cobra.Command{
		Use:   "eval --base MODEL [--adapter NAME[@VERSION]|FILE] --dataset NAME[@VERSION] --tenant T [--split eval]",
		Short: "Evaluate a base model, and an adapter on it, on a dataset's held-out examples",
		Long: `Evaluate a base model on a version of one of the tenant's datasets (its eval
split by default): the held-out loss and perplexity of the reference
answers (the assistant's tokens under the model's chat template), and for
each example the greedy answer, whether it matches the reference exactly,
whether it contains it, and its length.

With --adapter the same base with a LoRA adapter attached is evaluated
beside it, the two side by side: a version of the tenant's registry
(NAME, its latest version, or NAME@VERSION), which must have been trained
on this base file, or a llama.cpp LoRA GGUF file for the base's
architecture.

--base is a model name in the store or a GGUF file. --report writes the
report as an SVG, with the training loss curve when --steps names the run's
steps.jsonl.`,
		Example: `  hearth eval --base stories260k --dataset support --tenant kra
  hearth eval --base stories260k --adapter support@2 --dataset support --tenant kra
  hearth eval --base stories260k --dataset support@3 --tenant kra --report eval.svg --steps run/steps.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			switch {
			case baseArg == "":
				return errors.New("--base is required")
			case datasetArg == "":
				return errors.New("--dataset is required")
			case tenantArg == "":
				return errors.New("--tenant is required")
			case split != dataset.Train && split != dataset.Eval:
				return fmt.Errorf("--split %q: want eval or train", split)
			}
			dsName, dsVersion, err := registry.ParseRef(datasetArg)
			if err != nil {
				return fmt.Errorf("--dataset: %w", err)
			}
			basePath, err := resolveModel(g, baseArg)
			if err != nil {
				return fmt.Errorf("--base: %w", err)
			}
			var curve []eval.Point
			if stepsPath != "" {
				f, err := os.Open(stepsPath)
				if err != nil {
					return fmt.Errorf("--steps: %w", err)
				}
				curve, err = eval.ReadSteps(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("--steps %s: %w", stepsPath, err)
				}
			}
			fw, err := openFlywheel(ctx, g, tenantArg, false)
			if err != nil {
				return err
			}
			defer fw.close()
			dv, err := fw.fw.Datasets.Get(ctx, fw.tenant.ID, dsName, dsVersion)
			if err != nil {
				return fmt.Errorf("--dataset: %w", err)
			}
			examples := dv.Eval
			if split == dataset.Train {
				examples = dv.Train
			}
			if len(examples) == 0 {
				return fmt.Errorf("dataset %s v%d has no %s examples: %w", dv.Name, dv.Version, split, eval.ErrNoExamples)
			}
			base, err := engine.Load(basePath, engine.Options{Threads: threads, Logger: g.logger()})
			if err != nil {
				return err
			}
			defer base.Close()
			var adapted *engine.Model
			subject := baseArg
			if adapterArg != "" {
				a, name, err := evalAdapter(ctx, fw, adapterArg, baseArg, basePath)
				if err != nil {
					return fmt.Errorf("--adapter: %w", err)
				}
				if a.Arch != base.Net.Arch {
					return fmt.Errorf("--adapter %s: %w: the adapter is for a %s model, %s is %s", adapterArg, adapter.ErrMismatch, a.Arch, baseArg, base.Net.Arch)
				}
				if adapted, err = eval.WithLoRA(base, a.LoRA); err != nil {
					return fmt.Errorf("--adapter %s: %w", adapterArg, err)
				}
				subject += ", alone and with " + name + ","
			}
			fmt.Fprintf(g.stderr, "evaluating %s on %d %s examples of %s v%d\n", subject, len(examples), split, dv.Name, dv.Version)
			rep, err := eval.Run(ctx, base, adapted, examples, eval.Options{MaxTokens: maxTokens})
			if err != nil {
				return err
			}
			rep.LossCurve = curve
			if reportPath != "" {
				if err := atomicfile.WriteFunc(reportPath, 0o600, func(w io.Writer) error { return eval.WriteSVG(w, rep) }); err != nil {
					return fmt.Errorf("--report: %w", err)
				}
				fmt.Fprintf(g.stderr, "wrote %s\n", reportPath)
			}
			if asJSON {
				return printJSON(g.stdout, rep)
			}
			printEval(g.stdout, rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&baseArg, "base", "", "base model: a store name or a GGUF file (required)")
	f.StringVar(&adapterArg, "adapter", "", "also evaluate the base with this LoRA adapter: a registry NAME[@VERSION] or a GGUF file")
	f.StringVar(&datasetArg, "dataset", "", "dataset NAME[@VERSION] (required)")
	f.StringVar(&tenantArg, "tenant", "", "tenant name or ID (required)")
	f.StringVar(&split, "split", dataset.Eval, "the split to evaluate on: eval or train")
	f.StringVar(&reportPath, "report", "", "write the report as an SVG to this file")
	f.StringVar(&stepsPath, "steps", "", "a training run's steps.jsonl, for the loss curve in the SVG")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.IntVarP(&threads, "threads", "t", 0, "worker threads (0: one per core)")
	f.IntVar(&maxTokens, "max-tokens", 0, "tokens of each greedy answer at most (0: twice the reference's, plus 8)")
	return cmd
}

// evalAdapter reads --adapter: a file is read as a llama.cpp LoRA GGUF,
// any other name is a version in the tenant's registry, which must have
// been trained on the base in basePath. It returns the adapter and what
// to call it.
func evalAdapter(ctx context.Context, e *flywheelEnv, arg, baseName, basePath string) (*adapter.Adapter, string, error) {
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		a, err := adapter.Read(arg)
		return a, arg, err
	}
	b, err := registry.BaseOf(baseName, basePath)
	if err != nil {
		return nil, "", err
	}
	a, v, err := e.fw.Adapters.Adapter(ctx, e.tenant.ID, arg, b)
	if err != nil {
		return nil, "", fmt.Errorf("%q is not a file, and %w", arg, err)
	}
	return a, v.Ref(), nil
}

// printEval prints the summary side by side, then each example's answers.
func printEval(w io.Writer, r *eval.Report) {
	printEvalSummary(w, r)
	for i, row := range r.Rows {
		fmt.Fprintf(w, "\n#%d %q\n  reference: %q\n  base:      %q%s\n", i+1, row.Prompt, row.Reference, row.Base.Text, matchMark(row.Base))
		if row.Adapter != nil {
			fmt.Fprintf(w, "  adapter:   %q%s\n", row.Adapter.Text, matchMark(*row.Adapter))
		}
	}
}

// printEvalSummary prints the metrics of base and adapter side by side.
func printEvalSummary(w io.Writer, r *eval.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	sums := []*eval.Summary{&r.Base}
	if r.Adapter != nil {
		sums = append(sums, r.Adapter)
	}
	fmt.Fprint(tw, "METRIC")
	for _, s := range sums {
		fmt.Fprintf(tw, "\t%s", s.Label)
	}
	fmt.Fprintln(tw)
	for _, m := range []struct {
		name, format string
		v            func(*eval.Summary) float64
	}{
		{"loss", "%.4f", func(s *eval.Summary) float64 { return s.Loss }},
		{"perplexity", "%.3f", func(s *eval.Summary) float64 { return s.Perplexity }},
		{"exact match", "%.1f%%", func(s *eval.Summary) float64 { return 100 * s.ExactMatch }},
		{"contains", "%.1f%%", func(s *eval.Summary) float64 { return 100 * s.Contains }},
		{"mean length", "%.1f", func(s *eval.Summary) float64 { return s.MeanLength }},
	} {
		fmt.Fprint(tw, m.name)
		for _, s := range sums {
			fmt.Fprintf(tw, "\t"+m.format, m.v(s))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func matchMark(o eval.Output) string {
	switch {
	case o.ExactMatch:
		return " (exact)"
	case o.Contains:
		return " (contains)"
	}
	return ""
}
