package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/flywheel"
	"github.com/hearth-ai/hearth/flywheel/rollout"
	"github.com/hearth-ai/hearth/modelname"
	"github.com/hearth-ai/hearth/store"
)

// rolloutEnv is a tenant's flywheel with the rollout store over it.
type rolloutEnv struct {
	*flywheelEnv
	s *rollout.Store
}

func newRolloutCmd(g *globals) *cobra.Command {
	var tenantArg, modelFile string
	// with opens the tenant's flywheel and rollouts (audited if the
	// command may change something: status can take a gate's step), runs
	// fn and closes them.
	with := func(ctx context.Context, audited bool, fn func(*rolloutEnv) error) error {
		return withFlywheel(ctx, g, tenantArg, audited, func(e *flywheelEnv) error {
			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			vs := &flywheel.Versions{Stores: e.fw, BasePath: basePath(dir, modelFile), Logger: g.warnLogger()}
			cfg := rollout.Config{Versions: vs, Evaluator: vs, Now: g.now, Logger: g.warnLogger()}
			// The node's certified jurisdiction: a tenant's rollouts start
			// only at its home, as they do through the node.
			cert, err := fabric.LoadCertIfExists(dir)
			if err != nil {
				return err
			}
			if cert != nil {
				cfg.Jurisdiction = cert.Jurisdiction
			}
			if audited {
				cfg.Audit = e.log
			}
			s, err := rollout.Open(ctx, e.d, cfg)
			if err != nil {
				return err
			}
			return fn(&rolloutEnv{e, s})
		})
	}
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Roll a new version of a tenant's deployment out, gated, with automatic rollback",
		Long: `A tenant's deployment is a model name as its clients send it (stories260k).
It has a stable version (the model itself, or an adapter a rollout promoted)
and at most one rollout under way of a candidate, BASE:ADAPTER[@VERSION]
from the tenant's registry, served to a share of the tenant's end users
(by OpenAI's "user", else by API key; a user keeps its arm as the share
rises).

Before any traffic the candidate must beat the stable's held-out loss on
the eval split of the dataset it was trained on by --eval-margin. While
live, its thumbs-up, correction and error rates are compared with the
stable's by Wilson score intervals (--confidence) over --min-feedback and
--min-requests per arm, and its p95 latency bounded by --max-latency-ratio
× the stable's: a failing gate rolls it back at once. After --step-sample
candidate requests (and --dwell) at a share the share rises through
--steps; at 100, with every gate passed, the candidate becomes the stable.

A serving node takes these steps every few seconds; status takes them
too. Every step is in the rollout's history and the audit log.`,
	}
	cmd.PersistentFlags().StringVar(&tenantArg, "tenant", "", "tenant name or ID (required)")
	cmd.PersistentFlags().StringVar(&modelFile, "model-file", "", "the deployment's model GGUF, when the node serves it from a file (--model) rather than the store")

	def := rollout.DefaultGates()
	g0 := def
	var share int
	var steps string
	var dwell time.Duration
	start := &cobra.Command{
		Use:   "start --tenant T MODEL BASE:ADAPTER[@VERSION]",
		Short: "Start a rollout of a candidate version for the deployment MODEL (audited)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			gates := g0
			var err error
			if gates.Steps, err = parseSteps(steps); err != nil {
				return err
			}
			gates.DwellSeconds = int(dwell / time.Second)
			return with(cmd.Context(), true, func(e *rolloutEnv) error {
				r, err := e.s.Start(cmd.Context(), rollout.StartRequest{Tenant: e.tenant, Model: args[0], Candidate: args[1], Share: share,
					Gates: &gates, Actor: "cli"})
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s\n", r.ID)
				fmt.Fprintf(g.stderr, "started %s: %s, stable %s, candidate %s (evaluating; the node's gate loop or hearth rollout status runs the eval gate)\n",
					r.ID, r.Model, r.Stable, r.Candidate)
				return nil
			})
		},
	}
	f := start.Flags()
	f.IntVar(&share, "share", 0, "the candidate's share (0-100 percent) once the eval gate passes; 0 means the first step")
	f.BoolVar(&g0.SkipEval, "skip-eval", false, "start without the held-out eval gate")
	f.Float64Var(&g0.EvalMargin, "eval-margin", def.EvalMargin, "relative held-out loss margin the candidate must beat the stable by")
	f.StringVar(&g0.EvalDataset, "eval-dataset", "", "the dataset NAME[@VERSION] whose eval split is scored (default: the candidate's training dataset)")
	f.Float64Var(&g0.Confidence, "confidence", def.Confidence, "confidence of the Wilson score intervals")
	f.IntVar(&g0.MinFeedback, "min-feedback", def.MinFeedback, "feedback per arm before the feedback gates decide")
	f.IntVar(&g0.MinRequests, "min-requests", def.MinRequests, "requests per arm before the error and latency gates decide")
	f.Float64Var(&g0.MaxLatencyRatio, "max-latency-ratio", def.MaxLatencyRatio, "bound on the candidate's p95 latency over the stable's")
	f.StringVar(&steps, "steps", joinInts(def.Steps), "the shares the candidate steps through, ending at 100")
	f.IntVar(&g0.StepSample, "step-sample", def.StepSample, "candidate requests at a share before it rises")
	f.DurationVar(&dwell, "dwell", 0, "least time at each share")

	var asJSON bool
	status := &cobra.Command{
		Use:   "status --tenant T [ID]",
		Short: "Show the tenant's rollouts, or one with its gates evaluated now (which may take their step)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd.Context(), true, func(e *rolloutEnv) error {
				if len(args) == 0 {
					rs, err := e.s.List(cmd.Context(), e.tenant.ID)
					if err != nil {
						return err
					}
					return printList(g, asJSON, rs, "no rollouts (hearth rollout start makes one)",
						"ID\tMODEL\tSTATE\tSHARE\tSTABLE\tCANDIDATE\tUPDATED",
						func(w io.Writer, r rollout.Rollout) {
							fmt.Fprintf(w, "%s\t%s\t%s\t%d%%\t%s\t%s\t%s\n", r.ID, r.Model, r.State, r.Share, r.Stable, r.Candidate,
								r.Updated.Format(time.RFC3339))
						})
				}
				if err := e.own(cmd.Context(), args[0]); err != nil {
					return err
				}
				r, checks, err := e.s.Status(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(g.stdout, struct {
						*rollout.Rollout
						Checks []rollout.Check `json:"checks,omitempty"`
					}{r, checks})
				}
				printStatus(g.stdout, r, checks)
				return nil
			})
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var promoteShare int
	promote := &cobra.Command{
		Use:   "promote --tenant T ID [--share N]",
		Short: "Make the candidate the stable now, or set its share (audited)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd.Context(), true, func(e *rolloutEnv) error {
				if err := e.own(cmd.Context(), args[0]); err != nil {
					return err
				}
				r, err := e.s.Promote(cmd.Context(), args[0], promoteShare, "cli")
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s %s at %d%%\n", r.ID, r.State, r.Share)
				return nil
			})
		},
	}
	promote.Flags().IntVar(&promoteShare, "share", 0, "the candidate's new share (1-99 percent); 0 or 100 makes it the stable")

	var reason string
	rollback := &cobra.Command{
		Use:   "rollback --tenant T ID [--reason TEXT]",
		Short: "End a rollout: the candidate serves no one, the stable stays (audited)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd.Context(), true, func(e *rolloutEnv) error {
				if err := e.own(cmd.Context(), args[0]); err != nil {
					return err
				}
				r, err := e.s.Rollback(cmd.Context(), args[0], "cli", reason)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s %s\n", r.ID, r.State)
				return nil
			})
		},
	}
	rollback.Flags().StringVar(&reason, "reason", "", "why, for the history and the audit log")

	var histJSON bool
	history := &cobra.Command{
		Use:   "history --tenant T ID [--json]",
		Short: "A rollout's steps, with the gates' numbers",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd.Context(), false, func(e *rolloutEnv) error {
				if err := e.own(cmd.Context(), args[0]); err != nil {
					return err
				}
				evs, err := e.s.History(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return printList(g, histJSON, evs, "no history", "TIME\tACTION\tACTOR\tSTATE\tSHARE\tDETAIL",
					func(w io.Writer, ev rollout.Event) {
						var extra []string
						for _, k := range []string{"verdict", "reason", "eval", "checks"} {
							if v := ev.Detail[k]; v != "" {
								extra = append(extra, k+"="+v)
							}
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s%%\t%s\n", ev.Time.Format(time.RFC3339), ev.Action, ev.Actor, ev.Detail["state"],
							ev.Detail["share"], strings.Join(extra, " "))
					})
			})
		},
	}
	history.Flags().BoolVar(&histJSON, "json", false, "print JSON")
	cmd.AddCommand(start, status, promote, rollback, history)
	return cmd
}

// own checks that rollout id is the tenant's: another tenant's is not
// found.
func (e *rolloutEnv) own(ctx context.Context, id string) error {
	r, err := e.s.Get(ctx, id)
	if err != nil {
		return err
	}
	if r.TenantID != e.tenant.ID {
		return fmt.Errorf("%w: tenant %s has no rollout %s", rollout.ErrNotFound, e.tenant.Name, id)
	}
	return nil
}

// basePath finds a deployment's base model: the store's by name, or
// modelFile for the name it is served as (its file name without
// ".gguf", in any case).
func basePath(dataDir, modelFile string) func(string) (string, error) {
	return func(name string) (string, error) {
		if modelFile != "" {
			bare := strings.TrimSuffix(filepath.Base(modelFile), ".gguf")
			if modelname.Same(name, bare) || name == modelFile {
				return modelFile, nil
			}
		}
		s, err := store.Open(dataDir)
		if err != nil {
			return "", err
		}
		return s.Path(name)
	}
}

func parseSteps(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("--steps %q: want shares like 10,25,50,100", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func printStatus(w io.Writer, r *rollout.Rollout, checks []rollout.Check) {
	fmt.Fprintf(w, "rollout %s of %s: %s at %d%%\n  stable    %s\n  candidate %s\n", r.ID, r.Model, r.State, r.Share, r.Stable, r.Candidate)
	if r.Reason != "" {
		fmt.Fprintf(w, "  reason    %s\n", r.Reason)
	}
	if r.Eval != nil {
		fmt.Fprintf(w, "  eval gate %s: %s\n", r.Eval.Verdict, r.Eval.Why)
	}
	fmt.Fprintf(w, "  requests  stable %d (errors %d), candidate %d (errors %d, %d at this share)\n", r.StableCounts.Requests,
		r.StableCounts.Errors, r.CandidateCounts.Requests, r.CandidateCounts.Errors, r.CandidateCounts.StepRequests)
	for _, c := range checks {
		fmt.Fprintf(w, "  %-16s %-7s stable %.4f (n %d), candidate %.4f (n %d): %s\n", c.Gate, c.Verdict, c.Stable, c.StableN, c.Candidate,
			c.CandidateN, c.Why)
	}
}
