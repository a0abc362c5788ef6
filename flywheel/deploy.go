package flywheel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/flywheel/eval"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/flywheel/rollout"
	"github.com/hearth-ai/hearth/modelname"
)

// Versions is what flywheel/rollout needs of the flywheel's stores: it
// resolves the versions a rollout deploys (rollout.Versions) against the
// tenant's adapter registry, and runs the held-out eval gate
// (rollout.Evaluator) with flywheel/eval on the eval split of a tenant's
// dataset. A node and the command line each build one over their stores.
type Versions struct {
	Stores *Stores
	// BasePath returns the GGUF file of a base model by the name clients
	// send (the runner's, or the model store's); an error means no such
	// base.
	BasePath func(name string) (string, error)
	Threads  int          // of the evaluation; 0 means one per core
	Logger   *slog.Logger // nil: discard

	mu      sync.Mutex
	digests map[string]fileDigest // by path: a base file is hashed once while it is unchanged
}

var (
	_ rollout.Versions  = (*Versions)(nil)
	_ rollout.Evaluator = (*Versions)(nil)
)

type fileDigest struct {
	size   int64
	mod    time.Time
	digest string
	arch   string
}

// base describes model's file as the registry's lineage does, its
// SHA-256 cached while the file's size and time are unchanged.
func (v *Versions) base(model string) (registry.Base, string, error) {
	if v.BasePath == nil {
		return registry.Base{}, "", errors.New("no base models configured")
	}
	path, err := v.BasePath(model)
	if err != nil {
		return registry.Base{}, "", err
	}
	st, err := os.Stat(path)
	if err != nil {
		return registry.Base{}, "", err
	}
	v.mu.Lock()
	d, ok := v.digests[path]
	v.mu.Unlock()
	if !ok || d.size != st.Size() || !d.mod.Equal(st.ModTime()) {
		b, err := registry.BaseOf(model, path)
		if err != nil {
			return registry.Base{}, "", err
		}
		d = fileDigest{size: st.Size(), mod: st.ModTime(), digest: b.Digest, arch: b.Arch}
		v.mu.Lock()
		if v.digests == nil {
			v.digests = map[string]fileDigest{}
		}
		v.digests[path] = d
		v.mu.Unlock()
	}
	return registry.Base{Name: model, Digest: d.digest, Arch: d.arch}, path, nil
}

// split reads a version's name by the naming rule: a name that is a
// base model is that base; otherwise BASE:ADAPTER[@VERSION], split at
// the last ':'.
func (v *Versions) split(name string) (base, ref string, err error) {
	if _, err := v.BasePath(name); err == nil {
		return name, "", nil
	}
	i := strings.LastIndexByte(name, ':')
	if i <= 0 || i == len(name)-1 {
		return "", "", fmt.Errorf("%w: %q is neither a base model nor BASE:ADAPTER[@VERSION]", rollout.ErrInvalid, name)
	}
	return name[:i], name[i+1:], nil
}

// Resolve implements rollout.Versions.
func (v *Versions) Resolve(ctx context.Context, tenantID, model, name string) (string, error) {
	if v.BasePath == nil {
		return "", errors.New("no base models configured")
	}
	if _, err := v.BasePath(model); err != nil {
		return "", fmt.Errorf("%w: model %q: %v", rollout.ErrNotFound, model, err)
	}
	baseName, ref, err := v.split(name)
	if err != nil {
		return "", err
	}
	if ref == "" {
		if !modelname.Same(baseName, model) {
			return "", fmt.Errorf("%w: %s is another base model, not a version of %s", rollout.ErrInvalid, name, model)
		}
		return model, nil
	}
	if !modelname.Same(baseName, model) {
		return "", fmt.Errorf("%w: %s is an adapter of %s, not of the deployment's model %s", rollout.ErrInvalid, name, baseName, model)
	}
	an, av, err := registry.ParseRef(ref)
	if err != nil {
		return "", err
	}
	ver, err := v.Stores.Adapters.Get(ctx, tenantID, an, av)
	if err != nil {
		return "", err
	}
	// The registry hands out a retired version named with @VERSION, but
	// serving refuses it: deployed, its arm's users would get a 404 for
	// the deployment's name.
	if ver.State != registry.StateActive {
		return "", fmt.Errorf("%w: adapter %s is retired", registry.ErrNotFound, ver.Ref())
	}
	b, _, err := v.base(model)
	if err != nil {
		return "", err
	}
	if err := ver.CheckBase(b.Digest, b.Arch); err != nil {
		return "", err
	}
	return model + ":" + ver.Ref(), nil
}

// Compare implements rollout.Evaluator: both versions' mean loss per
// reference token on the dataset's eval split, the base loaded once and
// each adapter attached to it. Without a dataset named, it is the one the
// candidate was trained on (the stable's, when the candidate is the base).
func (v *Versions) Compare(ctx context.Context, in rollout.EvalInput) (rollout.EvalResult, error) {
	b, path, err := v.base(in.Model)
	if err != nil {
		return rollout.EvalResult{}, err
	}
	stable, err := v.adapter(ctx, in.TenantID, in.Model, in.Stable, b)
	if err != nil {
		return rollout.EvalResult{}, fmt.Errorf("stable: %w", err)
	}
	cand, err := v.adapter(ctx, in.TenantID, in.Model, in.Candidate, b)
	if err != nil {
		return rollout.EvalResult{}, fmt.Errorf("candidate: %w", err)
	}
	var dsName string
	var dsVersion int
	switch {
	case in.Dataset != "":
		if dsName, dsVersion, err = registry.ParseRef(in.Dataset); err != nil {
			return rollout.EvalResult{}, err
		}
	case cand != nil:
		dsName, dsVersion = cand.v.Dataset.Name, cand.v.Dataset.Version
	case stable != nil:
		dsName, dsVersion = stable.v.Dataset.Name, stable.v.Dataset.Version
	}
	if dsName == "" {
		return rollout.EvalResult{}, fmt.Errorf("%s was trained on no dataset of the tenant's: name one to evaluate on (gates.eval_dataset)", in.Candidate)
	}
	dv, err := v.Stores.Datasets.Get(ctx, in.TenantID, dsName, dsVersion)
	if err != nil {
		return rollout.EvalResult{}, fmt.Errorf("the eval dataset: %w", err)
	}
	if len(dv.Eval) == 0 {
		return rollout.EvalResult{}, fmt.Errorf("dataset %s v%d: %w", dv.Name, dv.Version, eval.ErrNoExamples)
	}
	m, err := engine.Load(path, engine.Options{Threads: v.Threads, Logger: v.Logger})
	if err != nil {
		return rollout.EvalResult{}, err
	}
	defer m.Close()
	sm, err := stable.attach(m)
	if err != nil {
		return rollout.EvalResult{}, fmt.Errorf("stable %s: %w", in.Stable, err)
	}
	cm, err := cand.attach(m)
	if err != nil {
		return rollout.EvalResult{}, fmt.Errorf("candidate %s: %w", in.Candidate, err)
	}
	// Only the losses decide; one greedy token per answer keeps the gate
	// quick.
	rep, err := eval.Run(ctx, sm, cm, dv.Eval, eval.Options{MaxTokens: 1})
	if err != nil {
		return rollout.EvalResult{}, err
	}
	return rollout.EvalResult{Dataset: fmt.Sprintf("%s@%d", dv.Name, dv.Version), Examples: rep.Examples,
		StableLoss: rep.Base.Loss, CandidateLoss: rep.Adapter.Loss}, nil
}

// decoded is a registry adapter, decoded, with its version.
type decoded struct {
	a *adapter.Adapter
	v *registry.Version
}

// adapter decodes the registry adapter a served name BASE:ADAPTER@V
// names, checked against base; nil for the model itself.
func (v *Versions) adapter(ctx context.Context, tenantID, model, served string, b registry.Base) (*decoded, error) {
	if modelname.Same(served, model) {
		return nil, nil
	}
	_, ref, err := v.split(served)
	if err != nil {
		return nil, err
	}
	if ref == "" {
		return nil, fmt.Errorf("%w: %s names no adapter of %s", rollout.ErrInvalid, served, model)
	}
	a, ver, err := v.Stores.Adapters.Adapter(ctx, tenantID, ref, b)
	if err != nil {
		return nil, err
	}
	return &decoded{a: a, v: ver}, nil
}

// attach is m with the adapter attached, or m itself for the base (d
// nil).
func (d *decoded) attach(m *engine.Model) (*engine.Model, error) {
	if d == nil {
		return m, nil
	}
	return eval.WithLoRA(m, d.a.LoRA)
}
