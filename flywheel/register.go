package flywheel

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/flywheel/eval"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/tenant"
)

// Trained is a finished fine-tuning run, as RegisterAdapter enters it
// into the registry: hearth train and the node's fine-tuning jobs both
// describe their runs with it.
type Trained struct {
	Name    string // the registry name to keep the adapter under
	Adapter string // the adapter GGUF the run wrote
	// Base is the base model as lineage names it. Name is as the user
	// gave it; Digest, the hex SHA-256 of BasePath ("sha256:" allowed,
	// finetune.Result.BaseDigest), is computed when empty; Arch is read
	// from BasePath.
	Base     registry.Base
	BasePath string
	// Dataset is the dataset version trained on, with Hash its content
	// hash as the run read it (dataset.Version.ContentHash), so an erasure
	// that reached it during training marks the adapter. Zero for a run on
	// other data (an uploaded file).
	Dataset registry.DatasetRef
	// Eval are the held-out examples: the base and the adapter are
	// evaluated on them side by side (flywheel/eval) and the summaries
	// kept in the version's metrics. None: no evaluation.
	Eval    []dataset.Example
	Hyper   any     // the hyper-parameters as run (finetune.Hyper), kept as JSON
	Metrics Metrics // what training measured; RegisterAdapter fills Eval
	Threads int     // of the evaluation; 0 means one per core
	Logger  *slog.Logger
}

// Metrics are a version's metrics as RegisterAdapter records them.
type Metrics struct {
	Steps     int     `json:"steps"`
	Tokens    int64   `json:"tokens"`
	TrainLoss float64 `json:"train_loss"`          // of the last epoch
	EvalLoss  float64 `json:"eval_loss,omitempty"` // the trainer's, on the eval split
	Eval      *Eval   `json:"eval,omitempty"`
}

// Eval is the held-out evaluation kept with a version: base and adapter
// side by side (the examples' answers are in the report, not here).
type Eval struct {
	Examples int          `json:"examples"`
	Base     eval.Summary `json:"base"`
	Adapter  eval.Summary `json:"adapter"`
}

// RegisterAdapter evaluates a finished run's adapter against its base on
// the held-out examples and registers it, with its lineage, hyper-
// parameters and metrics, as the next version of tr.Name in tenant t's
// registry. It returns the version and the evaluation (nil without eval
// examples). A version of tr.Name that already holds the same file, for
// the same base and dataset version, is returned as it is, with no
// evaluation: a command run again after its run finished names the
// version it registered rather than registering a copy. Any failure (an unreadable adapter, one that does not fit
// the base, the evaluation, the registry's checks, seal or audit) leaves
// nothing registered.
func (s *Stores) RegisterAdapter(ctx context.Context, t tenant.Tenant, tr Trained) (*registry.Version, *eval.Report, error) {
	if tr.Name == "" || tr.Adapter == "" || tr.BasePath == "" {
		return nil, nil, errors.New("flywheel: register adapter: a name, the adapter file and the base file are required")
	}
	file, err := os.ReadFile(tr.Adapter)
	if err != nil {
		return nil, nil, fmt.Errorf("flywheel: register adapter: %w", err)
	}
	a, err := adapter.Parse(file, tr.Adapter)
	if err != nil {
		return nil, nil, fmt.Errorf("flywheel: register adapter: %w", err)
	}
	base := tr.Base
	base.Digest = strings.TrimPrefix(base.Digest, "sha256:")
	if base.Digest == "" || base.Arch == "" {
		of, err := registry.BaseOf(base.Name, tr.BasePath)
		if err != nil {
			return nil, nil, fmt.Errorf("flywheel: register adapter: %w", err)
		}
		base.Digest = cmp.Or(base.Digest, of.Digest)
		base.Arch = cmp.Or(base.Arch, of.Arch)
	}
	if a.Arch != base.Arch {
		return nil, nil, fmt.Errorf("flywheel: register adapter %s: %w: the adapter is for a %s model, the base %s is %s",
			tr.Name, registry.ErrBaseMismatch, a.Arch, base.Name, base.Arch)
	}
	if v, err := s.registered(ctx, t.ID, tr.Name, file, base, tr.Dataset); err != nil || v != nil {
		return v, nil, err
	}
	m := tr.Metrics
	var rep *eval.Report
	if len(tr.Eval) > 0 {
		if rep, err = evaluate(ctx, tr, a); err != nil {
			return nil, nil, fmt.Errorf("flywheel: register adapter %s: the held-out evaluation: %w", tr.Name, err)
		}
		m.Eval = &Eval{Examples: rep.Examples, Base: rep.Base, Adapter: *rep.Adapter}
	}
	meta := registry.Meta{Base: base, Dataset: tr.Dataset}
	if meta.Metrics, err = json.Marshal(m); err != nil {
		return nil, nil, fmt.Errorf("flywheel: register adapter %s: metrics: %w", tr.Name, err)
	}
	if tr.Hyper != nil {
		if meta.Hyper, err = json.Marshal(tr.Hyper); err != nil {
			return nil, nil, fmt.Errorf("flywheel: register adapter %s: hyper-parameters: %w", tr.Name, err)
		}
	}
	v, err := s.Adapters.Create(ctx, t, tr.Name, meta, file)
	if err != nil {
		return nil, nil, err
	}
	return v, rep, nil
}

// registered finds a version of name with this file, base and dataset
// version; nil if there is none.
func (s *Stores) registered(ctx context.Context, tenantID, name string, file []byte, base registry.Base, ds registry.DatasetRef) (*registry.Version, error) {
	vs, err := s.Adapters.List(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(file)
	for _, v := range vs {
		if v.Name == name && v.SHA256 == hex.EncodeToString(sum[:]) && strings.EqualFold(v.Base.Digest, base.Digest) &&
			v.Dataset.Name == ds.Name && (ds.Version == 0 || v.Dataset.Version == ds.Version) {
			return &v, nil
		}
	}
	return nil, nil
}

// evaluate runs flywheel/eval over tr.Eval, the base alone and with a.
func evaluate(ctx context.Context, tr Trained, a *adapter.Adapter) (*eval.Report, error) {
	return Evaluate(ctx, tr.BasePath, a, tr.Eval, engine.Options{Threads: tr.Threads, Logger: tr.Logger})
}

// Evaluate runs flywheel/eval on examples: the base model at basePath,
// loaded with o, against the same base with a attached at scale 1. An
// adapter of another architecture is adapter.ErrMismatch.
func Evaluate(ctx context.Context, basePath string, a *adapter.Adapter, examples []dataset.Example, o engine.Options) (*eval.Report, error) {
	base, err := engine.Load(basePath, o)
	if err != nil {
		return nil, err
	}
	defer base.Close()
	if a.Arch != base.Net.Arch {
		return nil, fmt.Errorf("%s: %w: adapter for architecture %q, base is %q", a.Source, adapter.ErrMismatch, a.Arch, base.Net.Arch)
	}
	adapted, err := eval.WithLoRA(base, a.LoRA)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.Source, err)
	}
	return eval.Run(ctx, base, adapted, examples, eval.Options{})
}
