package capture

import (
	"context"
	"errors"

	"github.com/hearth-ai/hearth/tenant"
)

// Forwarder takes captures and feedback to a node in the tenant's home
// jurisdiction; capture/relay implements it over the fleet fabric. Without one
// (NoForwarder), a node outside the tenant's home drops the interaction
// rather than store it in the wrong place.
type Forwarder interface {
	// Forward stores f on a node of t's home jurisdiction (by
	// SaveForwarded there) and returns that node's id.
	Forward(ctx context.Context, t tenant.Tenant, f Forwarded) (node string, err error)
	// ForwardFeedback records fb, already checked and scrubbed, on the
	// home node that holds its response (by FeedbackForwarded there) and
	// returns it as recorded, with that node's id. A response that no home
	// node holds for the tenant is ErrNotFound; malformed feedback
	// ErrInvalid.
	ForwardFeedback(ctx context.Context, t tenant.Tenant, fb Feedback) (Feedback, string, error)
}

// Forwarded is an interaction on its way to the tenant's home: the record
// as Save scrubbed it on the serving node, and the end-user id as the
// client sent it. The home node computes the erasure tag from EndUser
// under its own tenant key (the serving node has none) and stores only
// the tag, so that EraseUser there finds the record by the id a client
// knows even when the id itself was scrubbed (an e-mail address).
type Forwarded struct {
	Record  Record `json:"record"`
	EndUser string `json:"end_user,omitempty"`
}

// ErrNoForwarder is NoForwarder's answer.
var ErrNoForwarder = errors.New("capture: no forwarder to the tenant's home jurisdiction")

// NoForwarder forwards nothing.
type NoForwarder struct{}

// Forward returns ErrNoForwarder.
func (NoForwarder) Forward(context.Context, tenant.Tenant, Forwarded) (string, error) {
	return "", ErrNoForwarder
}

// ForwardFeedback returns ErrNoForwarder.
func (NoForwarder) ForwardFeedback(context.Context, tenant.Tenant, Feedback) (Feedback, string, error) {
	return Feedback{}, "", ErrNoForwarder
}

// Gatherer is a Forwarder that also gathers a tenant's captures on one
// node of its home jurisdiction, the tenant's primary, so that datasets
// built there see all of them. A home node that is not the primary sends
// what it captures there; when the primary cannot take it, it keeps it
// itself (it is home too). Data moves only within the home jurisdiction.
type Gatherer interface {
	// ToPrimary delivers the interaction to the tenant's primary home
	// node and names it. It returns ErrIsPrimary when this node is the
	// primary (or none is known), any other error when the primary did
	// not take it.
	ToPrimary(ctx context.Context, t tenant.Tenant, f Forwarded) (node string, err error)
}

// ErrIsPrimary: this node keeps the tenant's captures itself.
var ErrIsPrimary = errors.New("capture: this node is the tenant's primary home node")
