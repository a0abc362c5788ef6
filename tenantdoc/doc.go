// Package tenantdoc carries tenant definitions across a fleet as documents
// the operator signs: a tenant's name, policy and limits (or its
// deletion), dated. Every node keeps the newest document it has verified
// for each tenant and applies it to its own tenant database, so an
// operator defines a tenant once, for every node, and no node can change
// another's policy: only the operator key signs, the same key that
// certifies nodes (package fabric).
//
// Sync spreads the documents over the fleet fabric (broadcasts on Subject
// and HelloSubject), so that every node, including one that was down or
// joins later, comes to hold the newest of each.
//
// API keys are not in documents; they stay per node.
package tenantdoc

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hearth-ai/hearth/tenant"
)

// FormatVersion is the document format this package writes and accepts.
const FormatVersion = 1

// domain separates document signatures from every other use of the
// operator key (certificates, anything later).
const domain = "hearth tenant document v1\x00"

// The issue times a document may carry: those whose Unix nanoseconds fit
// an int64.
var (
	minIssued = time.Unix(0, 0).UTC()
	maxIssued = time.Unix(0, math.MaxInt64).UTC()
)

// Errors.
var (
	ErrBadSignature = errors.New("tenantdoc: signature does not verify with the operator key")
	ErrInvalid      = errors.New("tenantdoc: invalid document")
)

// Doc is one tenant's definition as the operator signed it.
type Doc struct {
	Version int           `json:"version"`
	Tenant  string        `json:"tenant"` // the name; ids are per node
	Policy  tenant.Policy `json:"policy"`
	Limits  tenant.Limits `json:"limits"`
	Deleted bool          `json:"deleted,omitempty"` // the tenant is to be removed
	// Issued orders documents: a node applies one only if it is newer
	// than the one it holds for the tenant.
	Issued    time.Time `json:"issued"`
	Signature []byte    `json:"signature,omitempty"`
}

// Sign validates d's tenant, dates it now and signs it.
func Sign(operator ed25519.PrivateKey, d Doc, now time.Time) (*Doc, error) {
	d.Version, d.Issued, d.Signature = FormatVersion, now.UTC().Truncate(time.Millisecond), nil
	if err := d.check(); err != nil {
		return nil, err
	}
	msg, err := d.signed()
	if err != nil {
		return nil, err
	}
	d.Signature = ed25519.Sign(operator, msg)
	return &d, nil
}

// signed is what the signature covers: the domain and the document
// without its signature, as JSON.
func (d *Doc) signed() ([]byte, error) {
	c := *d
	c.Signature = nil
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return append([]byte(domain), b...), nil
}

// check validates the document's fields.
func (d *Doc) check() error {
	if d.Version != FormatVersion {
		return fmt.Errorf("%w: format version %d, want %d", ErrInvalid, d.Version, FormatVersion)
	}
	switch {
	case d.Issued.IsZero():
		return fmt.Errorf("%w: no issue time", ErrInvalid)
	case d.Issued.Before(minIssued) || d.Issued.After(maxIssued):
		// Documents are ordered by their issue time in nanoseconds,
		// which hold only these years.
		return fmt.Errorf("%w: issue time %s is outside %d to %d", ErrInvalid, d.Issued.Format(time.RFC3339), minIssued.Year(), maxIssued.Year())
	}
	t, err := (tenant.Tenant{Name: d.Tenant, Policy: d.Policy, Limits: d.Limits}).Validate()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	d.Policy, d.Limits = t.Policy, t.Limits // normalised as the store keeps them
	return nil
}

// Verify checks the document's fields and its signature by operator.
func (d *Doc) Verify(operator ed25519.PublicKey) error {
	if len(operator) != ed25519.PublicKeySize {
		return fmt.Errorf("tenantdoc: operator key is %d bytes, want %d", len(operator), ed25519.PublicKeySize)
	}
	msg, err := d.signed()
	if err != nil {
		return err
	}
	if !ed25519.Verify(operator, msg, d.Signature) {
		return fmt.Errorf("%w (tenant %q)", ErrBadSignature, d.Tenant)
	}
	c := *d
	if err := c.check(); err != nil {
		return err
	}
	return nil
}

// Parse reads a document (not verifying it: see Verify).
func Parse(data []byte) (*Doc, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d Doc
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the document", ErrInvalid)
	}
	if len(d.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature of %d bytes, want %d", ErrInvalid, len(d.Signature), ed25519.SignatureSize)
	}
	return &d, nil
}

// Marshal writes the document as JSON.
func (d *Doc) Marshal() ([]byte, error) { return json.MarshalIndent(d, "", "  ") }
