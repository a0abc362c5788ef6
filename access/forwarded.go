package access

import (
	"context"
	"fmt"
	"net/http"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/tenant"
)

// Forwarded is a request's caller (tenant by name or id) as the gateway node that authenticated
// it vouches for it. Only the fleet fabric sets it, for requests from
// certified peers.
type Forwarded struct {
	TenantID, KeyID, Gateway string

	resolved api.Caller // set by ResolveForwarded
}

type forwardedKey struct{}

// WithForwarded marks ctx as carrying a request forwarded by a gateway.
func WithForwarded(ctx context.Context, f Forwarded) context.Context {
	return context.WithValue(ctx, forwardedKey{}, f)
}

// ResolveForwarded checks that this node can serve a request forwarded
// for f (its tenant exists here, by name or id, and is enabled) and
// returns ctx marked with f and the caller it resolved to, so the API
// does not look the tenant up again. The serving side asks before
// answering anything, so that a gateway can try another node instead of
// passing a 401 for a valid key on.
func (g *Gate) ResolveForwarded(ctx context.Context, f Forwarded) (context.Context, error) {
	c, err := g.forwardedCaller(ctx, f)
	if err != nil {
		return ctx, err
	}
	f.resolved = c
	return WithForwarded(ctx, f), nil
}

// forwardedCaller turns a forwarded identity into a caller: the tenant as
// this node's database holds it (so its current policy applies here too),
// with the inference scope the gateway checked.
func (g *Gate) forwardedCaller(ctx context.Context, f Forwarded) (api.Caller, error) {
	if f.TenantID == "" || f.TenantID == LocalTenant {
		if g.localMode(ctx) {
			return &caller{g: g}, nil
		}
		return nil, fmt.Errorf("%w: forwarded by %s without a tenant", api.ErrUnauthorized, f.Gateway)
	}
	t, err := g.cfg.Tenants.GetTenant(ctx, f.TenantID)
	if err != nil {
		return nil, fmt.Errorf("%w: forwarded by %s for tenant %s: %v", api.ErrUnauthorized, f.Gateway, f.TenantID, err)
	}
	if t.Disabled {
		return nil, fmt.Errorf("%w: tenant %s is disabled", api.ErrUnauthorized, t.Name)
	}
	return &caller{g: g, p: &tenant.Principal{Tenant: t, Key: tenant.Key{ID: f.KeyID, TenantID: t.ID, Scopes: []tenant.Scope{tenant.ScopeInference}}}}, nil
}

// Policy is what routing needs to know of a caller.
type Policy struct {
	TenantID, TenantName, KeyID string
	Jurisdictions               []string // where the tenant's requests may run; empty: anywhere
}

// PolicyOf authenticates r's caller and returns it with its tenant's
// routing policy. A refusal is not audited here: the router hands the
// request to the API, whose own authentication records it once.
func (g *Gate) PolicyOf(r *http.Request) (api.Caller, Policy, error) {
	c, err := g.authenticate(r)
	if err != nil {
		return nil, Policy{}, err
	}
	cc := c.(*caller)
	if cc.p == nil {
		return c, Policy{TenantID: LocalTenant, TenantName: LocalTenant}, nil
	}
	return c, Policy{TenantID: cc.p.Tenant.ID, TenantName: cc.p.Tenant.Name, KeyID: cc.p.Key.ID,
		Jurisdictions: cc.p.Tenant.Policy.Jurisdictions}, nil
}
