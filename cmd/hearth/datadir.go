package main

import (
	"github.com/spf13/cobra"
)

// A data directory holds the node's secrets (node.key, capture.key,
// fleet.token), its database (tenants, key hashes, usage, sealed
// captures) and its audit log, so nothing in it is for other local users.
// Three things keep it so: commands that work on a data directory run with
// umask 077, so every file they create is private from its first byte;
// serve (package node) makes the directory itself 0700, saying so when it
// changes it, and refuses to start on a secret file that others can read.

// privateUmask gives a command that has a --data-dir flag umask 077 (see
// umask_unix.go). It runs before every command; those without a data
// directory (quantize, gen-model, ...) keep the user's umask for the files
// they write.
func privateUmask(cmd *cobra.Command, _ []string) error {
	if cmd.Flags().Lookup("data-dir") != nil {
		setPrivateUmask()
	}
	return nil
}
