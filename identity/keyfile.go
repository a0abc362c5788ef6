package identity

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/hearth-ai/hearth/internal/atomicfile"
)

const pemType = "PRIVATE KEY"

func encodeKey(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("identity: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der}), nil
}

func decodeKey(data []byte) (ed25519.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != pemType {
		return nil, fmt.Errorf("PEM block is %q, want %q", block.Type, pemType)
	}
	if len(trimSpace(rest)) != 0 {
		return nil, errors.New("trailing data after the PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, not ed25519", key)
	}
	return priv, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// checkMode refuses a key file that group or others can read or write.
func checkMode(path string, mode os.FileMode) error {
	if err := secretMode(path, "identity: node key", mode); err != nil {
		return fmt.Errorf("%w (moving it aside creates a new identity)", err)
	}
	return nil
}

// publish writes data to path with mode 0600 and never replaces an
// existing file, so path is either absent or a complete key.
func publish(path string, data []byte) error {
	err := atomicfile.CreateFile(path, data, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil // another process created the identity first
	}
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return nil
}
