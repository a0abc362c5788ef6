package main

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

// A node's embedded NATS server carries inference requests, responses
// and captures between nodes, so its client port (loopback by default)
// takes only clients holding the node's token: DATA/fleet.token, mode
// 0600, made on first start. The node writes its client URL to
// DATA/fleet.url, so `hearth fleet status --data-dir DATA`, run by the
// node's operator, finds both.

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

// fleetAccess reads a node's client URL and token from its data
// directory.
func fleetAccess(dir string) (url, token string, err error) {
	b, err := os.ReadFile(filepath.Join(dir, fleetURLFile))
	if err != nil {
		return "", "", fmt.Errorf("no fleet URL in %s (is a node running there?): %w", dir, err)
	}
	t, err := os.ReadFile(filepath.Join(dir, fleetTokenFile))
	if err != nil {
		return "", "", fmt.Errorf("no fleet token in %s: %w", dir, err)
	}
	return strings.TrimSpace(string(b)), strings.TrimSpace(string(t)), nil
}
