package main

import (
	"fmt"
	"os"
	"os/user"

	"github.com/hearth-ai/hearth/admin"
	"github.com/hearth-ai/hearth/tenant"
)

// cliOps are the admin operations (admin.Ops, which the admin API makes
// too) over s, recording each change made on the command line as the
// admin API records its own (admin.Record), with "via": "cli" and the
// operating-system user who ran it, into the audit log of the data
// directory dataDir or its spool while a node serves from it
// (admin.DirRecorder).
//
// The record is written inside the change's transaction: a change whose
// record cannot be written is rolled back, and the command fails saying
// that nothing changed (cliChangeErr).
func cliOps(g *globals, dataDir string, s *tenant.Store) *admin.Ops {
	by := map[string]string{"via": "cli"}
	if u := osUser(); u != "" {
		by["os_user"] = u
	}
	return &admin.Ops{Tenants: s, Audit: admin.DirRecorder(dataDir, by, g.warnAuditSpooled)}
}

// warnAuditSpooled says that the audit log did not open (a damaged tail,
// say), so records wait in its spool until it is repaired.
func (g *globals) warnAuditSpooled(err error) {
	fmt.Fprintf(g.stderr, "warning: audit log: %v; records are spooled until it is repaired\n", err)
}

// cliChangeErr says, of a change refused because its audit record could
// not be written, that it was not made.
func cliChangeErr(err error) error {
	if action, cause, ok := admin.Unrecorded(err); ok {
		return fmt.Errorf("%s not made: its audit record could not be written: %w", action, cause)
	}
	return err
}

// osUser names who ran the command, as far as the system says.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}
