package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/flywheel"
	"github.com/hearth-ai/hearth/flywheel/rollout"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/tenant"
)

// flywheelEnv is what the capture, dataset, adapter and eval commands
// open: the data directory's database, the tenant --tenant names and the
// flywheel's stores (erasures flow on into datasets and adapters, along
// their lineage), on the commands' clock and in the jurisdiction of the
// node's certificate, if it has one. The commands that erase, shred or
// export also record into the audit log, or its spool while a node runs
// (audited).
type flywheelEnv struct {
	d      *db.DB
	fw     *flywheel.Stores
	log    audit.Appender // nil unless audited
	tenant tenant.Tenant
}

func openFlywheel(ctx context.Context, g *globals, tenantArg string, audited bool) (*flywheelEnv, error) {
	dataDir, err := g.dataDir()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dataDir, db.FileName)); err != nil {
		return nil, fmt.Errorf("no node database in %s", dataDir)
	}
	e := &flywheelEnv{}
	if e.d, err = db.OpenDir(dataDir); err != nil {
		return nil, err
	}
	ts, err := tenant.Open(ctx, e.d, g.now)
	if err != nil {
		e.close()
		return nil, err
	}
	if e.tenant, err = ts.GetTenant(ctx, tenantArg); err != nil {
		e.close()
		return nil, fmt.Errorf("--tenant: %w", err)
	}
	o := flywheel.Options{Now: g.now}
	// The node's jurisdiction is its certificate's: the adapter registry
	// keeps a tenant's adapters only in its home.
	cert, err := fabric.LoadCertIfExists(dataDir)
	if err != nil {
		e.close()
		return nil, err
	}
	if cert != nil {
		o.Jurisdiction = cert.Jurisdiction
	}
	if audited {
		var id *identity.Identity
		if e.log, id, err = audit.OpenDataDir(dataDir, g.warnAuditSpooled); err != nil {
			e.close()
			return nil, err
		}
		o.Node, o.Audit, o.Tenants = id.ID, e.log, ts
		// A version retired or deleted here (or by an erasure) must not
		// leave the node's deployments serving it: move them off it as
		// the node would. The node's gate loop reads the change on its
		// next tick.
		o.OnRetire = func(ctx context.Context, tenantID, name string, version int) error {
			s, err := rollout.Open(ctx, e.d, rollout.Config{Audit: e.log, Node: o.Node, Jurisdiction: o.Jurisdiction, Now: g.now,
				Logger: g.warnLogger()})
			if err != nil {
				return err
			}
			return s.Retired(ctx, tenantID, name, version)
		}
	}
	if e.fw, err = flywheel.Open(ctx, e.d, dataDir, o); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

// withFlywheel opens the --tenant's flywheel (audited if the command
// changes or exports something), runs fn on it and closes it again.
func withFlywheel(ctx context.Context, g *globals, tenantArg string, audited bool, fn func(*flywheelEnv) error) error {
	if tenantArg == "" {
		return errors.New("--tenant is required")
	}
	e, err := openFlywheel(ctx, g, tenantArg, audited)
	if err != nil {
		return err
	}
	defer e.close()
	return fn(e)
}

func (e *flywheelEnv) close() {
	if e.log != nil {
		e.log.Close()
	}
	if e.d != nil {
		e.d.Close()
	}
}

func newCaptureCmd(g *globals) *cobra.Command {
	var tenantArg string
	// withCapture opens the tenant's flywheel, audited, runs fn on it and
	// closes it again; its errors, and fn's, are prefixed with what.
	withCapture := func(ctx context.Context, what string, fn func(*flywheelEnv) error) error {
		e, err := openFlywheel(ctx, g, tenantArg, true)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer e.close()
		if err := fn(e); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	cmd := &cobra.Command{
		Use:   "capture",
		Short: "Export or erase captured interactions; shred a tenant's captures",
		Long: `Captured interactions are stored scrubbed of personal data and encrypted with a
key per tenant, only on nodes in the tenant's home jurisdiction. These commands
read and erase them. Erasing by response or end user also removes the examples
built from them from every dataset version (lineage); shredding deletes the
tenant's key, which leaves only unreadable bytes wherever the records went.
They are audited: appended to the log, or, while a node serves from the same
data directory, spooled for the node to append.

These commands act on one node's data directory. To erase across the fleet
(every node of the tenant's home jurisdiction that may hold its data), call
any running node's admin API: POST /admin/v1/tenants/NAME/erase with
{"user": ID}, {"response_id": ID} or {"all": true} (shred); it reports each
node's part and answers
502 if a node was down, to be repeated once it is back.`,
	}
	cmd.PersistentFlags().StringVar(&tenantArg, "tenant", "", "tenant name or id (required)")

	var out string
	export := &cobra.Command{
		Use:   "export [--out FILE]",
		Short: "Write the tenant's captured interactions (scrubbed) as JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenantArg == "" {
				return errors.New("capture export: --tenant is required")
			}
			return withCapture(cmd.Context(), "capture export", func(e *flywheelEnv) error {
				w := g.stdout
				if out != "" {
					f, err := os.Create(out)
					if err != nil {
						return err
					}
					defer f.Close()
					w = f
				}
				n, err := e.fw.Capture.Export(cmd.Context(), e.tenant.ID, w, capture.Filter{})
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stderr, "exported %d interactions of tenant %s\n", n, e.tenant.Name)
				return nil
			})
		},
	}
	export.Flags().StringVar(&out, "out", "", "file to write (default stdout)")

	var response, user string
	erase := &cobra.Command{
		Use:   "erase (--response ID | --user ID)",
		Short: "Erase captured interactions on this node by response id or end-user id, and what datasets derived from them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenantArg == "" || (response == "") == (user == "") {
				return errors.New("capture erase: give --tenant and exactly one of --response or --user")
			}
			return withCapture(cmd.Context(), "capture erase", func(e *flywheelEnv) error {
				var (
					n   int
					err error
				)
				if response != "" {
					n, err = e.fw.Capture.EraseResponse(cmd.Context(), e.tenant.ID, response)
				} else {
					n, err = e.fw.Capture.EraseUser(cmd.Context(), e.tenant.ID, user)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "erased %d interactions of tenant %s (and their dataset examples)\n", n, e.tenant.Name)
				return nil
			})
		},
	}
	erase.Flags().StringVar(&response, "response", "", "response id (chatcmpl-..., cmpl-...)")
	erase.Flags().StringVar(&user, "user", "", "end-user id (the OpenAI request's user field)")

	var yes bool
	shred := &cobra.Command{
		Use:   "shred --tenant T --yes",
		Short: "Delete the tenant's capture key: every captured record of the tenant becomes unreadable",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if tenantArg == "" || !yes {
				return errors.New("capture shred: give --tenant and --yes (this cannot be undone)")
			}
			return withCapture(cmd.Context(), "capture shred", func(e *flywheelEnv) error {
				if err := e.fw.Capture.DeleteTenantKey(cmd.Context(), e.tenant.ID); err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "deleted the capture key of tenant %s: its captured records are unreadable\n", e.tenant.Name)
				return nil
			})
		},
	}
	shred.Flags().BoolVar(&yes, "yes", false, "confirm")
	cmd.AddCommand(export, erase, shred)
	return cmd
}
