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
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/tenant"
)

func init() {
	// dataset build reads the node's captured, rated interactions.
	datasetCaptureSource = func(ctx context.Context, d *db.DB, dataDir string) (dataset.Source, error) {
		cs, err := capture.Open(ctx, d, capture.Config{KeyFile: filepath.Join(dataDir, "capture.key")})
		if err != nil {
			return nil, err
		}
		return captureSource{cs}, nil
	}
}

// captureSource adapts the capture store to the datasets' Source.
type captureSource struct{ s *capture.Store }

func (c captureSource) Interactions(ctx context.Context, tenantID string) ([]dataset.Interaction, error) {
	recs, err := c.s.List(ctx, tenantID, capture.Filter{WithFeedback: true})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, errors.New("no captured interactions with feedback for this tenant yet (its data policy must capture them, and users rate them); or build from a file with --from FILE.jsonl")
	}
	out := make([]dataset.Interaction, 0, len(recs))
	for _, r := range recs {
		msgs := make([]dataset.Message, len(r.Messages))
		for i, m := range r.Messages {
			msgs[i] = dataset.Message{Role: m.Role, Content: m.Content}
		}
		fbs := make([]dataset.Feedback, len(r.Feedback))
		for i, f := range r.Feedback {
			fbs[i] = dataset.Feedback{Rating: f.Rating, Thumb: f.Thumb, Correction: f.Correction, Tags: f.Tags, Time: f.Time, Numbered: f.Numbered}
		}
		in := dataset.Interaction{ResponseID: r.ResponseID, EndUser: r.EndUser, Model: r.Model, Messages: msgs, Output: r.Output, Time: r.Time}
		out = append(out, in.WithFeedback(fbs))
	}
	return out, nil
}

// captureEnv opens what the capture commands need: the database, the
// tenant, the capture store (erasures flow on into datasets, along their
// lineage) and the audit log when the node is not running.
type captureEnv struct {
	d      *db.DB
	cs     *capture.Store
	ds     *dataset.Store
	log    audit.Appender
	tenant tenant.Tenant
}

func openCapture(ctx context.Context, dataDir, tenantArg string) (*captureEnv, error) {
	if dataDir == "" {
		var err error
		if dataDir, err = nodeDataDir(""); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, db.FileName)); err != nil {
		return nil, fmt.Errorf("no node database in %s", dataDir)
	}
	e := &captureEnv{}
	var err error
	if e.d, err = db.OpenDir(dataDir); err != nil {
		return nil, err
	}
	ts, err := tenant.Open(ctx, e.d, nil)
	if err != nil {
		e.close()
		return nil, err
	}
	if e.tenant, err = ts.GetTenant(ctx, tenantArg); err != nil {
		e.close()
		return nil, err
	}
	if e.ds, _, err = openSealedDatasets(ctx, e.d, dataDir, nil); err != nil {
		e.close()
		return nil, err
	}
	cfg := capture.Config{KeyFile: filepath.Join(dataDir, "capture.key"), Tenants: ts}
	// The audit log has one writer: append when no node holds it, spool
	// for the node to append when one does (or none has run yet).
	// The node key signs what is appended or spooled (created here if no
	// node has run yet).
	id, err := identity.LoadOrCreate(dataDir)
	if err != nil {
		e.close()
		return nil, err
	}
	cfg.Node = id.ID
	adir := filepath.Join(dataDir, "audit")
	if e.log, _, err = audit.OpenOrSpool(adir, id, audit.Options{}); err != nil {
		e.log = audit.NewSpooler(adir, id)
	}
	cfg.Audit = e.log
	cfg.OnErase = func(ctx context.Context, tenantID string, ids []string) error {
		_, err := e.ds.RemoveResponses(ctx, tenantID, ids)
		return err
	}
	if e.cs, err = capture.Open(ctx, e.d, cfg); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *captureEnv) close() {
	if e.log != nil {
		e.log.Close()
	}
	if e.d != nil {
		e.d.Close()
	}
}

func newCaptureCmd(g *globals) *cobra.Command {
	var dataDir, tenantArg string
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
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", "", "data directory (default $HEARTH_DATA_DIR or ~/.hearth)")
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
			e, err := openCapture(cmd.Context(), dataDir, tenantArg)
			if err != nil {
				return fmt.Errorf("capture export: %w", err)
			}
			defer e.close()
			w := g.stdout
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return fmt.Errorf("capture export: %w", err)
				}
				defer f.Close()
				w = f
			}
			n, err := e.cs.Export(cmd.Context(), e.tenant.ID, w, capture.Filter{})
			if err != nil {
				return fmt.Errorf("capture export: %w", err)
			}
			fmt.Fprintf(g.stderr, "exported %d interactions of tenant %s\n", n, e.tenant.Name)
			return nil
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
			e, err := openCapture(cmd.Context(), dataDir, tenantArg)
			if err != nil {
				return fmt.Errorf("capture erase: %w", err)
			}
			defer e.close()
			var n int
			if response != "" {
				n, err = e.cs.EraseResponse(cmd.Context(), e.tenant.ID, response)
			} else {
				n, err = e.cs.EraseUser(cmd.Context(), e.tenant.ID, user)
			}
			if err != nil {
				return fmt.Errorf("capture erase: %w", err)
			}
			fmt.Fprintf(g.stdout, "erased %d interactions of tenant %s (and their dataset examples)\n", n, e.tenant.Name)
			return nil
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
			e, err := openCapture(cmd.Context(), dataDir, tenantArg)
			if err != nil {
				return fmt.Errorf("capture shred: %w", err)
			}
			defer e.close()
			if err := e.cs.DeleteTenantKey(cmd.Context(), e.tenant.ID); err != nil {
				return fmt.Errorf("capture shred: %w", err)
			}
			fmt.Fprintf(g.stdout, "deleted the capture key of tenant %s: its captured records are unreadable\n", e.tenant.Name)
			return nil
		},
	}
	shred.Flags().BoolVar(&yes, "yes", false, "confirm")
	cmd.AddCommand(export, erase, shred)
	return cmd
}
