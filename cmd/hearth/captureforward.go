package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/route"
	"github.com/hearth-ai/hearth/tenant"
)

// Capture forwarding: a node that serves a tenant outside the tenant's
// home jurisdiction sends the scrubbed interaction, and later feedback on
// it, to a certified node of the home jurisdiction as fabric deliveries;
// that node keeps them under its own tenant of the same name (tenant ids
// differ from node to node). The fabric authenticates both ends; the
// capture store on each side applies the policy, scrubs, seals and audits.

// Delivery kinds.
const (
	deliverCapture  = "capture"
	deliverFeedback = "feedback"
)

// captureMsg is a capture delivery's payload.
type captureMsg struct {
	Tenant    string            `json:"tenant"` // name
	Forwarded capture.Forwarded `json:"forwarded"`
}

// feedbackMsg is a feedback delivery's payload.
type feedbackMsg struct {
	Tenant   string           `json:"tenant"` // name
	Feedback capture.Feedback `json:"feedback"`
}

// captureAnswer is the home node's reply: an error code the sender maps
// back to capture's errors, or the feedback as recorded.
type captureAnswer struct {
	Error    string            `json:"error,omitempty"`
	Message  string            `json:"message,omitempty"`
	Feedback *capture.Feedback `json:"feedback,omitempty"`
}

// Error codes of captureAnswer.
const (
	codeNotFound   = "not_found"
	codeInvalid    = "invalid"
	codeNotHome    = "not_home"
	codeNotAllowed = "not_allowed"
	codeNoTenant   = "unknown_tenant"
)

var codeErrors = []struct {
	code string
	err  error
}{
	{codeNotFound, capture.ErrNotFound},
	{codeNotFound, capture.ErrKeyDeleted},
	{codeInvalid, capture.ErrInvalid},
	{codeNotHome, capture.ErrNotHome},
	{codeNotAllowed, capture.ErrNotAllowed},
}

// answerErr turns a capture error into an answer; an error with no code
// is the handler's (a fabric error to the sender).
func answerErr(err error) ([]byte, error) {
	for _, c := range codeErrors {
		if errors.Is(err, c.err) {
			return json.Marshal(captureAnswer{Error: c.code, Message: err.Error()})
		}
	}
	return nil, err
}

// captureForwarder is capture.Forwarder over the fleet fabric. The store
// is opened before the fabric node exists: until attach gives it the node
// it forwards nothing (and the store drops and counts what it is given).
type captureForwarder struct {
	node atomic.Pointer[fabric.Node]
}

var (
	_ capture.Forwarder = (*captureForwarder)(nil)
	_ capture.Gatherer  = (*captureForwarder)(nil)
)

func (f *captureForwarder) running() (*fabric.Node, error) {
	n := f.node.Load()
	if n == nil {
		return nil, fmt.Errorf("%w: the fleet fabric is not running", capture.ErrNoForwarder)
	}
	return n, nil
}

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
func (f *captureForwarder) ToPrimary(ctx context.Context, t tenant.Tenant, fw capture.Forwarded) (string, error) {
	n, err := f.running()
	if err != nil {
		return "", capture.ErrIsPrimary // no fabric: keep it here
	}
	p := primary(n, t)
	if p == "" || p == n.ID() {
		return "", capture.ErrIsPrimary
	}
	payload, err := json.Marshal(captureMsg{Tenant: t.Name, Forwarded: fw})
	if err != nil {
		return "", fmt.Errorf("capture forward: %w", err)
	}
	// The capture runs as the response ends; a primary that is slow to
	// answer must not hold that up long: the interaction stays here.
	ctx, cancel := context.WithTimeout(ctx, primaryTimeout)
	defer cancel()
	reply, err := n.DeliverTo(ctx, p, deliverCapture, payload)
	if err != nil {
		return "", err
	}
	if _, err := readAnswer(p, reply); err != nil {
		return "", err
	}
	return p, nil
}

// primaryTimeout bounds a delivery to the tenant's primary home node.
const primaryTimeout = time.Second

// Forward delivers the interaction to the tenant's primary home node, or,
// failing that, to another certified node of its home jurisdiction.
func (f *captureForwarder) Forward(ctx context.Context, t tenant.Tenant, fw capture.Forwarded) (string, error) {
	n, err := f.running()
	if err != nil {
		return "", err
	}
	if node, err := f.ToPrimary(ctx, t, fw); err == nil {
		return node, nil
	}
	payload, err := json.Marshal(captureMsg{Tenant: t.Name, Forwarded: fw})
	if err != nil {
		return "", fmt.Errorf("capture forward: %w", err)
	}
	d, err := n.Deliver(ctx, t.Policy.Home, deliverCapture, payload)
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
func (f *captureForwarder) ForwardFeedback(ctx context.Context, t tenant.Tenant, fb capture.Feedback) (capture.Feedback, string, error) {
	n, err := f.running()
	if err != nil {
		return capture.Feedback{}, "", err
	}
	payload, err := json.Marshal(feedbackMsg{Tenant: t.Name, Feedback: fb})
	if err != nil {
		return capture.Feedback{}, "", fmt.Errorf("capture forward feedback: %w", err)
	}
	peers := n.CertifiedIn(t.Policy.Home)
	if len(peers) == 0 {
		return capture.Feedback{}, "", fmt.Errorf("capture forward feedback: %w: %w: none in %s", capture.ErrUnreachable, fabric.ErrNoNode, t.Policy.Home)
	}
	var lost []error
	for _, p := range peers {
		reply, err := n.DeliverTo(ctx, p.ID, deliverFeedback, payload)
		if err != nil {
			if re, ok := errors.AsType[*fabric.RemoteError](err); ok && re.Kind == "error" {
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

// readAnswer decodes a home node's answer, its error code as capture's
// error.
func readAnswer(node string, payload []byte) (captureAnswer, error) {
	var a captureAnswer
	if err := json.Unmarshal(payload, &a); err != nil {
		return a, fmt.Errorf("capture forward: node %s's answer does not decode: %w", node, err)
	}
	if a.Error == "" {
		return a, nil
	}
	for _, c := range codeErrors {
		if c.code == a.Error {
			return a, fmt.Errorf("%w (said node %s): %s", c.err, node, a.Message)
		}
	}
	if a.Error == codeNoTenant {
		return a, fmt.Errorf("%w: node %s: %s", capture.ErrNotFound, node, a.Message)
	}
	return a, fmt.Errorf("capture forward: node %s: %s: %s", node, a.Error, a.Message)
}

// captureHome keeps what other nodes forward: its handlers take the
// deliveries for this node's capture store.
type captureHome struct {
	store   *capture.Store
	tenants interface {
		GetTenant(ctx context.Context, nameOrID string) (tenant.Tenant, error)
	}
	log *slog.Logger
}

// lookup finds the local tenant of name, as a node that served it
// elsewhere names it, and checks that it may have been served there.
func (h *captureHome) lookup(ctx context.Context, name string, from fabric.Peer) (tenant.Tenant, []byte, error) {
	t, err := h.tenants.GetTenant(ctx, name)
	if errors.Is(err, tenant.ErrNotFound) || err == nil && t.Name != name { // a name, never an id: ids are per node
		b, err := json.Marshal(captureAnswer{Error: codeNoTenant, Message: fmt.Sprintf("no tenant %q on this node", name)})
		return t, b, err
	}
	if err != nil {
		return t, nil, err
	}
	if t.Disabled {
		b, err := json.Marshal(captureAnswer{Error: codeNotAllowed, Message: fmt.Sprintf("tenant %s is disabled on this node", name)})
		return t, b, err
	}
	if !t.Policy.AllowsJurisdiction(from.Jurisdiction) {
		// A certified node serving a tenant where it may not run must
		// not get its captures kept as if it had been allowed to.
		b, err := json.Marshal(captureAnswer{Error: codeNotAllowed,
			Message: fmt.Sprintf("tenant %s may not be served in %s, where node %s is", name, from.Jurisdiction, from.ID)})
		return t, b, err
	}
	return t, nil, nil
}

// takeCapture stores a forwarded interaction.
func (h *captureHome) takeCapture(ctx context.Context, from fabric.Peer, payload []byte) ([]byte, error) {
	var m captureMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("capture delivery does not decode: %w", err)
	}
	t, refusal, err := h.lookup(ctx, m.Tenant, from)
	if refusal != nil || err != nil {
		return refusal, err
	}
	if err := h.store.SaveForwarded(ctx, from.ID, t, m.Forwarded); err != nil {
		h.log.Warn("capture: forwarded interaction refused", "from", from.ID, "tenant", m.Tenant, "response_id", m.Forwarded.Record.ResponseID, "err", err)
		return answerErr(err)
	}
	return json.Marshal(captureAnswer{})
}

// takeFeedback records forwarded feedback on the local tenant's response.
func (h *captureHome) takeFeedback(ctx context.Context, from fabric.Peer, payload []byte) ([]byte, error) {
	var m feedbackMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("feedback delivery does not decode: %w", err)
	}
	t, refusal, err := h.lookup(ctx, m.Tenant, from)
	if refusal != nil || err != nil {
		return refusal, err
	}
	fb, err := h.store.FeedbackForwarded(ctx, from.ID, t, m.Feedback)
	if err != nil {
		return answerErr(err)
	}
	return json.Marshal(captureAnswer{Feedback: &fb})
}

// attachFabric gives the capture forwarder its fabric node and makes the
// node keep captures and feedback forwarded by other nodes (which it
// does only while certified, and only for tenants whose home is here).
func (s *security) attachFabric(n *fabric.Node, log *slog.Logger) error {
	home := &captureHome{store: s.capture, tenants: s.tenants, log: log}
	if err := n.HandleDeliver(deliverCapture, home.takeCapture); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := n.HandleDeliver(deliverFeedback, home.takeFeedback); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := n.HandleDeliver(deliverErase, s.takeErase(log)); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := s.anchor.attach(n, s.audit); err != nil {
		return err
	}
	s.stopBook = s.book.track(n, 10*time.Second)
	s.forward.node.Store(n)
	return nil
}
