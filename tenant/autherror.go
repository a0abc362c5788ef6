package tenant

import (
	"errors"
	"fmt"
)

// A refused API key has two audiences. The node's operator needs the
// detail (which key, revoked or expired when, which tenant) in the log and
// the audit log; the caller, who may be anyone holding a leaked or guessed
// key, must learn none of it. So every error Authenticate returns carries
// both: Error() is the detail, PublicMessage() what may go on the wire.

// authError is a refused authentication.
type authError struct {
	public string
	detail string  // without the ErrUnauthenticated prefix
	kind   []error // ErrUnauthenticated, and ErrRevoked, ErrExpired or ErrDisabled
}

func (e *authError) Error() string {
	s := ErrUnauthenticated.Error() + ": "
	for _, k := range e.kind[1:] {
		s += k.Error() + ": "
	}
	return s + e.detail
}

func (e *authError) Unwrap() []error { return e.kind }

// PublicMessage is what the caller may be told.
func (e *authError) PublicMessage() string { return e.public }

// Public messages: nothing in them names a key, a time or a tenant.
const (
	publicInvalid  = "invalid API key"
	publicRevoked  = "API key revoked or expired"
	publicDisabled = "API key disabled"
)

func refused(public string, kind error, format string, args ...any) error {
	ks := []error{ErrUnauthenticated}
	if kind != nil {
		ks = append(ks, kind)
	}
	return &authError{public: public, detail: fmt.Sprintf(format, args...), kind: ks}
}

// PublicMessage returns what a caller refused with err may be told: the
// public message of the authentication error in err's chain, or "invalid
// API key" for any other error, so that a detail never reaches a client by
// default.
func PublicMessage(err error) string {
	var pm interface{ PublicMessage() string }
	if errors.As(err, &pm) {
		return pm.PublicMessage()
	}
	return publicInvalid
}
