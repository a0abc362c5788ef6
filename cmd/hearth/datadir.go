package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/store"
)

// A data directory holds the node's secrets (node.key, capture.key,
// fleet.token), its database (tenants, key hashes, usage, sealed
// captures) and its audit log, so nothing in it is for other local users.
// Three things keep it so: commands that work on a data directory run with
// umask 077, so every file they create is private from its first byte;
// serve makes the directory itself 0700, saying so when it changes it;
// and serve refuses to start on a secret file that others can read.

// dataDir is the data directory the command works on: --data-dir (which
// serve also takes from HEARTH_DATA_DIR or its config file), else
// store.DefaultDir's. Resolving it is where a command starts working on
// the directory, so from here on the process runs with umask 077 (see
// umask_unix.go); commands that never resolve one (quantize, gen-model,
// ...) keep the user's umask for the files they write.
func (g *globals) dataDir() (string, error) {
	dir := g.dataDirFlag
	if dir == "" {
		var err error
		if dir, err = store.DefaultDir(); err != nil {
			return "", err
		}
	}
	setPrivateUmask()
	return dir, nil
}

// secureDataDir creates dir (0700) if needed and makes an existing one
// 0700 if group or others may enter or list it.
func secureDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	if !st.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if old := st.Mode().Perm(); old&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data directory %s has mode %04o, open to other users, and cannot be made 0700: %w", dir, old, err)
		}
		log.Warn("data directory was open to other users; made it 0700", "dir", dir, "was", fmt.Sprintf("%04o", old))
	}
	return nil
}

// checkSecretFiles refuses to start on a secret that group or others can
// read: the node key (identity checks it again when loading it), the
// capture master key, the fleet client token and a --nats-creds file.
// Missing files are fine; they are created 0600 when first needed.
func checkSecretFiles(dir string, o *serveOptions) error {
	files := []struct{ path, what string }{
		{identity.Path(dir), "node key"},
		{filepath.Join(dir, capture.KeyFileName), "capture master key"},
		{filepath.Join(dir, fabric.ClientTokenFileName), "fleet token"},
	}
	if o.natsCreds != "" {
		files = append(files, struct{ path, what string }{o.natsCreds, "--nats-creds file"})
	}
	for _, f := range files {
		if err := identity.CheckSecretFile(f.path, f.what); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	return nil
}
