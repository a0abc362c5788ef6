package fabric

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/internal/atomicfile"
)

// CertFileName is the node certificate's name inside the data directory.
const CertFileName = "node.cert"

// CertPath is the node certificate's path in dataDir.
func CertPath(dataDir string) string { return filepath.Join(dataDir, CertFileName) }

// A node's embedded NATS server carries inference requests, responses
// and captures between nodes, so its client port (loopback by default)
// takes only clients holding the node's token (Config.ClientToken): in
// DATA/fleet.token, mode 0600, made on first start. The node writes its
// client URL to DATA/fleet.url, so that `hearth fleet status --data-dir
// DATA`, run by the node's operator, finds both (ReadClientAccess).
const (
	ClientTokenFileName = "fleet.token"
	ClientURLFileName   = "fleet.url"
)

// LoadOrCreateClientToken loads the node's client token from dataDir,
// creating the directory and the token if absent. Concurrent first starts
// get the same token: the file appears whole or not at all, and only one
// creator's token is kept.
func LoadOrCreateClientToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, ClientTokenFileName)
	b, err := identity.ReadSecretFile(path, "fleet token")
	if err == nil {
		tok := strings.TrimSpace(string(b))
		if len(tok) < 32 {
			return "", fmt.Errorf("%s: the token is too short (%d characters); delete the file to make a new one", path, len(tok))
		}
		return tok, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(raw)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", err
	}
	err = atomicfile.CreateFile(path, []byte(tok+"\n"), 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOrCreateClientToken(dataDir) // another process made it first
	}
	if err != nil {
		return "", err
	}
	return tok, nil
}

// WriteClientURL records the node's client URL (ClientURL) in dataDir for
// `hearth fleet status` and `hearth fleet tenant push`.
func WriteClientURL(dataDir, url string) error {
	return atomicfile.WriteFile(filepath.Join(dataDir, ClientURLFileName), []byte(url+"\n"), 0o600)
}

// ReadClientAccess reads the client URL and token a running node keeps in
// dataDir.
func ReadClientAccess(dataDir string) (ClientAccess, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, ClientURLFileName))
	if err != nil {
		return ClientAccess{}, fmt.Errorf("no fleet URL in %s (is a node running there?): %w", dataDir, err)
	}
	t, err := os.ReadFile(filepath.Join(dataDir, ClientTokenFileName))
	if err != nil {
		return ClientAccess{}, fmt.Errorf("no fleet token in %s: %w", dataDir, err)
	}
	return ClientAccess{URL: strings.TrimSpace(string(b)), Token: strings.TrimSpace(string(t))}, nil
}

// maxFile bounds what the certificate loader reads: certificates are small.
const maxFile = 64 << 10

// CreateOperatorKey generates an operator key pair and writes the private
// key to path as PKCS#8 PEM with mode 0600. It never replaces an existing
// file: losing an operator key means re-certifying the whole fleet.
func CreateOperatorKey(path string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("fabric: generate operator key: %w", err)
	}
	if err := identity.WriteKeyFile(path, priv); err != nil {
		return nil, fmt.Errorf("fabric: create operator key: %w", err)
	}
	return pub, nil
}

// LoadOperatorKey reads an operator private key written by
// CreateOperatorKey. A file that group or others may read is refused.
func LoadOperatorKey(path string) (ed25519.PrivateKey, error) {
	return identity.ReadKeyFile(path, "fabric: operator key")
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
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
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
