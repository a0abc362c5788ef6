package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/user"
	"path/filepath"

	"github.com/hearth-ai/hearth/admin"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/tenant"
)

// cliOps are the admin operations (admin.Ops, which the admin API makes
// too) over s, recording each change made on the command line as the
// admin API records its own: kind "admin", decision "allow", the action
// ("tenant.create", "key.revoke", ...) as the reason and what it touched
// (detail: names and ids, never a secret), with "via": "cli" and the
// operating-system user who ran it (auditChange).
//
// The record is written inside the change's transaction: a change whose
// record cannot be written is rolled back, and the command fails saying
// that nothing changed (cliChangeErr).
func cliOps(g *globals, dataDir string, s *tenant.Store) *admin.Ops {
	return &admin.Ops{Tenants: s, Audit: func(ctx context.Context, action string, detail map[string]string) error {
		return auditChange(ctx, g, dataDir, action, detail)
	}}
}

// cliChangeErr says, of a change refused because its audit record could
// not be written, that it was not made.
func cliChangeErr(err error) error {
	if action, cause, ok := admin.Unrecorded(err); ok {
		return fmt.Errorf("%s not made: its audit record could not be written: %w", action, cause)
	}
	return err
}

// auditChange appends the record of a change to the audit log of the data
// directory dataDir (see auditAppender).
func auditChange(ctx context.Context, g *globals, dataDir, action string, detail map[string]string) error {
	d := maps.Clone(detail)
	if d == nil {
		d = map[string]string{}
	}
	d["action"], d["via"] = action, "cli"
	if u := osUser(); u != "" {
		d["os_user"] = u
	}
	a, id, err := g.auditAppender(dataDir)
	if err != nil {
		return err
	}
	r := audit.Record{Kind: audit.KindAdmin, Decision: audit.DecisionAllow, Reason: action, Detail: d, Node: id.ID}
	_, err = a.Append(context.WithoutCancel(ctx), r)
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	return err
}

// auditAppender opens the audit log of the data directory dataDir for a
// command. The log has one writer: when this process can take its lock,
// records are appended and signed at once; while a node serves from the
// directory, they are spooled, durably, and the node appends them within
// seconds. Both sign with the node key, which is created here if no node
// has run yet (the spool takes only records signed with it); it is
// returned for the records' Node.
func (g *globals) auditAppender(dataDir string) (audit.Appender, *identity.Identity, error) {
	id, err := identity.LoadOrCreate(dataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("node key: %w", err)
	}
	dir := filepath.Join(dataDir, "audit")
	a, _, err := audit.OpenOrSpool(dir, id, audit.Options{})
	if err != nil {
		// The log does not open (a damaged tail, say): records wait in the
		// spool until it is repaired.
		fmt.Fprintf(g.stderr, "warning: audit log: %v; records are spooled until it is repaired\n", err)
		a = audit.NewSpooler(dir, id)
	}
	return a, id, nil
}

// osUser names who ran the command, as far as the system says.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}
