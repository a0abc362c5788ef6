package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hearth-ai/hearth/identity"
)

// Interim: the fleet client token and URL files, as cmd/hearth writes
// them, until fabric/files.go has them (issue 13, the fabricapi part).

const (
	fleetTokenFile = "fleet.token"
	fleetURLFile   = "fleet.url"
)

// fleetToken loads the node's client token, creating it if absent.
func fleetToken(dir string) (string, error) {
	path := filepath.Join(dir, fleetTokenFile)
	if err := identity.CheckSecretFile(path, "fleet token"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	b, err := os.ReadFile(path)
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
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fleetToken(dir) // another process made it first
	}
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return tok, nil
}

// writeFleetURL records the node's client URL for `hearth fleet status`.
func writeFleetURL(dir, url string) error {
	tmp := filepath.Join(dir, fleetURLFile+".tmp")
	if err := os.WriteFile(tmp, []byte(url+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, fleetURLFile))
}
