package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/flywheel"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/internal/atomicfile"
)

// datasetEnv opens what every dataset subcommand works on (a
// flywheelEnv) for the tenant the --tenant flag names.
type datasetEnv struct {
	g         *globals
	tenantArg string
}

func (e *datasetEnv) open(ctx context.Context) (*flywheelEnv, error) {
	if e.tenantArg == "" {
		return nil, errors.New("--tenant is required")
	}
	return openFlywheel(ctx, e.g, e.tenantArg, false)
}

// openWrite is open for the commands that write examples (build, import):
// the tenant's data key must exist before the dataset's write transaction
// seals them, so it is created here if the tenant has none yet (or its
// last was shredded).
func (e *datasetEnv) openWrite(ctx context.Context) (*flywheelEnv, error) {
	o, err := e.open(ctx)
	if err != nil {
		return nil, err
	}
	if err := o.fw.Capture.EnsureKey(ctx, o.tenant.ID); err != nil {
		o.close()
		return nil, err
	}
	return o, nil
}

// with opens the tenant's flywheel (with openWrite if write), runs fn on it
// and closes it again.
func (e *datasetEnv) with(ctx context.Context, write bool, fn func(*flywheelEnv) error) error {
	open := e.open
	if write {
		open = e.openWrite
	}
	o, err := open(ctx)
	if err != nil {
		return err
	}
	defer o.close()
	return fn(o)
}

func newDatasetCmd(g *globals) *cobra.Command {
	env := &datasetEnv{g: g}
	cmd := &cobra.Command{
		Use:   "dataset",
		Short: "Build, inspect, export and import a tenant's fine-tuning datasets",
		Long: `Manage the fine-tuning datasets kept in the data directory's database
(DIR/hearth.db), per tenant: one tenant never sees another's datasets.

A build keeps well-rated or corrected interactions (a correction replaces the
model's answer), drops malformed ones, exact and near duplicates, filters by
length and language, and splits train/eval by a hash of the response id. Every
build or import of a name makes a new version, which remembers the response
ids its examples came from, so erasing a response or a user removes what was
derived from them.

Ratings compare on a 1..5 scale: stars as given, a thumbs-up counts as 5 and a
thumbs-down as 1. --tenant takes a tenant's name or ID.`,
	}
	cmd.PersistentFlags().StringVar(&env.tenantArg, "tenant", "", "tenant name or ID (required)")
	cmd.AddCommand(
		newDatasetBuildCmd(g, env),
		newDatasetListCmd(g, env),
		newDatasetExportCmd(g, env),
		newDatasetImportCmd(g, env),
		newDatasetStatsCmd(g, env),
	)
	return cmd
}

func newDatasetBuildCmd(g *globals, env *datasetEnv) *cobra.Command {
	var (
		name, from string
		opts       dataset.Options
	)
	cmd := &cobra.Command{
		Use:   "build --tenant T --name N [--from FILE.jsonl] [filters]",
		Short: "Build the next version of a dataset from rated interactions",
		Long: `Build the next version of a dataset from the tenant's rated interactions.

--from reads interactions from a JSONL file, one object per line:
  {"response_id":"resp_1","messages":[{"role":"user","content":"..."}],
   "output":"...","rating":5,"thumb":1,"correction":"...","tags":["..."],
   "time":"2026-11-28T12:00:00Z","end_user":"...","model":"..."}
(rating: 1..5 stars; thumb: +1 or -1; correction replaces output.) A
"feedback" array of {"rating","thumb","correction","tags","time"} objects
is folded in, the latest of each winning, so the capture store's JSONL
export can be given as it is.
Languages --lang understands: ` + strings.Join(dataset.Languages(), ", ") + `, and ` + dataset.Undetermined + ` (undetermined).`,
		Example: `  hearth dataset build --tenant kra --name support --from interactions.jsonl
  hearth dataset build --tenant kra --name support-sw --from interactions.jsonl --lang sw --min-chars 40 --eval 0.2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return errors.New("--name is required")
			}
			// The library reads a zero option as "the default"; on the
			// command line an explicit 0 is a mistake, not a request for it.
			for _, f := range []struct {
				flag string
				zero bool
			}{{"eval", opts.EvalFraction == 0}, {"near-dup", opts.NearDup == 0}, {"min-rating", opts.MinRating == 0}} {
				if f.zero {
					return fmt.Errorf("--%s 0 is out of range", f.flag)
				}
			}
			return env.with(cmd.Context(), true, func(o *flywheelEnv) error {
				src := o.fw.Source() // the node's captured, rated interactions
				if from != "" {
					f, err := os.Open(from)
					if err != nil {
						return fmt.Errorf("--from: %w", err)
					}
					ins, err := dataset.ReadInteractions(f)
					f.Close()
					if err != nil {
						return fmt.Errorf("--from %s: %w", from, err)
					}
					src = dataset.Static(ins)
				}
				v, err := o.fw.Datasets.Build(cmd.Context(), src, o.tenant.ID, name, opts)
				if errors.Is(err, flywheel.ErrNoFeedback) {
					return fmt.Errorf("%w; or build from a file with --from FILE.jsonl", err)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "built %s v%d: %d examples (%d train, %d eval) from %d interactions\n",
					v.Name, v.Version, len(v.Train)+len(v.Eval), len(v.Train), len(v.Eval), v.Report.Considered)
				fmt.Fprintf(g.stdout, "  %s\n", v.Report)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "dataset name (required)")
	fl.StringVar(&from, "from", "", "read interactions from this JSONL file")
	fl.IntVar(&opts.MinRating, "min-rating", dataset.DefaultMinRating, "lowest rating (1..5) an uncorrected interaction needs")
	fl.IntVar(&opts.MinChars, "min-chars", 0, "drop examples shorter than this many characters (0: no bound)")
	fl.IntVar(&opts.MaxChars, "max-chars", 0, "drop examples longer than this many characters (0: no bound)")
	fl.StringSliceVar(&opts.Languages, "lang", nil, "keep only these languages (default: all)")
	fl.Float64Var(&opts.NearDup, "near-dup", dataset.DefaultNearDup, "word-shingle Jaccard similarity from which examples are near duplicates (1: exact only)")
	fl.Float64Var(&opts.EvalFraction, "eval", dataset.DefaultEvalFraction, "share of examples in the eval split")
	fl.Int64Var(&opts.Seed, "seed", 0, "seed of the train/eval split")
	return cmd
}

func newDatasetListCmd(g *globals, env *datasetEnv) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list --tenant T",
		Short: "List the tenant's datasets and their versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return env.with(cmd.Context(), false, func(o *flywheelEnv) error {
				list, err := o.fw.Datasets.List(cmd.Context(), o.tenant.ID)
				if err != nil {
					return err
				}
				return printList(g, asJSON, list, "no datasets",
					"NAME\tVERSION\tORIGIN\tCREATED\tTRAIN\tEVAL\tREMOVED",
					func(w io.Writer, v dataset.Version) {
						fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t%d\t%d\n", v.Name, v.Version, v.Origin,
							v.Created.Format(time.RFC3339), v.TrainCount, v.EvalCount, v.Removed)
					})
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newDatasetExportCmd(g *globals, env *datasetEnv) *cobra.Command {
	var (
		name, split, out string
		version          int
	)
	cmd := &cobra.Command{
		Use:   "export --tenant T --name N [--version V] [--split train|eval|all] [--out F]",
		Short: "Export a dataset version as OpenAI fine-tuning chat JSONL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return errors.New("--name is required")
			}
			return env.with(cmd.Context(), false, func(o *flywheelEnv) error {
				if out == "" || out == "-" {
					_, err := o.fw.Datasets.Export(cmd.Context(), o.tenant.ID, name, version, split, g.stdout)
					return err
				}
				// Replaced whole once complete: a failed export never leaves
				// a truncated file where a good one was expected.
				var n int
				var exportErr error
				err := atomicfile.WriteFunc(out, 0o600, func(w io.Writer) error {
					n, exportErr = o.fw.Datasets.Export(cmd.Context(), o.tenant.ID, name, version, split, w)
					return exportErr
				})
				if exportErr != nil {
					return exportErr
				}
				if err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				fmt.Fprintf(g.stderr, "exported %d examples to %s\n", n, out)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "dataset name (required)")
	fl.IntVar(&version, "version", 0, "version (default: the latest)")
	fl.StringVar(&split, "split", "all", "train, eval or all")
	fl.StringVar(&out, "out", "", "write to this file instead of stdout")
	return cmd
}

func newDatasetImportCmd(g *globals, env *datasetEnv) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "import --tenant T --name N FILE",
		Short: "Import OpenAI fine-tuning chat JSONL as the next version of a dataset",
		Long: `Import OpenAI fine-tuning chat JSONL ("-" for stdin) as the next version
of a dataset, every example in the train split. The whole file is checked
first: the first bad line fails the import, naming the line, and nothing is
stored.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return errors.New("--name is required")
			}
			return env.with(cmd.Context(), true, func(o *flywheelEnv) error {
				var r io.Reader = g.stdin
				if args[0] != "-" {
					f, err := os.Open(args[0])
					if err != nil {
						return err
					}
					defer f.Close()
					r = f
				}
				v, err := o.fw.Datasets.Import(cmd.Context(), o.tenant.ID, name, r)
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				fmt.Fprintf(g.stdout, "imported %s v%d: %d examples\n", v.Name, v.Version, len(v.Train)+len(v.Eval))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "dataset name (required)")
	return cmd
}

func newDatasetStatsCmd(g *globals, env *datasetEnv) *cobra.Command {
	var (
		name    string
		version int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "stats --tenant T --name N [--version V] [--json]",
		Short: "Show a dataset version's sizes, languages, ratings and what its build dropped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" {
				return errors.New("--name is required")
			}
			return env.with(cmd.Context(), false, func(o *flywheelEnv) error {
				st, err := o.fw.Datasets.Stats(cmd.Context(), o.tenant.ID, name, version)
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(g.stdout, st)
				}
				printDatasetStats(g.stdout, st)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "dataset name (required)")
	fl.IntVar(&version, "version", 0, "version (default: the latest)")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printDatasetStats(w io.Writer, st *dataset.Stats) {
	fmt.Fprintf(w, "%s v%d (%s)\n", st.Name, st.Version, st.Origin)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SPLIT\tEXAMPLES\tAVG CHARS\tMIN\tMAX")
	for _, s := range []string{dataset.Train, dataset.Eval, "all"} {
		ss := st.Splits[s]
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t%d\n", s, ss.Examples, ss.AvgChars, ss.MinChars, ss.MaxChars)
	}
	tw.Flush()
	fmt.Fprintf(w, "languages: %s\n", datasetCounts(st.Languages, true))
	fmt.Fprintf(w, "ratings:   %s\n", datasetCounts(st.Ratings, false))
	fmt.Fprintf(w, "corrected: %d\n", st.Corrected)
	fmt.Fprintf(w, "%s: %d considered: %s\n", st.Origin, st.Report.Considered, st.Report)
	if st.Removed > 0 {
		fmt.Fprintf(w, "erased since: %d examples\n", st.Removed)
	}
}

// datasetCounts formats "a 3, b 2": by count (most first) or by name.
func datasetCounts(m map[string]int, byCount bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if byCount && m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
