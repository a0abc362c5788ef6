package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/admin"
	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/tenant"
)

// Fleet-wide erasure. A tenant's captures live on the nodes of its home
// jurisdiction (any node, for a tenant with no home), each holding the
// share it served or was forwarded, so one erasure request, made to any
// node through the admin API, erases locally and asks every certified
// node that may hold the tenant's data to erase too, over fabric
// deliveries. Each node erases its captures and, through lineage, the
// dataset examples built from them, and audits it.

const deliverErase = "capture-erase"

// eraseMsg is an erasure delivery's payload: the tenant by name (ids
// differ from node to node) and what to erase.
type eraseMsg struct {
	Tenant string             `json:"tenant"`
	Req    admin.EraseRequest `json:"request"`
}

// eraseAnswer is a node's reply to an erasure delivery.
type eraseAnswer struct {
	Erased int    `json:"erased"`
	Error  string `json:"error,omitempty"`
}

// openErasure opens what erasure needs besides the capture store (whose
// erasures reach the datasets: flywheel.Open): the book of fleet nodes
// seen.
func (s *security) openErasure(ctx context.Context, log *slog.Logger) error {
	var err error
	s.book, err = openPeerBook(ctx, s.db, log)
	return err
}

// eraseLocal erases what this node keeps.
func (s *security) eraseLocal(ctx context.Context, t tenant.Tenant, req admin.EraseRequest) (int, error) {
	if req.All {
		err := s.capture.DeleteTenantKey(ctx, t.ID)
		if errors.Is(err, capture.ErrNotFound) {
			return 0, nil // no key here: nothing was ever kept
		}
		return 0, err
	}
	if req.ResponseID != "" {
		n, err := s.capture.EraseResponse(ctx, t.ID, req.ResponseID)
		if errors.Is(err, capture.ErrNotFound) {
			return 0, nil // not here; maybe on another node
		}
		return n, err
	}
	return s.capture.EraseUser(ctx, t.ID, req.User)
}

// eraseEverywhere is the admin API's Eraser: this node, then every other
// certified node that may hold the tenant's captures, in parallel.
func (s *security) eraseEverywhere(ctx context.Context, t tenant.Tenant, req admin.EraseRequest) (admin.EraseReport, error) {
	n, err := s.eraseLocal(ctx, t, req)
	if err != nil {
		return admin.EraseReport{}, fmt.Errorf("erase on this node: %w", err)
	}
	rep := admin.EraseReport{Erased: n, Done: true}
	self := admin.NodeErase{Node: s.id.ID, Erased: n, Shredded: req.All}
	node := s.forward.node.Load()
	if node == nil {
		rep.Nodes = []admin.NodeErase{self}
		return rep, nil
	}
	self.Jurisdiction = node.Jurisdiction()
	rep.Nodes = []admin.NodeErase{self}
	// The nodes that may hold the tenant's captures: those of its home
	// (any, with no home) that are live now or were seen within the
	// retention period; one that is down now makes the erasure
	// incomplete, to be repeated, rather than skipped.
	live := map[string]string{}
	for _, p := range node.Peers() {
		if p.Certified && (t.Policy.Home == "" || p.Jurisdiction == t.Policy.Home) {
			live[p.ID] = p.Jurisdiction
		}
	}
	if err := s.book.note(ctx, node.Peers(), time.Now()); err != nil {
		return rep, err
	}
	keep := max(t.Policy.Retention(), 30*24*time.Hour)
	targets, err := s.book.seen(ctx, t.Policy.Home, time.Now().Add(-keep))
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
		if id == s.id.ID {
			continue
		}
		wg.Go(func() {
			ne := admin.NodeErase{Node: id, Jurisdiction: j}
			var b []byte
			var err error
			if _, up := live[id]; up {
				b, err = node.DeliverTo(ctx, id, deliverErase, payload)
			} else {
				err = errors.New("the node is offline; it may still hold the tenant's data")
			}
			var a eraseAnswer
			switch {
			case err != nil:
				ne.Error = err.Error()
			case json.Unmarshal(b, &a) != nil:
				ne.Error = "the node's answer does not decode"
			default:
				ne.Erased, ne.Error = a.Erased, a.Error
				ne.Shredded = req.All && a.Error == ""
			}
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
func (s *security) takeErase(log *slog.Logger) fabric.DeliverHandler {
	return func(ctx context.Context, from fabric.Peer, payload []byte) ([]byte, error) {
		var m eraseMsg
		if err := json.Unmarshal(payload, &m); err != nil {
			return nil, fmt.Errorf("erase delivery does not decode: %w", err)
		}
		if !m.Req.Valid() {
			return json.Marshal(eraseAnswer{Error: "give exactly one of response_id, user and all"})
		}
		t, err := s.tenants.GetTenant(ctx, m.Tenant)
		if errors.Is(err, tenant.ErrNotFound) || err == nil && t.Name != m.Tenant {
			return json.Marshal(eraseAnswer{}) // no such tenant here: nothing to erase
		}
		if err != nil {
			return nil, err
		}
		n, err := s.eraseLocal(ctx, t, m.Req)
		if err != nil {
			return json.Marshal(eraseAnswer{Error: err.Error()})
		}
		log.Info("erased captures at another node's request", "tenant", t.Name, "from", from.ID, "erased", n)
		return json.Marshal(eraseAnswer{Erased: n})
	}
}
