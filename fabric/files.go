package fabric

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// CertFileName is the node certificate's name inside the data directory.
const CertFileName = "node.cert"

// CertPath is the node certificate's path in dataDir.
func CertPath(dataDir string) string { return filepath.Join(dataDir, CertFileName) }

const operatorPEMType = "PRIVATE KEY"

// maxFile bounds what the loaders read: keys and certificates are small.
const maxFile = 64 << 10

// CreateOperatorKey generates an operator key pair and writes the private
// key to path as PKCS#8 PEM with mode 0600. It never replaces an existing
// file: losing an operator key means re-certifying the whole fleet.
func CreateOperatorKey(path string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("fabric: generate operator key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("fabric: encode operator key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: operatorPEMType, Bytes: der})
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fabric: create operator key: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("fabric: write operator key %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("fabric: write operator key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("fabric: write operator key %s: %w", path, err)
	}
	return pub, nil
}

// LoadOperatorKey reads an operator private key written by
// CreateOperatorKey. A file that group or others may read is refused.
func LoadOperatorKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("fabric: operator key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("fabric: operator key: %w", err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("fabric: operator key %s has mode %04o, so other users may read it; run `chmod 600 %s` if no one else can have read it",
			path, st.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFile))
	if err != nil {
		return nil, fmt.Errorf("fabric: read operator key %s: %w", path, err)
	}
	block, rest := pem.Decode(data)
	switch {
	case block == nil:
		return nil, fmt.Errorf("fabric: operator key %s: no PEM block", path)
	case block.Type != operatorPEMType:
		return nil, fmt.Errorf("fabric: operator key %s: PEM block is %q, want %q", path, block.Type, operatorPEMType)
	case strings.TrimSpace(string(rest)) != "":
		return nil, fmt.Errorf("fabric: operator key %s: trailing data after the PEM block", path)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("fabric: operator key %s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("fabric: operator key %s is %T, not ed25519", path, key)
	}
	return priv, nil
}

// WriteCert writes c to path (mode 0644: a certificate is public),
// replacing any previous certificate atomically so a renewal never leaves
// a half-written file.
func WriteCert(path string, c *Cert) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("fabric: encode certificate: %w", err)
	}
	data = append(data, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), ".node.cert.*")
	if err != nil {
		return fmt.Errorf("fabric: write certificate: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("fabric: write certificate: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return fmt.Errorf("fabric: write certificate: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fabric: write certificate: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("fabric: write certificate: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("fabric: write certificate: %w", err)
	}
	return nil
}

// LoadCert reads a certificate file. It checks the form, not the
// signature: use Verify for that.
func LoadCert(path string) (*Cert, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("fabric: certificate: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("fabric: read certificate %s: %w", path, err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("fabric: certificate %s is larger than %d bytes", path, maxFile)
	}
	c, err := ParseCert(data)
	if err != nil {
		return nil, fmt.Errorf("fabric: certificate %s: %w", path, err)
	}
	return c, nil
}

// LoadCertIfExists is LoadCert that returns (nil, nil) when dataDir has no
// certificate: an uncertified node is a valid configuration.
func LoadCertIfExists(dataDir string) (*Cert, error) {
	c, err := LoadCert(CertPath(dataDir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return c, err
}

// ValidateSite checks a site name: 1 to 64 of A-Z, a-z, 0-9, '-', '_', '.'.
func ValidateSite(site string) error {
	if site == "" || len(site) > 64 {
		return fmt.Errorf("site %q must be 1 to 64 characters", site)
	}
	for _, r := range site {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("site %q has character %q; allowed: A-Z, a-z, 0-9, '-', '_', '.'", site, r)
		}
	}
	return nil
}
