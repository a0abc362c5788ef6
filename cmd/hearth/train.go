package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/flywheel"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/flywheel/finetune"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/store"
)

func newTrainCmd(g *globals) *cobra.Command {
	var (
		baseArg, datasetArg, tenantArg, out, nameArg string
		threads                                      int
	)
	h := finetune.Hyper{}.WithDefaults()
	cmd := &cobra.Command{
		Use:   "train --base MODEL --dataset NAME[@VERSION] --tenant T [hyper-parameters] [--out DIR]",
		Short: "Fine-tune a LoRA adapter on a tenant's dataset, here on this machine",
		Long: `Train a LoRA adapter for a base model on the train split of one of the
tenant's datasets (the latest version unless @VERSION is given), and measure
its loss on the eval split.

--base is a model name in the store or a GGUF file. Each example is rendered
with the base's chat template; the loss is taken on the assistant's turns
only, each ended by an end-of-generation token, and examples are packed into
sequences of at most --seq tokens.

At the end the adapter is evaluated against the base on the eval split
(held-out loss and perplexity, greedy answers) and registered in the
tenant's adapter registry as the next version of --name (default: the
dataset's name), with its lineage, hyper-parameters and metrics; the
command prints its NAME@VERSION (hearth adapters list shows it, generate
and chat take it with --lora NAME@VERSION --tenant T). When the adapter
cannot be registered nothing is, and the same command registers it later.

The run lives in --out (default DATA/finetune/TENANT/NAME-vVERSION): a JSON
line per step in steps.jsonl, a checkpoint every --checkpoint-every steps in
checkpoints/, and at the end adapter.gguf in llama.cpp's LoRA format. Run the
same command again after an interruption (Ctrl-C, a crash, a kill) and it
resumes from the newest checkpoint, ending with the same adapter as a run
that never stopped.`,
		Example: `  hearth train --base stories260k --dataset support --tenant kra
  hearth train --base ./base.gguf --dataset support@2 --tenant kra --rank 8 --targets q,k,v,o,gate,up,down --epochs 2`,
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
			}
			name, version, err := dataset.ParseRef(datasetArg)
			if err != nil {
				return fmt.Errorf("--dataset: %w", err)
			}
			// The adapter's name is checked before, not after, the run.
			if nameArg != "" {
				if _, v, err := registry.ParseRef(nameArg); err != nil || v != 0 {
					return fmt.Errorf("--name %q: want an adapter name without @VERSION (%v)", nameArg, err)
				}
			}
			base, err := resolveModel(g, baseArg)
			if err != nil {
				return fmt.Errorf("--base: %w", err)
			}
			dataDir, err := g.dataDir()
			if err != nil {
				return err
			}
			// The database is closed again before training, which takes long.
			var v *dataset.Version
			var tenantID string
			err = (&datasetEnv{g: g, tenantArg: tenantArg}).with(ctx, false, func(o *flywheelEnv) error {
				tenantID = o.tenant.ID
				v, err = o.fw.Datasets.Get(ctx, o.tenant.ID, name, version)
				return err
			})
			if err != nil {
				return fmt.Errorf("--dataset: %w", err)
			}
			if out == "" {
				out = finetune.RunDir(dataDir, tenantID, v.Name, v.Version)
			}
			if err := explicitZeros(cmd, &h); err != nil {
				return err
			}
			spec := finetune.Spec{
				BasePath: base, Train: v.Train, Eval: v.Eval, Hyper: h, Threads: threads, Dir: out,
				Logger: g.warnLogger(),
			}
			fmt.Fprintf(g.stderr, "training %s on %s v%d (%d train, %d eval examples) in %s\n", baseArg, v.Name, v.Version, len(v.Train), len(v.Eval), out)
			bar := newTrainProgress(g)
			res, err := finetune.Run(ctx, spec, bar.show)
			bar.done()
			if errors.Is(err, context.Canceled) {
				return fmt.Errorf("interrupted at step %d: run the same command again to resume from the last checkpoint in %s", bar.last.Step, out)
			}
			if err != nil {
				return err
			}
			return trained(ctx, g, tenantArg, res, flywheel.Trained{
				Name: cmp.Or(nameArg, v.Name), Adapter: res.Adapter, BasePath: base,
				Base:    registry.Base{Name: baseName(baseArg, base), Digest: res.BaseDigest},
				Dataset: registry.DatasetRef{Name: v.Name, Version: v.Version, Hash: v.ContentHash()},
				Eval:    v.Eval, Hyper: res.Hyper, Threads: threads, Logger: g.warnLogger(),
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&baseArg, "base", "", "base model: a store name or a GGUF file (required)")
	f.StringVar(&datasetArg, "dataset", "", "dataset NAME or NAME@VERSION (required)")
	f.StringVar(&tenantArg, "tenant", "", "tenant name or ID (required)")
	f.StringVar(&nameArg, "name", "", "the adapter's name in the registry (default: the dataset's name)")
	f.StringVar(&out, "out", "", "the run's directory (default DATA/finetune/TENANT/NAME-vVERSION)")
	f.IntVarP(&threads, "threads", "t", 0, "trainer threads (0: one per core)")
	f.IntVar(&h.Rank, "rank", h.Rank, "LoRA rank")
	f.Float64Var(&h.Alpha, "alpha", h.Alpha, "LoRA alpha (updates are scaled by alpha/rank)")
	f.Float64Var(&h.Dropout, "dropout", h.Dropout, "dropout on the LoRA inputs")
	f.StringSliceVar(&h.Targets, "targets", h.Targets, "projections to adapt: some of "+strings.Join(finetune.Kinds, ","))
	f.IntVar(&h.Epochs, "epochs", h.Epochs, "passes over the train split")
	f.Float64Var(&h.LR, "lr", h.LR, "peak learning rate")
	f.IntVar(&h.Batch, "batch", h.Batch, "packed sequences per optimizer step")
	f.IntVar(&h.Seq, "seq", h.Seq, "most tokens per packed sequence (at most the base's context)")
	f.IntVar(&h.Warmup, "warmup", h.Warmup, "steps of linear learning-rate warmup before the cosine decay")
	f.Float64Var(&h.Clip, "clip", h.Clip, "global gradient-norm clip (negative: none)")
	f.Float64Var(&h.WeightDecay, "weight-decay", h.WeightDecay, "AdamW weight decay")
	f.Uint64Var(&h.Seed, "seed", h.Seed, "seed of the LoRA initialisation, dropout and data order")
	f.IntVar(&h.CheckpointEvery, "checkpoint-every", h.CheckpointEvery, "steps between checkpoints (negative: only the one always written at the end)")
	return cmd
}

// explicitZeros reads the zeros given on the command line, which Hyper
// would take for "the default": --clip 0 and --checkpoint-every 0 turn
// clipping and the periodic checkpoints off, and a zero rank, alpha,
// epoch count, learning rate, batch or sequence is a mistake.
func explicitZeros(cmd *cobra.Command, h *finetune.Hyper) error {
	fl := cmd.Flags()
	if fl.Changed("clip") && h.Clip == 0 {
		h.Clip = -1
	}
	if fl.Changed("checkpoint-every") && h.CheckpointEvery == 0 {
		h.CheckpointEvery = -1
	}
	for _, z := range []struct {
		flag string
		zero bool
	}{{"rank", h.Rank == 0}, {"alpha", h.Alpha == 0}, {"epochs", h.Epochs == 0}, {"lr", h.LR == 0}, {"batch", h.Batch == 0}, {"seq", h.Seq == 0}} {
		if z.zero {
			return fmt.Errorf("--%s 0 is out of range", z.flag)
		}
	}
	if len(h.Targets) == 0 {
		return errors.New("--targets: name at least one projection")
	}
	return nil
}

// trained reports a finished run, registers its adapter as tr says (see
// flywheel.Stores.RegisterAdapter) and prints its NAME@VERSION.
func trained(ctx context.Context, g *globals, tenantArg string, res *finetune.Result, tr flywheel.Trained) error {
	fmt.Fprintf(g.stderr, "train: %s\n", res.TrainReport)
	if res.EvalReport.Examples > 0 {
		fmt.Fprintf(g.stderr, "eval:  %s\n", res.EvalReport)
	}
	tr.Metrics = flywheel.Metrics{Steps: res.Steps, Tokens: res.Tokens, TrainLoss: res.TrainLoss}
	if res.EvalReport.Targets > 0 {
		tr.Metrics.EvalLoss = res.EvalLoss
	}
	if len(tr.Eval) > 0 {
		fmt.Fprintf(g.stderr, "evaluating the adapter against the base on %d eval examples\n", len(tr.Eval))
	}
	// Registration is audited: the registry commits it only once the
	// audit log (or its spool, while a node runs) holds the record.
	e, err := openFlywheel(ctx, g, tenantArg, true)
	if err != nil {
		return fmt.Errorf("registering the adapter %s: %w", res.Adapter, err)
	}
	defer e.close()
	v, rep, err := e.fw.RegisterAdapter(ctx, e.tenant, tr)
	if err != nil {
		return fmt.Errorf("the adapter %s is not registered (run the same command again to register it): %w", res.Adapter, err)
	}
	if rep != nil {
		printEvalSummary(g.stderr, rep)
	}
	fmt.Fprintf(g.stdout, "trained %d steps on %d tokens: train loss %.4f", res.Steps, res.Tokens, res.TrainLoss)
	if res.EvalReport.Targets > 0 {
		fmt.Fprintf(g.stdout, ", eval loss %.4f (perplexity %.2f)", res.EvalLoss, math.Exp(res.EvalLoss))
	}
	fmt.Fprintf(g.stdout, "\nregistered: %s\nadapter: %s\n", v.Ref(), res.Adapter)
	return nil
}

// baseName is what lineage calls a base given as arg and found at path:
// its store name, or the file's name.
func baseName(arg, path string) string {
	if arg == path {
		return filepath.Base(path)
	}
	return arg
}

// resolveModel finds a model given as a GGUF file or a store name.
func resolveModel(g *globals, arg string) (string, error) {
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		return arg, nil
	}
	dir, err := g.dataDir()
	if err != nil {
		return "", err
	}
	s, err := store.Open(dir)
	if err != nil {
		return "", err
	}
	path, err := s.Path(arg)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("%q is neither a file nor a model in the store (hearth models list)", arg)
	}
	return path, err
}

// warnLogger is the logger of a long command's warnings: shown whatever
// -v says, with its debug lines too under -v.
func (g *globals) warnLogger() *slog.Logger {
	if g.verbose {
		return g.logger()
	}
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// trainProgress shows a run's steps on stderr: a bar that rewrites itself
// on a terminal, otherwise a plain line every twentieth of the run, at
// checkpoints and at the end.
type trainProgress struct {
	g     *globals
	tty   bool
	last  finetune.Progress
	shown bool
}

func newTrainProgress(g *globals) *trainProgress {
	return &trainProgress{g: g, tty: isTerminal(g.stderr)}
}

func (b *trainProgress) show(p finetune.Progress) {
	b.last = p
	status := fmt.Sprintf("%d/%d  epoch %.2f  loss %.4f  lr %.2e  %.0f tok/s  ETA %s",
		p.Step, p.Steps, p.Epoch, p.Loss, p.LR, p.TokensPerSec, p.ETA.Round(time.Second))
	if b.tty {
		const width = 24
		fill := width * p.Step / max(p.Steps, 1)
		fmt.Fprintf(b.g.stderr, "\r[%s%s] %s\x1b[K", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), status)
		b.shown = true
		return
	}
	every := max(p.Steps/20, 1)
	if p.Step%every == 0 || p.Checkpoint || p.Step == p.Steps {
		if p.Checkpoint {
			status += "  (checkpoint)"
		}
		fmt.Fprintf(b.g.stderr, "step %s\n", status)
	}
}

func (b *trainProgress) done() {
	if b.shown {
		fmt.Fprintln(b.g.stderr)
	}
}
