// Package identity is a node's identity: an ed25519 key pair kept in the
// data directory (DATA/node.key), created on first start. The key signs the
// node's audit log checkpoints; the node ID is derived from the public key,
// so anyone holding the public key can check which node a record came from.
//
// The key file is PKCS#8 in PEM ("PRIVATE KEY"), the form openssl reads
// (`openssl pkey -in node.key -pubout`). It is written once, atomically, with
// mode 0600, and never rewritten: a corrupt file is an error, not a reason to
// mint a new identity, because a new key would orphan every signature the
// old one made. A key file that group or others may read is refused rather
// than silently re-permissioned: the key may already have leaked, and the
// operator should decide (chmod 600, or rotate) with that in mind.
package identity

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// FileName is the key file's name inside the data directory.
const FileName = "node.key"

// Identity is a node's key pair and the ID derived from it.
type Identity struct {
	ID      string // "node-" + first 16 hex digits of sha256(Public)
	Public  ed25519.PublicKey
	Private ed25519.PrivateKey
}

// NodeID derives a node ID from a public key.
func NodeID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "node-" + hex.EncodeToString(sum[:8])
}

// PublicHex is the public key in hex, the form `hearth node id` prints and
// `hearth audit verify --pubkey` takes.
func (id *Identity) PublicHex() string { return hex.EncodeToString(id.Public) }

// ParsePublicKey parses a hex-encoded ed25519 public key.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("identity: public key %q is not hex: %w", s, err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("identity: public key is %d bytes; an ed25519 key has %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Path is the key file's path in dataDir.
func Path(dataDir string) string { return filepath.Join(dataDir, FileName) }

// Load reads the identity in dataDir. A missing key file gives an error
// wrapping fs.ErrNotExist.
func Load(dataDir string) (*Identity, error) {
	path := Path(dataDir)
	data, err := readSecret(path, "identity: node key", "moving it aside creates a new identity")
	if err != nil {
		return nil, err
	}
	priv, err := decodeKey(data)
	if err != nil {
		return nil, fmt.Errorf("identity: %s is corrupt (%v); it was left as it is: move it aside to create a new identity, "+
			"knowing that the node ID changes and old audit checkpoints stay verifiable only with the old public key", path, err)
	}
	return fromPrivate(priv), nil
}

// LoadOrCreate loads the identity in dataDir, creating the directory and a
// new key pair if there is no key file yet. Concurrent first starts (two
// processes, or goroutines) end up with the same identity: the file is
// published with a hard link, which fails instead of replacing a key that
// appeared in the meantime.
func LoadOrCreate(dataDir string) (*Identity, error) {
	id, err := Load(dataDir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("identity: generate key: %w", err)
	}
	// Another process may have created the identity first.
	if err := WriteKeyFile(Path(dataDir), priv); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("identity: %w", err)
	}
	// Read back what is on disk: if another process won the race, its key
	// is the node's key.
	return Load(dataDir)
}

func fromPrivate(priv ed25519.PrivateKey) *Identity {
	pub := priv.Public().(ed25519.PublicKey)
	return &Identity{ID: NodeID(pub), Public: pub, Private: priv}
}
