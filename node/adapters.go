package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/hearth-ai/hearth/access"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/flywheel/replica"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/tenant"
)

// tenantAdapters is the node's runner.Adapters: the adapter registry of
// the caller's tenant (tenant.PrincipalFrom; none: the local tenant of
// a node without tenants). Another tenant's adapters are not there to
// find: a tenant's lookups run under its own id. The registry is set once
// the flywheel's stores are open, after the runner is built.
type tenantAdapters struct {
	reg atomic.Pointer[registry.Store]
	// copies, when set, brings an adapter this node does not hold from the
	// tenant's home node, if the tenant's policy lets this node run it.
	copies atomic.Pointer[replica.Replicas]
}

var _ runner.Adapters = (*tenantAdapters)(nil)

// callerTenant is the caller's tenant: its ID on this node, and its name,
// which the fleet knows it by (each node gives a tenant an ID of its own).
func callerTenant(ctx context.Context) (id, name string) {
	if p, ok := tenant.PrincipalFrom(ctx); ok && p.Tenant.ID != "" {
		return p.Tenant.ID, p.Tenant.Name
	}
	return access.LocalTenant, access.LocalTenant
}

func (t *tenantAdapters) Find(ctx context.Context, ref string, base runner.Base) (runner.FoundAdapter, error) {
	reg := t.reg.Load()
	if reg == nil {
		return runner.FoundAdapter{}, fmt.Errorf("%w: no adapter registry", api.ErrModelNotFound)
	}
	tid, tname := callerTenant(ctx)
	name, version, err := registry.ParseRef(ref)
	if err != nil {
		return runner.FoundAdapter{}, fmt.Errorf("%w: %q is not an adapter name: %v", api.ErrModelNotFound, ref, err)
	}
	v, err := reg.Get(ctx, tid, name, version)
	if copies := t.copies.Load(); errors.Is(err, registry.ErrNotFound) && copies != nil {
		return t.copy(ctx, copies, tid, tname, ref, base)
	}
	switch {
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, registry.ErrInvalid):
		return runner.FoundAdapter{}, fmt.Errorf("%w: %v", api.ErrModelNotFound, err)
	case err != nil:
		return runner.FoundAdapter{}, err
	case v.State != registry.StateActive:
		return runner.FoundAdapter{}, fmt.Errorf("%w: adapter %s is retired", api.ErrModelNotFound, v.Ref())
	}
	if err := v.CheckBase(base.Digest, base.Arch); err != nil {
		return runner.FoundAdapter{}, fmt.Errorf("%w: %s is not for %s: %w", api.ErrInvalidModel, v.Ref(), base.Name, err)
	}
	ver := v.Version
	return runner.FoundAdapter{Name: v.Ref(), Key: adapterKey(tid, v), Tenant: tname,
		Open: func(ctx context.Context) (*adapter.Adapter, error) {
			plain, v, err := reg.Open(ctx, tid, name, ver)
			if err != nil {
				return nil, err
			}
			a, err := adapter.Parse(plain, v.Ref())
			if err != nil {
				return nil, fmt.Errorf("registry: %s: %w", v.Ref(), err)
			}
			return a, nil
		}}, nil
}

// copy finds an adapter the tenant's home holds, through the node's
// copies of such adapters (replica.Replicas.Find, which fetches it once,
// checked and sealed, and confirms it with the home as it is used).
func (t *tenantAdapters) copy(ctx context.Context, copies *replica.Replicas, tid, tname, ref string, base runner.Base) (runner.FoundAdapter, error) {
	v, open, err := copies.Find(ctx, tid, ref, registry.Base{Name: base.Name, Digest: base.Digest, Arch: base.Arch})
	switch {
	case errors.Is(err, registry.ErrBaseMismatch):
		return runner.FoundAdapter{}, fmt.Errorf("%w: %s is not for %s: %w", api.ErrInvalidModel, ref, base.Name, err)
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, replica.ErrRetired), errors.Is(err, replica.ErrNoHome), errors.Is(err, replica.ErrNotPermitted):
		return runner.FoundAdapter{}, fmt.Errorf("%w: %v", api.ErrModelNotFound, err)
	case err != nil:
		return runner.FoundAdapter{}, err
	}
	return runner.FoundAdapter{Name: v.Ref(), Key: adapterKey(tid, v), Tenant: tname, Open: open}, nil
}

// adapterKey is the runner's cache key of a tenant's adapter version,
// its content included: a version whose file changed is another set.
func adapterKey(tid string, v *registry.Version) string {
	return adapterKeyPrefix(tid, v.Name, v.Version) + v.SHA256
}

// adapterKeyPrefix begins the keys of a tenant's adapter version, whatever
// its content (the '/' ends it: support@1 is no prefix of support@10's).
func adapterKeyPrefix(tid, name string, version int) string {
	return fmt.Sprintf("%s/%s@%d/", tid, name, version)
}

// dropCopy unloads a fleet copy of an adapter the node dropped (its home
// retired it, lost it, or no longer permits this node): held loaded, it
// would still take memory, and the heartbeat would still offer it to
// routing. Requests running with it finish as they began.
func dropCopy(run *runner.Runner, log *slog.Logger) func(tid, name string, version int) {
	return func(tid, name string, version int) {
		if n := run.DropAdapters(adapterKeyPrefix(tid, name, version)); n > 0 {
			log.Info("dropped adapter copy unloaded", "tenant", tid, "adapter", fmt.Sprintf("%s@%d", name, version), "sets", n)
		}
	}
}

// Has reports whether the caller's tenant has an adapter called name
// here: an active version in the registry, or a fleet copy this node
// holds. It asks no other node, so that a request for a name the
// operator published costs no round trip to a tenant's home.
func (t *tenantAdapters) Has(ctx context.Context, name string) (bool, error) {
	name, _, err := registry.ParseRef(name)
	if err != nil {
		return false, nil // no registry could hold it
	}
	tid, _ := callerTenant(ctx)
	if reg := t.reg.Load(); reg != nil {
		_, err := reg.Get(ctx, tid, name, 0) // the latest that is not retired
		switch {
		case err == nil:
			return true, nil
		case !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrInvalid):
			return false, err
		}
	}
	if copies := t.copies.Load(); copies != nil {
		held, err := copies.List(ctx, tid)
		if err != nil {
			return false, err
		}
		for _, c := range held {
			if c.Manifest.Name == name {
				return true, nil
			}
		}
	}
	return false, nil
}

func (t *tenantAdapters) List(ctx context.Context) ([]runner.ListedAdapter, error) {
	reg := t.reg.Load()
	if reg == nil {
		return nil, nil
	}
	tid, _ := callerTenant(ctx)
	vs, err := reg.List(ctx, tid)
	if err != nil {
		return nil, err
	}
	out := make([]runner.ListedAdapter, 0, len(vs))
	for _, v := range vs {
		if v.State != registry.StateActive {
			continue
		}
		out = append(out, runner.ListedAdapter{Name: v.Ref(), Base: runner.Base{Name: v.Base.Name, Digest: v.Base.Digest, Arch: v.Base.Arch},
			Size: v.Size, Created: v.Created})
	}
	// Off the tenant's home, its home's adapters are the tenant's here
	// too (Find fetches a copy on first use), so they are listed: from a
	// listing kept a while, and without them when no home answers soon.
	if copies := t.copies.Load(); copies != nil {
		// A version of this node's registry, retired or not, is the one
		// Find resolves, whatever the home holds under that ref.
		local := make(map[string]bool, len(vs))
		for _, v := range vs {
			local[v.Ref()] = true
		}
		for _, l := range copies.HomeList(ctx, tid) {
			if !local[l.Ref()] {
				out = append(out, runner.ListedAdapter{Name: l.Ref(), Base: runner.Base{Name: l.Base.Name, Digest: l.Base.Digest, Arch: l.Base.Arch},
					Size: l.Size, Created: l.Created})
			}
		}
	}
	return out, nil
}
