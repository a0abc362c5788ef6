package main

import "github.com/hearth-ai/hearth/store"

// A data directory holds the node's secrets (node.key, capture.key,
// fleet.token), its database (tenants, key hashes, usage, sealed
// captures) and its audit log, so nothing in it is for other local users.
// Three things keep it so: commands that work on a data directory run with
// umask 077, so every file they create is private from its first byte;
// serve (package node) makes the directory itself 0700, saying so when it
// changes it, and refuses to start on a secret file that others can read.

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
