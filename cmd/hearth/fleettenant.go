package main

import (
	"cmp"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/tenant"
	"github.com/hearth-ai/hearth/tenantdoc"
)

// `hearth fleet tenant sign` and `push`: tenants defined once, by the
// operator, for every node (see tenantdoc.Sync).

func newFleetTenantCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Define a tenant for the whole fleet with a document the operator signs",
		Long: `A tenant document is a tenant's name, policy and limits (or its deletion),
dated and signed with the operator key. Pushed to any node, it spreads to
every node of the fleet, each of which checks the signature and applies the
newest document it has seen: the tenant is created, updated or deleted there.
Nodes that were down catch up when they rejoin. API keys stay per node
("hearth keys create" on the node a client talks to).`,
	}
	cmd.AddCommand(newFleetTenantSignCmd(g), newFleetTenantPushCmd(g), newFleetTenantListCmd(g))
	return cmd
}

func newFleetTenantListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--data-dir DATA]",
		Short: "List the tenant documents a node holds (the newest it has verified for each tenant)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			d, err := db.OpenDir(dir)
			if err != nil {
				return err
			}
			defer d.Close()
			docs, err := tenantdoc.List(cmd.Context(), d)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(g.stdout, docs)
			}
			if len(docs) == 0 {
				fmt.Fprintln(g.stdout, "no tenant documents")
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TENANT\tISSUED\tJURISDICTIONS\tHOME\tCAPTURE\tDELETED")
			for _, doc := range docs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", doc.Tenant, doc.Issued.Format(time.RFC3339),
					tenantListOr(doc.Policy.Jurisdictions, "any"),
					cmp.Or(doc.Policy.Home, "-"), cmp.Or(doc.Policy.Capture, "-"), doc.Deleted)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newFleetTenantSignCmd(g *globals) *cobra.Command {
	var f tenantFlags
	var keyFile, out string
	var del bool
	cmd := &cobra.Command{
		Use:   "sign NAME --operator-key FILE [policy flags] [--delete] [--out FILE]",
		Short: "Sign a tenant document",
		Example: `  hearth fleet tenant sign ng-health --operator-key operator.key --jurisdictions NG --home NG \
    --capture on --retention-days 30 --out ng-health.tenant`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return fmt.Errorf("fleet tenant sign: --operator-key is required")
			}
			priv, err := fabric.LoadOperatorKey(keyFile)
			if err != nil {
				return err
			}
			var t tenant.Tenant
			f.patch(cmd).Apply(&t)
			d, err := tenantdoc.Sign(priv, tenantdoc.Doc{Tenant: args[0], Policy: t.Policy, Limits: t.Limits, Deleted: del}, time.Now())
			if err != nil {
				return fmt.Errorf("fleet tenant sign: %w", err)
			}
			b, err := d.Marshal()
			if err != nil {
				return err
			}
			b = append(b, '\n')
			if out == "" {
				_, err = g.stdout.Write(b)
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return fmt.Errorf("fleet tenant sign: %w", err)
			}
			fmt.Fprintf(g.stderr, "signed tenant %s (issued %s): %s\nnext: hearth fleet tenant push %s --data-dir NODE_DATA\n",
				args[0], d.Issued.Format(time.RFC3339), out, out)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&keyFile, "operator-key", "", "operator private key file")
	cmd.Flags().BoolVar(&del, "delete", false, "a document that deletes the tenant (and its keys) on every node")
	cmd.Flags().StringVar(&out, "out", "", "file to write (default stdout)")
	return cmd
}

func newFleetTenantPushCmd(g *globals) *cobra.Command {
	var url, token, creds string
	cmd := &cobra.Command{
		Use:   "push FILE... (--data-dir DATA | --nats URL [--token T])",
		Short: "Publish signed tenant documents to the fleet through one node",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var docs [][]byte
			for _, path := range args {
				b, err := os.ReadFile(path)
				if err != nil {
					return fmt.Errorf("fleet tenant push: %w", err)
				}
				if _, err := tenantdoc.Parse(b); err != nil {
					return fmt.Errorf("fleet tenant push: %s: %w", path, err)
				}
				docs = append(docs, b)
			}
			a, err := g.clientAccess(fabric.ClientAccess{URL: url, Token: token, Credentials: creds})
			if err != nil {
				return fmt.Errorf("fleet tenant push: %w", err)
			}
			if a.URL == "" {
				return fmt.Errorf("fleet tenant push: give --data-dir of a running node, or --nats")
			}
			if err := fabric.PublishTo(cmd.Context(), a, "hearth fleet tenant push", tenantdoc.Subject, docs...); err != nil {
				return fmt.Errorf("fleet tenant push: %w", err)
			}
			fmt.Fprintf(g.stderr, "pushed %d tenant document(s); every node applies them if the operator signed them and they are newer than what it holds (see its log and audit log)\n", len(docs))
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "nats", "", "NATS URL of a node or of the fleet's NATS")
	cmd.Flags().StringVar(&token, "token", "", "the node's NATS client token")
	cmd.Flags().StringVar(&creds, "creds", "", "NATS credentials file")
	return cmd
}
