package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hearth-ai/hearth/access"
	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/flywheel"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/flywheel/eval"
	"github.com/hearth-ai/hearth/flywheel/finetune"
	"github.com/hearth-ai/hearth/flywheel/jobs"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/tenant"
)

// metricsFile is where the node's trainer leaves a finished run's
// metrics, beside the adapter in the job's directory, for the registry
// to keep with the version.
const metricsFile = "metrics.json"

// metrics are what the registry keeps as a job's adapter version's
// metrics: flywheel.RegisterAdapter's (the run's losses and the held-out
// evaluation's summaries, base against base with the adapter), with why
// the evaluation failed when it did. The evaluation's rows (prompts and
// answers) are the tenant's data and are not kept here.
type metrics struct {
	// Eval is nil when the job had no eval examples, or EvalError says
	// why they could not be evaluated.
	flywheel.Metrics
	EvalError string `json:"eval_error,omitempty"`
}

// trainer is the node's default jobs.Trainer: flywheel/finetune's Run,
// then the held-out evaluation of the adapter against its base, written
// to metricsFile so that the registry stores it with the version.
type trainer struct{ log *slog.Logger }

func (t trainer) Train(ctx context.Context, s jobs.Spec, progress func(jobs.Progress)) (*jobs.Result, error) {
	// jobs' types have finetune's fields in finetune's order; a zero
	// hyper-parameter is finetune's default.
	spec := finetune.Spec{BasePath: s.BasePath, Train: s.Train, Eval: s.Eval, Hyper: finetune.Hyper(s.Hyper), Threads: s.Threads,
		Dir: s.Dir, Logger: t.log}
	res, err := finetune.Run(ctx, spec, func(p finetune.Progress) { progress(jobs.Progress(p)) })
	if err != nil {
		return nil, err
	}
	m := metrics{Metrics: flywheel.Metrics{Steps: res.Steps, Tokens: res.Tokens, TrainLoss: res.TrainLoss, EvalLoss: res.EvalLoss}}
	if len(s.Eval) > 0 {
		rep, err := evaluate(ctx, s.BasePath, res.Adapter, s.Eval, s.Threads)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err() // cancelled or shut down: the job's end decides
		case err != nil:
			// An example eval cannot use (one longer than the context,
			// which the trainer cut to fit) says nothing against the
			// adapter: it is registered with the reason in its metrics.
			m.EvalError = err.Error()
			t.log.Warn("fine-tuning job: the held-out evaluation failed", "dir", s.Dir, "err", err)
		default:
			m.Eval = &flywheel.Eval{Examples: rep.Examples, Base: rep.Base, Adapter: *rep.Adapter}
			t.log.Info("fine-tuning job evaluated", "dir", s.Dir, "examples", rep.Examples, "base_loss", rep.Base.Loss,
				"adapter_loss", rep.Adapter.Loss, "base_contains", rep.Base.Contains, "adapter_contains", rep.Adapter.Contains)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(s.Dir, metricsFile), b, 0o600); err != nil {
		return nil, fmt.Errorf("the run's metrics: %w", err)
	}
	return &jobs.Result{Adapter: res.Adapter, Steps: res.Steps, Tokens: res.Tokens, TrainLoss: res.TrainLoss, EvalLoss: res.EvalLoss}, nil
}

// evaluate runs flywheel/eval on examples: the base model against the
// same base with the adapter file attached at scale 1.
func evaluate(ctx context.Context, basePath, adapterPath string, examples []dataset.Example, threads int) (*eval.Report, error) {
	a, err := adapter.Read(adapterPath)
	if err != nil {
		return nil, err
	}
	return flywheel.Evaluate(ctx, basePath, a, examples, engine.Options{Threads: threads})
}

// adapterRegistry is the node's default jobs.Registry: the flywheel's
// adapter store, with the lineage a job knows and the metrics its
// trainer left in metricsFile.
type adapterRegistry struct {
	adapters *registry.Store
	tenants  *tenant.Store
}

func (r adapterRegistry) Register(ctx context.Context, a jobs.Adapter) (string, error) {
	t, err := r.tenant(ctx, a.TenantID)
	if err != nil {
		return "", err
	}
	file, err := os.ReadFile(a.Path)
	if err != nil {
		return "", fmt.Errorf("the adapter: %w", err)
	}
	base, err := registry.BaseOf(a.Base, a.BasePath)
	if err != nil {
		return "", err
	}
	hyper, err := json.Marshal(finetune.Hyper(a.Hyper).WithDefaults())
	if err != nil {
		return "", err
	}
	raw, err := os.ReadFile(filepath.Join(filepath.Dir(a.Path), metricsFile))
	if errors.Is(err, os.ErrNotExist) {
		// Another trainer's run: its result is all there is.
		raw, err = json.Marshal(flywheel.Metrics{Steps: a.Result.Steps, Tokens: a.Result.Tokens, TrainLoss: a.Result.TrainLoss, EvalLoss: a.Result.EvalLoss})
	}
	if err != nil {
		return "", fmt.Errorf("the run's metrics: %w", err)
	}
	// The lineage is filled by the store from the dataset version, which
	// the job pinned when it was created; the hash is of what the run
	// trained on, so the store marks the adapter if an erasure has since
	// reached the version.
	meta := registry.Meta{Base: base, Dataset: registry.DatasetRef{Name: a.Dataset, Version: a.DatasetVersion, Hash: a.DatasetHash}, Hyper: hyper, Metrics: raw}
	v, err := r.adapters.Create(ctx, t, a.Name, meta, file)
	if err != nil {
		return "", err
	}
	return v.Ref(), nil
}

// tenant is the adapter's owner; "local" is the tenant of a node that
// has none and serves its own machine.
func (r adapterRegistry) tenant(ctx context.Context, id string) (tenant.Tenant, error) {
	t, err := r.tenants.GetTenant(ctx, id)
	if errors.Is(err, tenant.ErrNotFound) && id == access.LocalTenant {
		return tenant.Tenant{ID: access.LocalTenant, Name: access.LocalTenant}, nil
	}
	if err != nil {
		return tenant.Tenant{}, fmt.Errorf("the adapter's tenant %s: %w", id, err)
	}
	return t, nil
}
