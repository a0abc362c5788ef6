package capture

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// Sealer encrypts data derived from a tenant's captures (dataset examples)
// under the tenant's capture data key, so that DeleteTenantKey leaves it
// unreadable too: one key to shred, wherever the tenant's data went. It
// implements flywheel/dataset's Sealer; get one from Store.Sealer.
//
// A sealed value is a version byte, the data key's id (uvarint length and
// bytes) and an AES-256-GCM box: random nonce, then ciphertext and tag.
// The key is the tenant's data key put through HMAC-SHA256 with a purpose
// label, so nothing sealed here opens as a capture record or the reverse;
// the additional data binds the box to the tenant, the key id and the
// caller's aad (the dataset row).
//
// Seal runs inside the dataset store's write transaction, where creating a
// key would wait on that transaction's own database lock; so it never
// creates one: call EnsureKey for the tenant first.
type Sealer struct{ s *Store }

// Sealer returns the Store's sealer for derived data.
func (s *Store) Sealer() *Sealer { return &Sealer{s: s} }

const (
	sealerVersion = 1
	sealerDomain  = "hearth-capture-derived-key-v1"
	aadDerived    = "hearth-capture-derived-v1\x00"
)

// EnsureKey creates the tenant's data key (and the node master key) if it
// has none: after DeleteTenantKey, or before its first capture.
func (s *Store) EnsureKey(ctx context.Context, tenantID string) error {
	if tenantID == "" {
		return fmt.Errorf("%w: empty tenant id", ErrInvalid)
	}
	_, err := s.liveKey(ctx, tenantID, true)
	return err
}

// Seal encrypts plain under the tenant's live data key.
func (x *Sealer) Seal(tenantID string, plain, aad []byte) ([]byte, error) {
	if tenantID == "" {
		return nil, fmt.Errorf("%w: seal: empty tenant id", ErrInvalid)
	}
	k, err := x.s.liveKey(context.Background(), tenantID, false)
	if errors.Is(err, ErrKeyDeleted) {
		return nil, fmt.Errorf("capture: seal: tenant %s has no live data key (EnsureKey creates one)", tenantID)
	}
	if err != nil {
		return nil, fmt.Errorf("capture: seal: %w", err)
	}
	aead, err := derivedAEAD(k)
	if err != nil {
		return nil, fmt.Errorf("capture: seal: %w", err)
	}
	out := []byte{sealerVersion}
	out = binary.AppendUvarint(out, uint64(len(k.id)))
	out = append(out, k.id...)
	return append(out, seal(aead, plain, derivedAAD(tenantID, k.id, aad))...), nil
}

// Open decrypts what Seal returned. Once the tenant's key has been deleted
// the error wraps ErrKeyDeleted: the bytes are still there, and nobody can
// read them.
func (x *Sealer) Open(tenantID string, sealed, aad []byte) ([]byte, error) {
	keyID, box, err := splitSealed(sealed)
	if err != nil {
		return nil, fmt.Errorf("capture: open sealed data: %w", err)
	}
	k, err := x.s.keyByID(context.Background(), tenantID, keyID)
	if err != nil {
		return nil, fmt.Errorf("capture: open sealed data: %w", err)
	}
	aead, err := derivedAEAD(k)
	if err != nil {
		return nil, fmt.Errorf("capture: open sealed data: %w", err)
	}
	plain, err := open(aead, box, derivedAAD(tenantID, keyID, aad))
	if err != nil {
		return nil, fmt.Errorf("capture: sealed data does not open under the tenant's key %s (altered, or moved from another row): %w", keyID, err)
	}
	return plain, nil
}

// splitSealed parses the header Seal wrote.
func splitSealed(b []byte) (keyID string, box []byte, err error) {
	if len(b) == 0 {
		return "", nil, errors.New("empty")
	}
	if b[0] != sealerVersion {
		return "", nil, fmt.Errorf("unknown format version %d", b[0])
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n == 0 || n > 64 || uint64(len(b)-1-w) < n {
		return "", nil, errors.New("malformed key id")
	}
	rest := b[1+w:]
	return string(rest[:n]), rest[n:], nil
}

// derivedAEAD is the cipher for derived data under a data key.
func derivedAEAD(k *dataKey) (cipher.AEAD, error) {
	m := hmac.New(sha256.New, k.raw)
	m.Write([]byte(sealerDomain))
	return newGCM(m.Sum(nil))
}

func derivedAAD(tenantID, keyID string, aad []byte) []byte {
	b := []byte(aadDerived + tenantID + "\x00" + keyID + "\x00")
	return append(b, aad...)
}
