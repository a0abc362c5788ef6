package capture

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/internal/atomicfile"
)

// KeyFileName is the node master key's file name in the data directory.
const KeyFileName = "capture.key"

// Domain separators for the additional data, so that no ciphertext made
// for one purpose opens as another.
const (
	aadKey      = "hearth-capture-key-v1\x00"
	aadRecord   = "hearth-capture-record-v1\x00"
	aadFeedback = "hearth-capture-feedback-v1\x00"
	tagDomain   = "hearth-capture-user-v1\x00"

	placeholderDomain = "hearth-capture-placeholder-v1\x00"
)

// masterKey is the node key that wraps tenant data keys, loaded (or
// created) from its file on first use.
type masterKey struct {
	path string
	mu   sync.Mutex
	aead cipher.AEAD
}

// get returns the master key's cipher. Without create, a missing file is
// ErrKeyDeleted's cousin: nothing was ever sealed here, or the key is gone.
func (m *masterKey) get(create bool) (cipher.AEAD, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.aead != nil {
		return m.aead, nil
	}
	key, err := readKeyFile(m.path)
	if errors.Is(err, fs.ErrNotExist) && create {
		key, err = createKeyFile(m.path)
	}
	if err != nil {
		return nil, err
	}
	if m.aead, err = newGCM(key); err != nil {
		return nil, fmt.Errorf("capture: master key %s: %w", m.path, err)
	}
	return m.aead, nil
}

func readKeyFile(path string) ([]byte, error) {
	// It wraps every tenant's data key: refuse it, like the node key,
	// if other users may read it.
	if err := identity.CheckSecretFile(path, "capture: master key"); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("capture: master key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("capture: master key %s: not 64 hex digits", path)
	}
	return key, nil
}

// createKeyFile writes a new random key, 0600. The file appears whole or
// not at all (written aside, then linked into place); if another process
// won the race, its key is used.
func createKeyFile(path string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("capture: master key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("capture: master key: %w", err)
	}
	err := atomicfile.CreateFile(path, []byte(hex.EncodeToString(key)+"\n"), 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("capture: master key: %w", err)
	}
	return key, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts plain under aead: a random nonce followed by the sealed
// bytes.
func seal(aead cipher.AEAD, plain, aad []byte) []byte {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, plain, aad)
}

func open(aead cipher.AEAD, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("sealed data is too short")
	}
	n := aead.NonceSize()
	return aead.Open(nil, sealed[:n], sealed[n:], aad)
}

// dataKey is a tenant's unwrapped data key.
type dataKey struct {
	id   string
	raw  []byte
	aead cipher.AEAD
}

// placeholderKey keys the digests of a record's placeholder numbering:
// derived from the data key, so the digests mean nothing without it and
// are gone with it.
func (k *dataKey) placeholderKey() []byte {
	m := hmac.New(sha256.New, k.raw)
	m.Write([]byte(placeholderDomain))
	return m.Sum(nil)
}

// userTag is the stored form of an end-user id: an HMAC under the
// tenant's data key, so the id itself is never stored and the tag means
// nothing once the key is gone.
func (k *dataKey) userTag(endUser string) string {
	if endUser == "" {
		return ""
	}
	m := hmac.New(sha256.New, k.raw)
	m.Write([]byte(tagDomain + endUser))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// liveKey returns the tenant's current data key, creating it (and the
// master key) if create is set and there is none.
func (s *Store) liveKey(ctx context.Context, tenantID string, create bool) (*dataKey, error) {
	for range 3 {
		var id string
		var wrapped []byte
		err := s.d.QueryRowContext(ctx, `SELECT id, wrapped FROM capture_key WHERE tenant_id = ? AND wrapped IS NOT NULL`, tenantID).Scan(&id, &wrapped)
		if err == nil {
			return s.unwrap(tenantID, id, wrapped)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("capture: data key: %w", err)
		}
		if !create {
			return nil, ErrKeyDeleted
		}
		master, err := s.master.get(true)
		if err != nil {
			return nil, err
		}
		raw := make([]byte, 32)
		rand.Read(raw)
		id = "ck_" + randomHex(12)
		wrapped = seal(master, raw, []byte(aadKey+tenantID+"\x00"+id))
		// The partial unique index lets one live key per tenant in: if a
		// concurrent save created one first, use that one.
		res, err := s.d.ExecContext(ctx, `INSERT INTO capture_key (id, tenant_id, wrapped, created) VALUES (?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, id, tenantID, wrapped, s.now().UnixNano())
		if err != nil {
			return nil, fmt.Errorf("capture: data key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			aead, err := newGCM(raw)
			if err != nil {
				return nil, err
			}
			return &dataKey{id: id, raw: raw, aead: aead}, nil
		}
	}
	return nil, errors.New("capture: data key: could not create or read the tenant's key")
}

// keyByID returns the data key a record was sealed with; ErrKeyDeleted if
// it was deleted.
func (s *Store) keyByID(ctx context.Context, tenantID, id string) (*dataKey, error) {
	var wrapped []byte
	err := s.d.QueryRowContext(ctx, `SELECT wrapped FROM capture_key WHERE id = ? AND tenant_id = ?`, id, tenantID).Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && wrapped == nil) {
		return nil, ErrKeyDeleted
	}
	if err != nil {
		return nil, fmt.Errorf("capture: data key: %w", err)
	}
	return s.unwrap(tenantID, id, wrapped)
}

func (s *Store) unwrap(tenantID, id string, wrapped []byte) (*dataKey, error) {
	master, err := s.master.get(false)
	if err != nil {
		return nil, err
	}
	raw, err := open(master, wrapped, []byte(aadKey+tenantID+"\x00"+id))
	if err != nil {
		return nil, fmt.Errorf("capture: data key %s of tenant %s does not open under the node master key: %w", id, tenantID, err)
	}
	aead, err := newGCM(raw)
	if err != nil {
		return nil, err
	}
	return &dataKey{id: id, raw: raw, aead: aead}, nil
}

// liveKeys lists the tenant's undeleted keys (normally one).
func (s *Store) liveKeys(ctx context.Context, tenantID string) ([]*dataKey, error) {
	rows, err := s.d.QueryContext(ctx, `SELECT id, wrapped FROM capture_key WHERE tenant_id = ? AND wrapped IS NOT NULL`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("capture: data keys: %w", err)
	}
	defer rows.Close()
	type row struct {
		id      string
		wrapped []byte
	}
	var rs []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.wrapped); err != nil {
			return nil, fmt.Errorf("capture: data keys: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("capture: data keys: %w", err)
	}
	keys := make([]*dataKey, 0, len(rs))
	for _, r := range rs {
		k, err := s.unwrap(tenantID, r.id, r.wrapped)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
