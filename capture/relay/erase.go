package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/admin"
	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/tenant"
)

var _ admin.Eraser = (*Relay)(nil).EraseEverywhere

// eraseLocal erases what this node keeps.
func (r *Relay) eraseLocal(ctx context.Context, t tenant.Tenant, req admin.EraseRequest) (int, error) {
	if req.All {
		err := r.store.DeleteTenantKey(ctx, t.ID)
		if errors.Is(err, capture.ErrNotFound) {
			return 0, nil // no key here: nothing was ever kept
		}
		return 0, err
	}
	if req.ResponseID != "" {
		n, err := r.store.EraseResponse(ctx, t.ID, req.ResponseID)
		if errors.Is(err, capture.ErrNotFound) {
			return 0, nil // not here; maybe on another node
		}
		return n, err
	}
	return r.store.EraseUser(ctx, t.ID, req.User)
}

// minPeerMemory is the least time a node seen is asked to erase: a
// tenant's retention, but never less.
const minPeerMemory = 30 * 24 * time.Hour

// EraseEverywhere is the admin API's Eraser: it erases on this node, then
// on every other certified node that may hold the tenant's captures, in
// parallel. A node that may hold them but is offline, or fails, makes the
// report incomplete (Done false), to be repeated.
func (r *Relay) EraseEverywhere(ctx context.Context, t tenant.Tenant, req admin.EraseRequest) (admin.EraseReport, error) {
	n, err := r.eraseLocal(ctx, t, req)
	if err != nil {
		return admin.EraseReport{}, fmt.Errorf("erase on this node: %w", err)
	}
	self := r.node.ID()
	rep := admin.EraseReport{Erased: n, Done: true,
		Nodes: []admin.NodeErase{{Node: self, Jurisdiction: r.node.Jurisdiction(), Erased: n, Shredded: req.All}}}
	// The nodes that may hold the tenant's captures: those of its home
	// (any, with no home) that are live now or were seen within the
	// retention period; one that is down now makes the erasure
	// incomplete, to be repeated, rather than skipped.
	peers := r.node.Peers()
	live := map[string]string{}
	for _, p := range peers {
		if p.Certified && (t.Policy.Home == "" || p.Jurisdiction == t.Policy.Home) {
			live[p.ID] = p.Jurisdiction
		}
	}
	if err := r.book.note(ctx, peers, time.Now()); err != nil {
		return rep, err
	}
	keep := max(t.Policy.Retention(), minPeerMemory)
	targets, err := r.book.seen(ctx, t.Policy.Home, time.Now().Add(-keep))
	if err != nil {
		return rep, err
	}
	for id, j := range live {
		targets[id] = j
	}
	payload, err := json.Marshal(eraseMsg{Tenant: t.Name, Req: req})
	if err != nil {
		return rep, err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for id, j := range targets {
		if id == self {
			continue
		}
		wg.Go(func() {
			ne := admin.NodeErase{Node: id, Jurisdiction: j}
			if _, up := live[id]; !up {
				ne.Error = "the node is offline; it may still hold the tenant's data"
			} else if b, err := r.node.DeliverTo(ctx, id, KindErase, payload); err != nil {
				ne.Error = err.Error()
			} else if ne.Erased, ne.Error, err = readEraseAnswer(b); err != nil {
				ne.Error = err.Error()
			}
			ne.Shredded = req.All && ne.Error == ""
			mu.Lock()
			defer mu.Unlock()
			rep.Nodes = append(rep.Nodes, ne)
			rep.Erased += ne.Erased
			rep.Done = rep.Done && ne.Error == ""
		})
	}
	wg.Wait()
	sort.Slice(rep.Nodes[1:], func(a, b int) bool { return rep.Nodes[1+a].Node < rep.Nodes[1+b].Node })
	return rep, nil
}

// takeErase serves another node's erasure request. The sender is a
// certified node whose admin API authenticated the request; erasing is
// the one thing a node does for a tenant wherever the request came from.
func (r *Relay) takeErase(ctx context.Context, from fabric.Peer, payload []byte) ([]byte, error) {
	var m eraseMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("erase delivery does not decode: %w", err)
	}
	if !m.Req.Valid() {
		return eraseReply(0, errors.New("give exactly one of response_id, user and all"))
	}
	t, err := r.tenants.GetTenant(ctx, m.Tenant)
	if errors.Is(err, tenant.ErrNotFound) || err == nil && t.Name != m.Tenant {
		return eraseReply(0, nil) // no such tenant here: nothing to erase
	}
	if err != nil {
		return nil, err
	}
	n, err := r.eraseLocal(ctx, t, m.Req)
	if err != nil {
		return eraseReply(0, err)
	}
	r.log.Info("erased captures at another node's request", "tenant", t.Name, "from", from.ID, "erased", n)
	return eraseReply(n, nil)
}
