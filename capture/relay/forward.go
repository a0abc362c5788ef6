package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/route"
	"github.com/hearth-ai/hearth/tenant"
)

// Forwarder is capture.Forwarder and capture.Gatherer over a fabric node:
// it sends captures and feedback to certified nodes of the tenant's home
// jurisdiction. It needs only the node, so it exists before the capture
// store it is given to; until the node starts, a delivery fails (and the
// store drops and counts the capture) as when no home node is reachable.
type Forwarder struct {
	node *fabric.Node
}

var (
	_ capture.Forwarder = (*Forwarder)(nil)
	_ capture.Gatherer  = (*Forwarder)(nil)
)

// NewForwarder returns the forwarder over n.
func NewForwarder(n *fabric.Node) *Forwarder { return &Forwarder{node: n} }

// primaryTimeout bounds a delivery to the tenant's primary home node.
const primaryTimeout = time.Second

// primary is the tenant's primary home node: of the certified nodes of
// its home jurisdiction, the one rendezvous hashing of its name picks, so
// every node agrees while they see the same nodes. "" if none is known.
func primary(n *fabric.Node, t tenant.Tenant) string {
	var ids []string
	for _, p := range n.CertifiedIn(t.Policy.Home) {
		ids = append(ids, p.ID)
	}
	return route.Owner(t.Name, ids)
}

// ToPrimary delivers the interaction to the tenant's primary home node
// (capture.Gatherer).
func (f *Forwarder) ToPrimary(ctx context.Context, t tenant.Tenant, fw capture.Forwarded) (string, error) {
	payload, err := capturePayload(t, fw)
	if err != nil {
		return "", err
	}
	return f.toPrimary(ctx, t, payload)
}

// capturePayload is the capture delivery of fw.
func capturePayload(t tenant.Tenant, fw capture.Forwarded) ([]byte, error) {
	payload, err := json.Marshal(captureMsg{Tenant: t.Name, Forwarded: fw})
	if err != nil {
		return nil, fmt.Errorf("capture forward: %w", err)
	}
	return payload, nil
}

// toPrimary is ToPrimary of an encoded capture delivery.
func (f *Forwarder) toPrimary(ctx context.Context, t tenant.Tenant, payload []byte) (string, error) {
	n := f.node
	p := primary(n, t)
	if p == "" || p == n.ID() {
		return "", capture.ErrIsPrimary
	}
	// The capture runs as the response ends; a primary that is slow to
	// answer must not hold that up long: the interaction stays here.
	ctx, cancel := context.WithTimeout(ctx, primaryTimeout)
	defer cancel()
	reply, err := n.DeliverTo(ctx, p, KindCapture, payload)
	if err != nil {
		return "", err
	}
	if _, err := readAnswer(p, reply); err != nil {
		return "", err
	}
	return p, nil
}

// Forward delivers the interaction to the tenant's primary home node, or,
// failing that, to another certified node of its home jurisdiction.
func (f *Forwarder) Forward(ctx context.Context, t tenant.Tenant, fw capture.Forwarded) (string, error) {
	payload, err := capturePayload(t, fw)
	if err != nil {
		return "", err
	}
	if node, err := f.toPrimary(ctx, t, payload); err == nil {
		return node, nil
	}
	d, err := f.node.Deliver(ctx, t.Policy.Home, KindCapture, payload)
	if err != nil {
		return "", err
	}
	if _, err := readAnswer(d.Node, d.Payload); err != nil {
		return "", err
	}
	return d.Node, nil
}

// ForwardFeedback offers the feedback to each certified node of the home
// jurisdiction in turn until one holds the response: a tenant's captures
// may be spread over the home's nodes. Not found is the answer only when
// every one of them said so; a node that did not answer might hold it.
func (f *Forwarder) ForwardFeedback(ctx context.Context, t tenant.Tenant, fb capture.Feedback) (capture.Feedback, string, error) {
	payload, err := json.Marshal(feedbackMsg{Tenant: t.Name, Feedback: fb})
	if err != nil {
		return capture.Feedback{}, "", fmt.Errorf("capture forward feedback: %w", err)
	}
	peers := f.node.CertifiedIn(t.Policy.Home)
	if len(peers) == 0 {
		return capture.Feedback{}, "", fmt.Errorf("capture forward feedback: %w: %w: none in %s", capture.ErrUnreachable, fabric.ErrNoNode, t.Policy.Home)
	}
	var lost []error
	for _, p := range peers {
		reply, err := f.node.DeliverTo(ctx, p.ID, KindFeedback, payload)
		if err != nil {
			if fabric.IsHandlerError(err) {
				return capture.Feedback{}, "", err // the home node failed: telling another would not help
			}
			lost = append(lost, err)
			continue
		}
		a, err := readAnswer(p.ID, reply)
		switch {
		case errors.Is(err, capture.ErrNotFound):
			continue
		case err != nil:
			return capture.Feedback{}, "", err
		case a.Feedback == nil:
			return capture.Feedback{}, "", fmt.Errorf("capture forward feedback: node %s answered without the feedback", p.ID)
		}
		return *a.Feedback, p.ID, nil
	}
	if len(lost) > 0 {
		return capture.Feedback{}, "", fmt.Errorf("capture forward feedback: response %q not found on the %s nodes that answered: %w: %w: %w",
			fb.ResponseID, t.Policy.Home, capture.ErrUnreachable, fabric.ErrNoNode, errors.Join(lost...))
	}
	return capture.Feedback{}, "", fmt.Errorf("%w: response %q on %d node(s) in %s", capture.ErrNotFound, fb.ResponseID, len(peers), t.Policy.Home)
}
