package replica

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-ai/hearth/flywheel/registry"
)

// The JSON below is the wire format nodes of every version share: field
// names and codes must not change (testdata holds each frame, and the
// tests decode them and encode them back to the same bytes).

// Delivery kinds.
const (
	KindManifest = "adapter-manifest"
	KindChunk    = "adapter-chunk"
	KindList     = "adapter-list"
)

// manifestDomain separates a manifest's signature from every other use
// of a node's key (heartbeats, deliveries, audit checkpoints).
const manifestDomain = "hearth adapter replica manifest v1\x00"

// listDomain separates a listing's signature from a manifest's, so that
// neither can be passed off as the other.
const listDomain = "hearth adapter replica list v1\x00"

// manifestMsg asks a home node for the manifest of a tenant's adapter.
type manifestMsg struct {
	Tenant     string `json:"tenant"`      // name: tenant ids differ from node to node
	Adapter    string `json:"adapter"`     // NAME or NAME@VERSION
	BaseDigest string `json:"base_digest"` // hex SHA-256 of the asker's base file
}

// chunkMsg asks for Length bytes at Offset of the version a manifest
// named, by its SHA-256 (so a chunk can only come from that content).
type chunkMsg struct {
	Tenant  string `json:"tenant"`
	Adapter string `json:"adapter"` // NAME@VERSION
	SHA256  string `json:"sha256"`
	Offset  int64  `json:"offset"`
	Length  int64  `json:"length"`
}

// listMsg asks a home node which adapter versions of a tenant it holds
// active.
type listMsg struct {
	Tenant string `json:"tenant"` // name
}

// answer is a home node's reply to any kind: an error code and message,
// or a signed manifest, or a chunk's bytes, or a signed listing.
type answer struct {
	Error   string          `json:"error,omitempty"`
	Message string          `json:"message,omitempty"`
	Signed  *SignedManifest `json:"signed,omitempty"`
	Data    []byte          `json:"data,omitempty"`
	Listing *SignedListing  `json:"listing,omitempty"`
}

// Manifest is what a home node vouches for when it hands a tenant's
// adapter version to another node: which version, its content by size and
// SHA-256, the base it applies to, and for whom and when. The receiver
// keeps it, signed, with its copy: where the copy came from.
type Manifest struct {
	Tenant       string        `json:"tenant"` // name
	Name         string        `json:"name"`
	Version      int           `json:"version"`
	Created      time.Time     `json:"created"` // the version's registration
	SHA256       string        `json:"sha256"`  // hex, of the plain GGUF
	Size         int64         `json:"size"`
	Base         registry.Base `json:"base"`
	Node         string        `json:"node"`         // the node it was issued to
	Home         string        `json:"home"`         // the node that signed it
	Jurisdiction string        `json:"jurisdiction"` // the home node's
	Issued       time.Time     `json:"issued"`
}

// Ref is "name@version".
func (m *Manifest) Ref() string { return fmt.Sprintf("%s@%d", m.Name, m.Version) }

// SignedManifest is a manifest's exact bytes and the home node's
// ed25519 signature over manifestDomain and those bytes.
type SignedManifest struct {
	Manifest json.RawMessage `json:"manifest"`
	Sig      []byte          `json:"sig"`
}

// signManifest encodes and signs m with priv.
func signManifest(priv ed25519.PrivateKey, m *Manifest) (*SignedManifest, error) {
	body, sig, err := signBody(priv, manifestDomain, "manifest", m)
	if err != nil {
		return nil, err
	}
	return &SignedManifest{Manifest: body, Sig: sig}, nil
}

// Open verifies s with the home node's key pub and decodes it.
func (s *SignedManifest) Open(pub ed25519.PublicKey) (*Manifest, error) {
	var m Manifest
	if err := verifyBody(pub, manifestDomain, "manifest", s.Manifest, s.Sig, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Listing is what a home node vouches for when another node asks which
// adapters a tenant has: the versions it holds active (and would hand
// out), without their files, for the node that asked, and when.
type Listing struct {
	Tenant       string    `json:"tenant"` // name
	Adapters     []Listed  `json:"adapters"`
	Node         string    `json:"node"`         // the node it was issued to
	Home         string    `json:"home"`         // the node that signed it
	Jurisdiction string    `json:"jurisdiction"` // the home node's
	Issued       time.Time `json:"issued"`
}

// Listed is one adapter version of a Listing.
type Listed struct {
	Name    string        `json:"name"`
	Version int           `json:"version"`
	Base    registry.Base `json:"base"`
	Size    int64         `json:"size"`    // bytes of the plain GGUF
	Created time.Time     `json:"created"` // the version's registration
}

// Ref is "name@version".
func (l *Listed) Ref() string { return fmt.Sprintf("%s@%d", l.Name, l.Version) }

// SignedListing is a listing's exact bytes and the home node's ed25519
// signature over listDomain and those bytes.
type SignedListing struct {
	Listing json.RawMessage `json:"listing"`
	Sig     []byte          `json:"sig"`
}

// signListing encodes and signs l with priv.
func signListing(priv ed25519.PrivateKey, l *Listing) (*SignedListing, error) {
	body, sig, err := signBody(priv, listDomain, "listing", l)
	if err != nil {
		return nil, err
	}
	return &SignedListing{Listing: body, Sig: sig}, nil
}

// Open verifies s with the home node's key pub and decodes it.
func (s *SignedListing) Open(pub ed25519.PublicKey) (*Listing, error) {
	var l Listing
	if err := verifyBody(pub, listDomain, "listing", s.Listing, s.Sig, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// signBody encodes v (a what) and signs domain and its bytes with priv.
func signBody(priv ed25519.PrivateKey, domain, what string, v any) (body, sig []byte, err error) {
	body, err = json.Marshal(v)
	if err != nil {
		return nil, nil, fmt.Errorf("replica: encode %s: %w", what, err)
	}
	return body, ed25519.Sign(priv, append([]byte(domain), body...)), nil
}

// verifyBody checks sig over domain and body with pub, and decodes body (a
// what) into v.
func verifyBody(pub ed25519.PublicKey, domain, what string, body, sig []byte, v any) error {
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, append([]byte(domain), body...), sig) {
		return fmt.Errorf("%w: the %s's signature does not verify with the home node's key", ErrTampered, what)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: the signed %s does not decode: %v", ErrTampered, what, err)
	}
	return nil
}

// Answer codes.
const (
	codeNotFound     = "not_found"      // no such version in this node's registry
	codeNoTenant     = "unknown_tenant" // no tenant of that name on this node
	codeNotPermitted = "not_permitted"  // the asking node's jurisdiction is not one the tenant's policy permits
	codeBaseMismatch = "base_mismatch"  // trained on another base file
	codeRetired      = "retired"        // the version is retired: it is not copied, and copies are dropped
	codeTooLarge     = "too_large"      // larger than the home node hands out
	codeInvalid      = "invalid"        // a malformed request
)

// codes maps answer codes to the errors the asking node gets.
var codes = map[string]error{
	codeNotFound:     registry.ErrNotFound,
	codeNoTenant:     registry.ErrNotFound,
	codeNotPermitted: ErrNotPermitted,
	codeBaseMismatch: registry.ErrBaseMismatch,
	codeRetired:      ErrRetired,
	codeTooLarge:     ErrTooLarge,
	codeInvalid:      registry.ErrInvalid,
}

// refusal encodes an answer with code and message.
func refusal(code, message string) ([]byte, error) {
	return json.Marshal(answer{Error: code, Message: message})
}

// maxMessage bounds the text of another node's answer that this node
// repeats.
const maxMessage = 300

// readAnswer decodes node's answer, its code as an error wrapping the
// code's error and naming the node.
func readAnswer(node string, payload []byte) (answer, error) {
	var a answer
	if err := json.Unmarshal(payload, &a); err != nil {
		return a, fmt.Errorf("replica: node %s's answer does not decode: %w", node, err)
	}
	if a.Error == "" {
		return a, nil
	}
	// A home node's text is repeated into errors and audit records: a
	// few hundred bytes say why.
	a.Error, a.Message = clip(a.Error), clip(a.Message)
	if err, ok := codes[a.Error]; ok {
		return a, fmt.Errorf("%w (said node %s, %s): %s", err, node, a.Error, a.Message)
	}
	return a, fmt.Errorf("replica: node %s: %s: %s", node, a.Error, a.Message)
}

// Errors.
var (
	// ErrNotPermitted: the tenant's policy does not permit the asking
	// node's jurisdiction, so its adapters may not go there.
	ErrNotPermitted = errors.New("replica: the tenant's policy does not permit that jurisdiction")
	// ErrRetired: the version is retired at home.
	ErrRetired = errors.New("replica: the adapter version is retired")
	// ErrTooLarge: the adapter is larger than the limit.
	ErrTooLarge = errors.New("replica: the adapter is larger than the limit")
	// ErrTampered: what arrived is not what the home node vouched for (a
	// signature, size or SHA-256 that does not match), or the manifest is
	// not for this request.
	ErrTampered = errors.New("replica: the adapter does not match its signed manifest")
	// ErrNoHome: no certified node of the tenant's home answered.
	ErrNoHome = errors.New("replica: no home node of the tenant answered")
)
