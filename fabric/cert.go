package fabric

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/tenant"
)

// CertVersion is the certificate format this package writes and accepts.
const CertVersion = 1

// certDomain separates certificate signatures from every other use of an
// operator key: a signature over these bytes can never be replayed as a
// signature over a heartbeat or anything else.
const certDomain = "hearth fabric node certificate v1\x00"

// Errors Verify returns, wrapped with the certificate's node ID.
var (
	// ErrBadSignature: the operator key did not sign these exact fields
	// (a tampered certificate, or another operator's).
	ErrBadSignature = errors.New("fabric: certificate signature does not verify with the operator key")
	// ErrExpired: now is at or after the certificate's expiry.
	ErrExpired = errors.New("fabric: certificate expired")
	// ErrNotYetValid: now is before the certificate's issue time.
	ErrNotYetValid = errors.New("fabric: certificate not yet valid")
	// ErrInvalidCert: the certificate is malformed (unknown version, bad
	// key length, a node ID that is not the key's).
	ErrInvalidCert = errors.New("fabric: invalid certificate")
)

// Cert is an operator's statement that the node holding NodePublic runs at
// Site in Jurisdiction between Issued and Expires. Times have whole-second
// precision, in UTC.
type Cert struct {
	Version      int
	NodeID       string // identity.NodeID(NodePublic)
	NodePublic   ed25519.PublicKey
	Site         string
	Jurisdiction string
	Issued       time.Time
	Expires      time.Time
	Signature    []byte // ed25519 by the operator over signedBytes()
}

// Certify signs a certificate for nodePub, valid from now (truncated to the
// second) for validity.
func Certify(operatorPriv ed25519.PrivateKey, nodePub ed25519.PublicKey, site, jurisdiction string, validity time.Duration, now time.Time) (*Cert, error) {
	if len(operatorPriv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("fabric: certify: operator key is %d bytes; an ed25519 private key has %d", len(operatorPriv), ed25519.PrivateKeySize)
	}
	if len(nodePub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("fabric: certify: node key is %d bytes; an ed25519 public key has %d", len(nodePub), ed25519.PublicKeySize)
	}
	if err := ValidateSite(site); err != nil {
		return nil, fmt.Errorf("fabric: certify: %w", err)
	}
	if err := tenant.ValidateJurisdiction(jurisdiction); err != nil {
		return nil, fmt.Errorf("fabric: certify: %w", err)
	}
	if validity < time.Second {
		return nil, fmt.Errorf("fabric: certify: validity %v is shorter than a second", validity)
	}
	issued := now.UTC().Truncate(time.Second)
	c := &Cert{
		Version:      CertVersion,
		NodeID:       identity.NodeID(nodePub),
		NodePublic:   append(ed25519.PublicKey(nil), nodePub...),
		Site:         site,
		Jurisdiction: jurisdiction,
		Issued:       issued,
		Expires:      issued.Add(validity.Truncate(time.Second)),
	}
	c.Signature = ed25519.Sign(operatorPriv, c.signedBytes())
	return c, nil
}

// signedBytes is the canonical encoding the signature covers: the domain
// string, then every field length-prefixed (uint32 big endian) or as a
// fixed-size big-endian integer, so no two certificates share an encoding.
func (c *Cert) signedBytes() []byte {
	var b bytes.Buffer
	b.WriteString(certDomain)
	putInt := func(v int64) { _ = binary.Write(&b, binary.BigEndian, v) }
	putStr := func(s []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint32(len(s)))
		b.Write(s)
	}
	putInt(int64(c.Version))
	putStr([]byte(c.NodeID))
	putStr(c.NodePublic)
	putStr([]byte(c.Site))
	putStr([]byte(c.Jurisdiction))
	putInt(c.Issued.Unix())
	putInt(c.Expires.Unix())
	return b.Bytes()
}

// Verify checks that operatorPub signed c and that now lies in
// [Issued, Expires). It does not say which node presents c: check that
// with Matches.
func (c *Cert) Verify(operatorPub ed25519.PublicKey, now time.Time) error {
	if c == nil {
		return fmt.Errorf("%w: no certificate", ErrInvalidCert)
	}
	if err := c.wellFormed(); err != nil {
		return err
	}
	if len(operatorPub) != ed25519.PublicKeySize {
		return fmt.Errorf("fabric: verify certificate: operator key is %d bytes; an ed25519 public key has %d", len(operatorPub), ed25519.PublicKeySize)
	}
	if !ed25519.Verify(operatorPub, c.signedBytes(), c.Signature) {
		return fmt.Errorf("%w (node %s)", ErrBadSignature, c.NodeID)
	}
	if now.Before(c.Issued) {
		return fmt.Errorf("%w: node %s, issued %s", ErrNotYetValid, c.NodeID, c.Issued.Format(time.RFC3339))
	}
	if !now.Before(c.Expires) {
		return fmt.Errorf("%w: node %s, expired %s", ErrExpired, c.NodeID, c.Expires.Format(time.RFC3339))
	}
	return nil
}

// wellFormed checks what can be checked without the operator key.
func (c *Cert) wellFormed() error {
	switch {
	case c.Version != CertVersion:
		return fmt.Errorf("%w: version %d; this build reads version %d", ErrInvalidCert, c.Version, CertVersion)
	case len(c.NodePublic) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: node key is %d bytes; an ed25519 public key has %d", ErrInvalidCert, len(c.NodePublic), ed25519.PublicKeySize)
	case c.NodeID != identity.NodeID(c.NodePublic):
		return fmt.Errorf("%w: node id %q is not the id of its key (%s)", ErrInvalidCert, c.NodeID, identity.NodeID(c.NodePublic))
	case c.Issued.Nanosecond() != 0 || c.Expires.Nanosecond() != 0:
		return fmt.Errorf("%w: times must be whole seconds", ErrInvalidCert)
	case len(c.Signature) != ed25519.SignatureSize:
		return fmt.Errorf("%w: signature is %d bytes; an ed25519 signature has %d", ErrInvalidCert, len(c.Signature), ed25519.SignatureSize)
	}
	return nil
}

// Matches reports whether c was issued for nodePub.
func (c *Cert) Matches(nodePub ed25519.PublicKey) bool {
	return c != nil && len(nodePub) == ed25519.PublicKeySize && bytes.Equal(c.NodePublic, nodePub)
}

// certJSON is the file and wire form: keys in hex (as `hearth node id`
// prints them), the signature in base64, times in RFC 3339 UTC.
type certJSON struct {
	Version      int       `json:"version"`
	NodeID       string    `json:"node_id"`
	NodePublic   string    `json:"node_public_key"`
	Site         string    `json:"site"`
	Jurisdiction string    `json:"jurisdiction"`
	Issued       time.Time `json:"issued"`
	Expires      time.Time `json:"expires"`
	Signature    string    `json:"signature"`
}

// MarshalJSON encodes c in its file form.
func (c *Cert) MarshalJSON() ([]byte, error) {
	return json.Marshal(certJSON{
		Version:      c.Version,
		NodeID:       c.NodeID,
		NodePublic:   hex.EncodeToString(c.NodePublic),
		Site:         c.Site,
		Jurisdiction: c.Jurisdiction,
		Issued:       c.Issued.UTC(),
		Expires:      c.Expires.UTC(),
		Signature:    base64.StdEncoding.EncodeToString(c.Signature),
	})
}

// UnmarshalJSON decodes the file form, rejecting unknown fields and
// malformed keys; it does not verify the signature.
func (c *Cert) UnmarshalJSON(data []byte) error {
	var j certJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidCert, err)
	}
	pub, err := hex.DecodeString(j.NodePublic)
	if err != nil {
		return fmt.Errorf("%w: node_public_key is not hex: %v", ErrInvalidCert, err)
	}
	sig, err := base64.StdEncoding.DecodeString(j.Signature)
	if err != nil {
		return fmt.Errorf("%w: signature is not base64: %v", ErrInvalidCert, err)
	}
	*c = Cert{
		Version:      j.Version,
		NodeID:       j.NodeID,
		NodePublic:   pub,
		Site:         j.Site,
		Jurisdiction: j.Jurisdiction,
		Issued:       j.Issued.UTC(),
		Expires:      j.Expires.UTC(),
		Signature:    sig,
	}
	return c.wellFormed()
}

// ParseCert decodes a certificate file's contents.
func ParseCert(data []byte) (*Cert, error) {
	c := new(Cert)
	if err := json.Unmarshal(data, c); err != nil {
		if errors.Is(err, ErrInvalidCert) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidCert, err)
	}
	return c, nil
}
