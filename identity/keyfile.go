package identity

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
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

// WriteKeyFile writes priv to path as PKCS#8 PEM ("PRIVATE KEY", the
// form of the node key and the fleet operator's key) with mode 0600. The
// file appears whole or not at all, and an existing file is never
// replaced: the error then wraps fs.ErrExist.
func WriteKeyFile(path string, priv ed25519.PrivateKey) error {
	data, err := encodeKey(priv)
	if err != nil {
		return err
	}
	return atomicfile.CreateFile(path, data, 0o600)
}

// ReadKeyFile reads a private key written by WriteKeyFile; what names the
// key in errors. A file that group or others may read or write is
// refused, as CheckSecretFile refuses it. A missing file gives an error
// wrapping fs.ErrNotExist.
func ReadKeyFile(path, what string) (ed25519.PrivateKey, error) {
	data, err := readSecret(path, what, "")
	if err != nil {
		return nil, err
	}
	priv, err := decodeKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return priv, nil
}

// readSecret reads a small secret file whole after checking its mode on
// the open file, so the file checked is the file read; hint is added to a
// mode refusal.
func readSecret(path, what, hint string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := secretMode(path, what, st.Mode()); err != nil {
		if hint != "" {
			err = fmt.Errorf("%w (%s)", err, hint)
		}
		return nil, err
	}
	const max = 64 << 10 // keys and tokens are small
	if st.Size() > max {
		return nil, fmt.Errorf("%s %s: %d bytes is too big for a key file", what, path, st.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, max))
	if err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", what, path, err)
	}
	return data, nil
}
