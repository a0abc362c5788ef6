package capture

import (
	"context"
	"errors"

	"github.com/hearth-ai/hearth/tenant"
)

// Forwarder takes a scrubbed interaction to a node in the tenant's home
// jurisdiction. The fleet fabric will implement it; until then NoForwarder
// refuses, and the interaction is dropped rather than stored in the wrong
// place.
type Forwarder interface {
	Forward(ctx context.Context, t tenant.Tenant, rec Record) error
}

// ErrNoForwarder is NoForwarder's answer.
var ErrNoForwarder = errors.New("capture: no forwarder to the tenant's home jurisdiction")

// NoForwarder forwards nothing.
type NoForwarder struct{}

// Forward returns ErrNoForwarder.
func (NoForwarder) Forward(context.Context, tenant.Tenant, Record) error { return ErrNoForwarder }
