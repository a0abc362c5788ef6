package node

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/tenant"
	"github.com/hearth-ai/hearth/tenantdoc"
)

// Operator-signed tenant documents travel the fleet by broadcast: a node
// (or `hearth fleet tenant push`) publishes a document on TenantDocSubject
// and every node verifies it against the operator key and applies it if
// it is newer than what it holds. So that a node that was down, or joins
// later, catches up, every node passes on all it holds every
// tenantDocEvery, and at once when a newcomer says hello or when it sees a
// node it has not seen before.
const (
	TenantDocSubject = "hearth.tenantdoc"
	tenantDocHello   = "hearth.tenantdoc.hello"
	tenantDocEvery   = time.Minute
)

// tenantSync is one node's part in spreading tenant documents.
type tenantSync struct {
	book  *tenantdoc.Book
	nc    *nats.Conn
	audit *audit.Log
	node  string
	log   *slog.Logger

	mu       sync.Mutex
	lastSent time.Time
}

// startTenantSync subscribes the node to tenant documents and starts
// passing on what it holds. stop ends it.
func startTenantSync(book *tenantdoc.Book, n *fabric.Node, al *audit.Log, log *slog.Logger) (stop func(), err error) {
	ts := &tenantSync{book: book, nc: n.Conn(), audit: al, node: n.ID(), log: log}
	docs, err := ts.nc.Subscribe(TenantDocSubject, func(m *nats.Msg) { ts.take(m.Data) })
	if err != nil {
		return nil, err
	}
	hello, err := ts.nc.Subscribe(tenantDocHello, func(*nats.Msg) { ts.passOn(5 * time.Second) })
	if err != nil {
		docs.Unsubscribe()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		ts.nc.Publish(tenantDocHello, nil) // ask the fleet for what it holds
		every := time.NewTicker(tenantDocEvery)
		defer every.Stop()
		// A node that joins sees no route at first, so its hello may go
		// nowhere: whoever sees a node it has not seen before passes on
		// what it holds.
		look := time.NewTicker(time.Second)
		defer look.Stop()
		seen := map[string]bool{}
		for {
			select {
			case <-ctx.Done():
				return
			case <-every.C:
				ts.passOn(0)
			case <-look.C:
				fresh := false
				for _, p := range n.Peers() {
					if !seen[p.ID] {
						seen[p.ID], fresh = true, true
					}
				}
				if fresh {
					ts.passOn(0)
				}
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
		docs.Unsubscribe()
		hello.Unsubscribe()
	}, nil
}

// take applies one document, auditing a change.
func (ts *tenantSync) take(data []byte) {
	ctx := context.Background()
	// The change's record is written inside it: a document whose change
	// the audit log cannot record is not applied (it comes again).
	doc, err := tenantdoc.Parse(data)
	if err != nil {
		ts.log.Warn("tenant document refused", "err", err)
		return
	}
	action := "tenant.apply"
	if doc.Deleted {
		action = "tenant.delete"
	}
	record := func(ctx context.Context, c tenant.Change) error {
		if ts.audit == nil {
			return nil
		}
		_, err := ts.audit.Append(ctx, audit.Record{Kind: audit.KindAdmin, Tenant: doc.Tenant, Decision: audit.DecisionAllow,
			Reason: action + " (operator-signed document)", Detail: map[string]string{"action": action, "via": "tenant document",
				"issued": doc.Issued.Format(time.RFC3339Nano), "tenant_id": c.Tenant.ID}})
		return err
	}
	applied, d, err := ts.book.Apply(ctx, data, record)
	switch {
	case err != nil:
		ts.log.Warn("tenant document refused", "err", err)
	case applied:
		ts.log.Info("tenant document applied", "tenant", d.Tenant, "issued", d.Issued, "deleted", d.Deleted)
	}
}

// passOn publishes every document the node holds, unless it did so less
// than minGap ago.
func (ts *tenantSync) passOn(minGap time.Duration) {
	ts.mu.Lock()
	if minGap > 0 && time.Since(ts.lastSent) < minGap {
		ts.mu.Unlock()
		return
	}
	ts.lastSent = time.Now()
	ts.mu.Unlock()
	docs, err := ts.book.All(context.Background())
	if err != nil {
		ts.log.Warn("tenant documents: list", "err", err)
		return
	}
	for _, d := range docs {
		if err := ts.nc.Publish(TenantDocSubject, d); err != nil {
			ts.log.Warn("tenant documents: publish", "err", err)
			return
		}
	}
}
