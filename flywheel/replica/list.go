package replica

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/tenant"
)

// MaxListed bounds the versions one listing carries, on both sides: a
// few hundred bytes each, the answer stays well inside one NATS message.
const MaxListed = 1000

// listRetry is how long a lack of any home's answer is kept: shorter
// than ListTTL, so that a home that was briefly away is listed again
// soon, but long enough that a burst of model lists does not wait on it
// once each.
const listRetry = 5 * time.Second

// listMaxTenants bounds the tenants whose listings a node keeps.
const listMaxTenants = 1024

// serveList answers a list request: the tenant's versions this node
// holds active and would hand out, signed. It is checked as a manifest
// request is (lookup: a refusal by policy is audited) but moves no
// adapter, so a listing issued is not recorded.
func (x *Replicas) serveList(ctx context.Context, from fabric.Peer, payload []byte) ([]byte, error) {
	var m listMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		return refusal(codeInvalid, "the list request does not decode: "+err.Error())
	}
	t, refused, err := x.lookup(ctx, m.Tenant, "*", from)
	if refused != nil || err != nil {
		return refused, err
	}
	l := &Listing{Tenant: t.Name, Adapters: []Listed{}, Node: from.ID, Home: x.node.ID(), Jurisdiction: x.node.Jurisdiction(), Issued: x.now().UTC()}
	if x.cfg.Registry != nil {
		vs, err := x.cfg.Registry.List(ctx, t.ID)
		if err != nil {
			return nil, fmt.Errorf("replica: list tenant %s's adapters: %w", t.Name, err)
		}
		for _, v := range vs {
			if v.State != registry.StateActive || v.Size > x.cfg.MaxBytes {
				continue // not handed out, so not offered
			}
			if len(l.Adapters) == MaxListed {
				x.log.Warn("adapter listing cut short", "tenant", t.Name, "node", from.ID, "versions", len(vs), "listed", MaxListed)
				break
			}
			l.Adapters = append(l.Adapters, Listed{Name: v.Name, Version: v.Version, Base: v.Base, Size: v.Size, Created: v.Created})
		}
	}
	sl, err := signListing(x.cfg.Identity.Private, l)
	if err != nil {
		return nil, err
	}
	return json.Marshal(answer{Listing: sl})
}

// HomeList returns the active adapter versions the tenant's home nodes
// hold (those Find would fetch on first use), for model lists on a node
// that is not the tenant's home. Nothing is asked for a tenant this node
// may not serve. The answer is kept for ListTTL; asking waits at most
// ListTimeout, and a home node that does not answer in time, refuses, or
// answers with a listing that does not check (recorded as
// adapter.replica.rejected) is left out: HomeList never fails, it lists
// less. Concurrent calls for a tenant share one round of asking.
func (x *Replicas) HomeList(ctx context.Context, tenantID string) []Listed {
	t, err := x.cfg.Tenants.GetTenant(ctx, tenantID)
	if err != nil {
		x.log.Debug("adapter listing: no such tenant", "tenant", tenantID, "err", err)
		return nil
	}
	if t.Disabled || !t.Policy.AllowsJurisdiction(x.node.Jurisdiction()) {
		return nil
	}
	return x.lists.get(ctx, t.ID, x.now, x.cfg.ListTTL, func() ([]Listed, bool) { return x.askList(ctx, t) })
}

// askList asks every home node of t at once for its listing (registries
// are per node: each may hold other adapters) and merges the answers. ok
// reports whether any home answered with a listing.
func (x *Replicas) askList(ctx context.Context, t tenant.Tenant) (out []Listed, ok bool) {
	homes := x.homes(t)
	if len(homes) == 0 {
		return nil, false
	}
	req, err := json.Marshal(listMsg{Tenant: t.Name})
	if err != nil {
		return nil, false
	}
	// The round is shared with concurrent callers: the first caller's
	// going away does not cut it short, its timeout does.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.cfg.ListTimeout)
	defer cancel()
	lists := make([][]Listed, len(homes))
	answered := make([]bool, len(homes))
	var wg sync.WaitGroup
	for i, p := range homes {
		wg.Go(func() { lists[i], answered[i] = x.askListOf(ctx, p, t, req) })
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, l := range lists {
		ok = ok || answered[i]
		for _, a := range l {
			if !seen[a.Ref()] {
				seen[a.Ref()] = true
				out = append(out, a)
			}
		}
	}
	slices.SortFunc(out, func(a, b Listed) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version, b.Version)) })
	return out, ok
}

// askListOf asks home node p for t's listing and checks it.
func (x *Replicas) askListOf(ctx context.Context, p fabric.Peer, t tenant.Tenant, req []byte) ([]Listed, bool) {
	payload, err := x.node.DeliverTo(ctx, p.ID, KindList, req)
	if err != nil {
		x.log.Info("adapter listing: home node did not answer", "tenant", t.Name, "node", p.ID, "err", err)
		return nil, false
	}
	a, err := readAnswer(p.ID, payload)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, true // a home node without the tenant holds none of its adapters
	}
	if err != nil {
		x.log.Warn("adapter listing refused", "tenant", t.Name, "node", p.ID, "err", err)
		return nil, false
	}
	l, err := x.checkListing(p, a.Listing, t)
	if err != nil {
		x.rejectRef(ctx, t, "*", p, err)
		return nil, false
	}
	return l, true
}

// checkListing verifies a home node's listing as checkManifest does a
// manifest: signed by the key its certificate names, issued by it, in its
// jurisdiction, to this node, lately, for the tenant asked about, of at
// most MaxListed well-formed versions. It returns the versions this node
// could take (a version over this node's MaxBytes is left out).
func (x *Replicas) checkListing(p fabric.Peer, sl *SignedListing, t tenant.Tenant) ([]Listed, error) {
	pub, err := signerKey(p, "listing", sl != nil)
	if err != nil {
		return nil, err
	}
	l, err := sl.Open(pub)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", p.ID, err)
	}
	if err := x.checkIssued(p, "listing", l.Home, l.Jurisdiction, l.Node, l.Issued); err != nil {
		return nil, err
	}
	switch {
	case l.Tenant != t.Name:
		return nil, fmt.Errorf("%w: the listing is of tenant %s's adapters, not %s's", ErrTampered, l.Tenant, t.Name)
	case len(l.Adapters) > MaxListed:
		return nil, fmt.Errorf("%w: the listing has %d versions; at most %d are listed", ErrTampered, len(l.Adapters), MaxListed)
	}
	out := make([]Listed, 0, len(l.Adapters))
	for _, a := range l.Adapters {
		if name, version, err := registry.ParseRef(a.Name); err != nil || version != 0 || name != a.Name || a.Version < 1 || a.Size <= 0 || !validSHA256(a.Base.Digest) {
			return nil, fmt.Errorf("%w: the listing's version %q@%d (%d bytes, base sha256 %q) is not well formed", ErrTampered, clip(a.Name), a.Version, a.Size, clip(a.Base.Digest))
		}
		if a.Size <= x.cfg.MaxBytes {
			out = append(out, a)
		}
	}
	return out, nil
}

// listCache keeps each tenant's merged listing for a while, and lets
// concurrent callers share one round of asking. It forgets everything
// when it holds too many tenants.
type listCache struct {
	mu sync.Mutex
	m  map[string]*listEntry
}

type listEntry struct {
	done  chan struct{} // closed once list, until are set
	list  []Listed
	until time.Time
}

// get returns the tenant's listing, kept or from ask (whose ok says
// whether any home answered: if not, the lack is kept only listRetry).
func (c *listCache) get(ctx context.Context, tenantID string, now func() time.Time, ttl time.Duration, ask func() ([]Listed, bool)) []Listed {
	c.mu.Lock()
	e := c.m[tenantID]
	if e != nil {
		select {
		case <-e.done:
			if now().Before(e.until) {
				c.mu.Unlock()
				return e.list
			}
			e = nil
		default: // a round in progress
		}
	}
	if e != nil {
		c.mu.Unlock()
		select {
		case <-e.done:
			return e.list
		case <-ctx.Done():
			return nil
		}
	}
	e = &listEntry{done: make(chan struct{})}
	if c.m == nil || len(c.m) >= listMaxTenants {
		c.m = map[string]*listEntry{}
	}
	c.m[tenantID] = e
	c.mu.Unlock()

	list, ok := ask()
	keep := ttl
	if !ok {
		keep = min(ttl, listRetry)
	}
	c.mu.Lock()
	e.list, e.until = list, now().Add(keep)
	c.mu.Unlock()
	close(e.done)
	return list
}
