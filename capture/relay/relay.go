package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/tenant"
)

// Tenants finds a node's tenant by name; *tenant.Store implements it.
type Tenants interface {
	GetTenant(ctx context.Context, nameOrID string) (tenant.Tenant, error)
}

// Config configures a Relay. Every field but Logger is required.
type Config struct {
	// Node is the fabric node the deliveries travel over. New registers
	// the handlers on it, so it is given before the node starts.
	Node *fabric.Node
	// Store is this node's capture store: what other nodes forward is
	// kept there, and erasures erase there.
	Store *capture.Store
	// Tenants names the local tenants forwarded data belongs to.
	Tenants Tenants
	// DB holds the peer book's table.
	DB *db.DB
	// OnFeedback, when set, is told of feedback another node forwarded
	// once it is recorded here, as the API tells its Deployments of local
	// feedback: the rollout whose arm served the response counts it.
	OnFeedback func(ctx context.Context, t tenant.Tenant, fb capture.Feedback)
	Logger     *slog.Logger
}

// Relay is one node's side of the fleet's capture protocols: it keeps
// what other nodes forward to this one (the capture and feedback
// handlers), erases at their request (the capture-erase handler), erases
// everywhere at this node's (EraseEverywhere) and remembers the nodes it
// has seen (TrackPeers).
type Relay struct {
	node    *fabric.Node
	store   *capture.Store
	tenants Tenants
	book    *peerBook
	onFb    func(ctx context.Context, t tenant.Tenant, fb capture.Feedback)
	log     *slog.Logger
}

// New opens the peer book (migrating its table) and registers the
// capture, feedback and capture-erase handlers on cfg.Node.
func New(ctx context.Context, cfg Config) (*Relay, error) {
	if cfg.Node == nil || cfg.Store == nil || cfg.Tenants == nil || cfg.DB == nil {
		return nil, errors.New("relay: Node, Store, Tenants and DB are required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	book, err := openPeerBook(ctx, cfg.DB)
	if err != nil {
		return nil, err
	}
	r := &Relay{node: cfg.Node, store: cfg.Store, tenants: cfg.Tenants, book: book, onFb: cfg.OnFeedback, log: log}
	for kind, h := range map[string]fabric.DeliverHandler{
		KindCapture:  r.takeCapture,
		KindFeedback: r.takeFeedback,
		KindErase:    r.takeErase,
	} {
		if err := cfg.Node.HandleDeliver(kind, h); err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
	}
	return r, nil
}

// trackEvery is how often TrackPeers notes the live peers.
const trackEvery = 10 * time.Second

// TrackPeers notes the node's live certified peers in the peer book now
// and every few seconds, until ctx ends.
func (r *Relay) TrackPeers(ctx context.Context) {
	t := time.NewTicker(trackEvery)
	defer t.Stop()
	for {
		if err := r.book.note(ctx, r.node.Peers(), time.Now()); err != nil && ctx.Err() == nil {
			r.log.Warn("remembering fleet peers", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lookup finds the local tenant of name, as a node that served it
// elsewhere names it, and checks that it may have been served there. A
// refusal is the answer to send instead.
func (r *Relay) lookup(ctx context.Context, name string, from fabric.Peer) (t tenant.Tenant, refused []byte, err error) {
	t, err = r.tenants.GetTenant(ctx, name)
	switch {
	case errors.Is(err, tenant.ErrNotFound) || err == nil && t.Name != name: // a name, never an id: ids are per node
		refused, err = refusal(codeNoTenant, fmt.Sprintf("no tenant %q on this node", name))
	case err != nil:
	case t.Disabled:
		refused, err = refusal(codeNotAllowed, fmt.Sprintf("tenant %s is disabled on this node", name))
	case !t.Policy.AllowsJurisdiction(from.Jurisdiction):
		// A certified node serving a tenant where it may not run must
		// not get its captures kept as if it had been allowed to.
		refused, err = refusal(codeNotAllowed, fmt.Sprintf("tenant %s may not be served in %s, where node %s is", name, from.Jurisdiction, from.ID))
	}
	return t, refused, err
}

// takeCapture stores a forwarded interaction.
func (r *Relay) takeCapture(ctx context.Context, from fabric.Peer, payload []byte) ([]byte, error) {
	var m captureMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("capture delivery does not decode: %w", err)
	}
	t, refused, err := r.lookup(ctx, m.Tenant, from)
	if refused != nil || err != nil {
		return refused, err
	}
	if err := r.store.SaveForwarded(ctx, from.ID, t, m.Forwarded); err != nil {
		r.log.Warn("capture: forwarded interaction refused", "from", from.ID, "tenant", m.Tenant, "response_id", m.Forwarded.Record.ResponseID, "err", err)
		return refuse(err)
	}
	return json.Marshal(captureAnswer{})
}

// takeFeedback records forwarded feedback on the local tenant's response.
func (r *Relay) takeFeedback(ctx context.Context, from fabric.Peer, payload []byte) ([]byte, error) {
	var m feedbackMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("feedback delivery does not decode: %w", err)
	}
	t, refused, err := r.lookup(ctx, m.Tenant, from)
	if refused != nil || err != nil {
		return refused, err
	}
	fb, err := r.store.FeedbackForwarded(ctx, from.ID, t, m.Feedback)
	if err != nil {
		return refuse(err)
	}
	if r.onFb != nil {
		r.onFb(ctx, t, fb)
	}
	return json.Marshal(captureAnswer{Feedback: &fb})
}
