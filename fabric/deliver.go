package fabric

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Deliveries: one signed message from one node to a certified node of a
// jurisdiction, answered by one signed reply. Data that must live in a
// particular jurisdiction (a tenant's captures) travels this way to a
// node that may keep it.
//
//	hearth.deliver.<jurisdiction>.<node id>.<kind>   requests (signed envelopes), NATS request/reply
//
// The sender picks the node from its own registry (certified, in the
// jurisdiction), so the payload is never published to a subject that an
// uncertified node is entitled to take; the receiver checks that the
// sender is a certified peer and that it is itself certified for the
// jurisdiction the sender named; the reply is signed by the receiver, and
// the sender accepts it only from the node it addressed. A node that is
// not certified (no certificate, expired, or for another place) neither
// receives deliveries nor can acknowledge one.

// Errors of deliveries.
var (
	// ErrNoNode: no certified node of the jurisdiction took the delivery
	// (none in the registry, or none answered).
	ErrNoNode = errors.New("fabric: no certified node of the jurisdiction took the delivery")
	// ErrBadReply: a reply that does not verify (wrong signer, or for
	// another request). The delivery is not confirmed.
	ErrBadReply = errors.New("fabric: delivery reply does not verify")
)

// DeliverHandler takes one delivery of its kind, sent by the certified
// peer from, and returns the reply payload. An error reaches the sender
// as a *RemoteError of kind "error" (IsHandlerError). It may be set
// before Start. It must return soon after ctx ends.
type DeliverHandler func(ctx context.Context, from Peer, payload []byte) ([]byte, error)

// Delivered is a delivery's answer.
type Delivered struct {
	Node    string // the node that took it
	Payload []byte // its handler's reply
}

// DeliverSubject is where node id, claiming jurisdiction j, takes
// deliveries of kind.
func DeliverSubject(j, id, kind string) string { return deliverPrefix + j + "." + id + "." + kind }

const deliverPrefix = "hearth.deliver."

// Domains separate delivery and reply signatures from each other and from
// every other use of a node's key.
const (
	deliverDomain      = "hearth fabric deliver v1\x00"
	deliverReplyDomain = "hearth fabric deliver reply v1\x00"
)

// validKind checks a delivery kind: one NATS subject token of a-z, 0-9
// and '-', so it can neither widen a subscription nor add a token.
func validKind(kind string) error {
	if kind == "" || len(kind) > 32 {
		return fmt.Errorf("fabric: delivery kind %q must be 1 to 32 characters", kind)
	}
	for _, r := range kind {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("fabric: delivery kind %q has %q; allowed: a-z, 0-9, '-'", kind, r)
		}
	}
	return nil
}

// deliverWire is the signed body of a delivery: the payload and everything
// that says where it may go, so that it cannot be pointed at another node,
// jurisdiction or handler, nor replayed later.
type deliverWire struct {
	ID           string    `json:"id"`
	From         string    `json:"from"`
	To           string    `json:"to"`
	Jurisdiction string    `json:"jurisdiction"`
	Kind         string    `json:"kind"`
	Sent         time.Time `json:"sent"`
	Payload      []byte    `json:"payload"`
}

// deliverReply is the signed body of the answer: bound to the request by
// its ID, sender, kind and jurisdiction.
type deliverReply struct {
	ID           string    `json:"id"`   // the request's
	From         string    `json:"from"` // the replying node
	To           string    `json:"to"`   // the sender
	Jurisdiction string    `json:"jurisdiction"`
	Kind         string    `json:"kind"`
	Sent         time.Time `json:"sent"`
	ErrKind      string    `json:"err_kind,omitempty"` // errKindRefused or errKindHandler; "" on success
	Message      string    `json:"message,omitempty"`
	Payload      []byte    `json:"payload,omitempty"`
}

// signedEnvelope carries a body's exact signed bytes.
type signedEnvelope struct {
	Body json.RawMessage `json:"body"`
	Sig  []byte          `json:"sig"`
}

func signBody(priv ed25519.PrivateKey, domain string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("fabric: encode delivery: %w", err)
	}
	sig := ed25519.Sign(priv, append([]byte(domain), body...))
	return json.Marshal(signedEnvelope{Body: body, Sig: sig})
}

// openBody decodes an envelope and its body, without verifying: the
// signer is named inside.
func openBody(data []byte, v any) (signedEnvelope, error) {
	var env signedEnvelope
	if err := json.Unmarshal(data, &env); err != nil {
		return env, fmt.Errorf("malformed envelope: %v", err)
	}
	if err := json.Unmarshal(env.Body, v); err != nil {
		return env, fmt.Errorf("malformed body: %v", err)
	}
	return env, nil
}

// CertifiedIn returns the live peers this node holds certified for
// jurisdiction j, in the order Deliver tries them: this node first, then
// by measured round trip (unmeasured last), then by ID.
func (n *Node) CertifiedIn(j string) []Peer {
	var out []Peer
	for _, p := range n.Peers() {
		if p.Certified && p.Jurisdiction == j {
			out = append(out, p)
		}
	}
	rank := func(p Peer) time.Duration {
		switch {
		case p.Self:
			return -1
		case p.RTT == 0:
			return time.Duration(1<<63 - 1)
		}
		return p.RTT
	}
	slices.SortStableFunc(out, func(a, b Peer) int { return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a.ID, b.ID)) })
	return out
}

// Deliver sends payload to one certified node of jurisdiction j that
// handles kind, trying them in CertifiedIn order: a node that does not
// answer within Config.DeliverTimeout, has no handler, refuses, or whose
// reply does not verify is passed over for the next. A handler's error is
// final (a *RemoteError; the next node would most likely say the same).
// When no node takes it the error wraps ErrNoNode and names j.
func (n *Node) Deliver(ctx context.Context, j, kind string, payload []byte) (Delivered, error) {
	if err := validKind(kind); err != nil {
		return Delivered{}, err
	}
	peers := n.CertifiedIn(j)
	if len(peers) == 0 {
		return Delivered{}, fmt.Errorf("fabric: deliver %s to %s: %w: the registry holds no certified node in %s", kind, j, ErrNoNode, j)
	}
	var errs []error
	for _, p := range peers {
		reply, err := n.deliverTo(ctx, p, kind, payload)
		if err == nil {
			return Delivered{Node: p.ID, Payload: reply}, nil
		}
		if IsHandlerError(err) {
			return Delivered{}, err
		}
		if ctx.Err() != nil {
			return Delivered{}, fmt.Errorf("fabric: deliver %s to %s: %w", kind, j, context.Cause(ctx))
		}
		errs = append(errs, err)
	}
	return Delivered{}, fmt.Errorf("fabric: deliver %s to %s: %w: %w", kind, j, ErrNoNode, errors.Join(errs...))
}

// DeliverTo sends payload to node id, which must be a certified peer, and
// returns its handler's reply.
func (n *Node) DeliverTo(ctx context.Context, id, kind string, payload []byte) ([]byte, error) {
	if err := validKind(kind); err != nil {
		return nil, err
	}
	p, ok := n.Peer(id)
	if !ok {
		return nil, fmt.Errorf("fabric: deliver %s: node %s is not in the registry: %w", kind, id, ErrPeerLost)
	}
	return n.deliverTo(ctx, p, kind, payload)
}

// deliverTo sends one delivery to p and verifies its reply.
func (n *Node) deliverTo(ctx context.Context, p Peer, kind string, payload []byte) ([]byte, error) {
	if !p.Certified {
		return nil, fmt.Errorf("fabric: deliver %s: node %s (%s): %w: %s", kind, p.ID, p.Jurisdiction, ErrUncertifiedPeer, p.CertProblem)
	}
	nc := n.conn()
	if nc == nil || !n.isRunning() {
		return nil, fmt.Errorf("fabric: deliver %s: node %s is not running", kind, n.ID())
	}
	w := deliverWire{ID: newRequestID(), From: n.ID(), To: p.ID, Jurisdiction: p.Jurisdiction, Kind: kind,
		Sent: n.cfg.Now().UTC(), Payload: payload}
	data, err := signBody(n.cfg.Identity.Private, deliverDomain, &w)
	if err != nil {
		return nil, err
	}
	if limit := nc.MaxPayload(); int64(len(data)) > limit {
		return nil, fmt.Errorf("fabric: deliver %s to %s: %d bytes signed, more than NATS's limit of %d", kind, p.ID, len(data), limit)
	}
	actx, cancel := context.WithTimeout(ctx, n.cfg.DeliverTimeout)
	defer cancel()
	m, err := nc.RequestWithContext(actx, DeliverSubject(p.Jurisdiction, p.ID, kind), data)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("fabric: deliver %s to %s (%s): the node takes no such deliveries: %w", kind, p.ID, p.Jurisdiction, ErrPeerLost)
	case err != nil && ctx.Err() == nil && actx.Err() != nil:
		return nil, fmt.Errorf("fabric: deliver %s to %s (%s): no answer within %v: %w", kind, p.ID, p.Jurisdiction, n.cfg.DeliverTimeout, ErrPeerLost)
	case err != nil:
		return nil, fmt.Errorf("fabric: deliver %s to %s (%s): %w", kind, p.ID, p.Jurisdiction, err)
	}
	return n.openReply(p, &w, m.Data)
}

// openReply verifies the answer to w from p: signed with p's key, by the
// node addressed, for this request, and p still certified in the
// jurisdiction (so a node elsewhere, or one whose certificate lapsed,
// cannot acknowledge data and swallow it).
func (n *Node) openReply(p Peer, w *deliverWire, data []byte) ([]byte, error) {
	var r deliverReply
	env, err := openBody(data, &r)
	if err != nil {
		return nil, fmt.Errorf("fabric: deliver %s to %s: %w: %s", w.Kind, p.ID, ErrBadReply, err)
	}
	if r.From != p.ID {
		return nil, fmt.Errorf("fabric: deliver %s to %s: %w: the reply claims to be from %s", w.Kind, p.ID, ErrBadReply, r.From)
	}
	if !ed25519.Verify(p.PublicKey, append([]byte(deliverReplyDomain), env.Body...), env.Sig) {
		return nil, fmt.Errorf("fabric: deliver %s to %s: %w: signature does not verify with the node's key", w.Kind, p.ID, ErrBadReply)
	}
	if r.ID != w.ID || r.To != n.ID() || r.Kind != w.Kind || r.Jurisdiction != w.Jurisdiction {
		return nil, fmt.Errorf("fabric: deliver %s to %s: %w: the reply is for request %s of %s (%s to %s), not this one",
			w.Kind, p.ID, ErrBadReply, r.ID, r.To, r.Kind, r.Jurisdiction)
	}
	now, ok := n.Peer(p.ID)
	if !ok || !now.Certified || now.Jurisdiction != w.Jurisdiction || !now.PublicKey.Equal(p.PublicKey) {
		return nil, fmt.Errorf("fabric: deliver %s to %s: %w: the node is no longer certified in %s", w.Kind, p.ID, ErrBadReply, w.Jurisdiction)
	}
	if r.ErrKind != "" {
		return nil, &RemoteError{Node: p.ID, Kind: r.ErrKind, Message: r.Message}
	}
	return r.Payload, nil
}
