package tenantdoc

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/tenant"
)

// Documents travel the fleet by broadcast: a node (or `hearth fleet
// tenant push`) publishes a document on Subject, and every node verifies
// it against the operator key and applies it if it is newer than what it
// holds. So that a node that was down, or joins later, catches up, every
// node passes on all it holds every passOnEvery, and at once when a
// newcomer says hello on HelloSubject or when it sees a node it has not
// seen before.
const (
	Subject      = "hearth.tenantdoc"
	HelloSubject = "hearth.tenantdoc.hello"
)

const (
	passOnEvery = time.Minute
	// helloGap bounds how often hellos make a node pass on what it holds:
	// a fleet starting at once says hello many times.
	helloGap = 5 * time.Second
	// lookEvery is how often Run looks for nodes it has not seen.
	lookEvery = time.Second
)

// Fabric is what Sync needs of the fleet: broadcasts and the live nodes.
// *fabric.Node provides it.
type Fabric interface {
	Publish(subject string, data []byte) error
	Subscribe(subject string, f func(data []byte)) (unsubscribe func(), err error)
	Peers() []fabric.Peer
}

// Auditor records the change an applied document makes. *audit.Log and
// audit.Appender provide it.
type Auditor interface {
	Append(ctx context.Context, r audit.Record) (audit.Record, error)
}

// Sync is one node's part in spreading tenant documents: it applies the
// documents it hears to its Book and passes on what the Book holds.
type Sync struct {
	book  *Book
	fab   Fabric
	audit Auditor // nil: changes are not audited
	log   *slog.Logger

	mu       sync.Mutex
	lastSent time.Time
}

// NewSync returns a Sync of book over fab; it does nothing until Run.
// Applied documents are recorded with al (nil records nothing); a nil log
// discards.
func NewSync(book *Book, fab Fabric, al Auditor, log *slog.Logger) *Sync {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sync{book: book, fab: fab, audit: al, log: log}
}

// Run subscribes to documents and hellos, says hello, and passes on what
// the book holds until ctx ends; it returns nil then, having
// unsubscribed, so that no document is applied after it returns. It
// returns early only if it cannot subscribe. It may run before the
// fabric starts (a fabric.Node makes the subscriptions at Start): the
// hello is repeated until it can be sent.
func (s *Sync) Run(ctx context.Context) error {
	stopDocs, err := s.fab.Subscribe(Subject, s.take)
	if err != nil {
		return err
	}
	defer stopDocs()
	stopHello, err := s.fab.Subscribe(HelloSubject, func([]byte) { s.passOn(helloGap) })
	if err != nil {
		return err
	}
	defer stopHello()

	// Ask the fleet for what it holds.
	greeted := s.fab.Publish(HelloSubject, nil) == nil
	every := time.NewTicker(passOnEvery)
	defer every.Stop()
	// A node that joins sees no route at first, so its hello may go
	// nowhere: whoever sees a node it has not seen before passes on what
	// it holds.
	look := time.NewTicker(lookEvery)
	defer look.Stop()
	seen := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-every.C:
			s.passOn(0)
		case <-look.C:
			if !greeted {
				greeted = s.fab.Publish(HelloSubject, nil) == nil
			}
			fresh := false
			for _, p := range s.fab.Peers() {
				if !seen[p.ID] {
					seen[p.ID], fresh = true, true
				}
			}
			if fresh {
				s.passOn(0)
			}
		}
	}
}

// take applies one document, auditing the change.
func (s *Sync) take(data []byte) {
	ctx := context.Background()
	doc, err := Parse(data)
	if err != nil {
		s.log.Warn("tenant document refused", "err", err)
		return
	}
	action := "tenant.apply"
	if doc.Deleted {
		action = "tenant.delete"
	}
	// The change's record is written inside it: a document whose change
	// the audit log cannot record is not applied (it comes again).
	record := func(ctx context.Context, c tenant.Change) error {
		if s.audit == nil {
			return nil
		}
		_, err := s.audit.Append(ctx, audit.Record{Kind: audit.KindAdmin, Tenant: doc.Tenant, Decision: audit.DecisionAllow,
			Reason: action + " (operator-signed document)", Detail: map[string]string{"action": action, "via": "tenant document",
				"issued": doc.Issued.Format(time.RFC3339Nano), "tenant_id": c.Tenant.ID}})
		return err
	}
	applied, err := s.book.apply(ctx, data, doc, []tenant.CommitHook{record})
	switch {
	case err != nil:
		s.log.Warn("tenant document refused", "err", err)
	case applied:
		s.log.Info("tenant document applied", "tenant", doc.Tenant, "issued", doc.Issued, "deleted", doc.Deleted)
	}
}

// passOn publishes every document the node holds, unless it did so less
// than minGap ago.
func (s *Sync) passOn(minGap time.Duration) {
	s.mu.Lock()
	if minGap > 0 && time.Since(s.lastSent) < minGap {
		s.mu.Unlock()
		return
	}
	s.lastSent = time.Now()
	s.mu.Unlock()
	docs, err := s.book.All(context.Background())
	if err != nil {
		s.log.Warn("tenant documents: list", "err", err)
		return
	}
	for _, d := range docs {
		if err := s.fab.Publish(Subject, d); err != nil {
			s.log.Warn("tenant documents: publish", "err", err)
			return
		}
	}
}
