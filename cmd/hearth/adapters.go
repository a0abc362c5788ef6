package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/internal/atomicfile"
)

func newAdaptersCmd(g *globals) *cobra.Command {
	var tenantArg string
	// with opens the tenant's flywheel (audited if the command changes or
	// exports something), runs fn on it and closes it again.
	with := func(ctx context.Context, audited bool, fn func(*flywheelEnv) error) error {
		return withFlywheel(ctx, g, tenantArg, audited, fn)
	}
	cmd := &cobra.Command{
		Use:   "adapters",
		Short: "List, export, retire and delete a tenant's LoRA adapters",
		Long: `The LoRA adapters trained on a tenant's datasets (hearth train, or a
fine-tuning job), kept in the data directory's database: versions 1, 2, ...
per name, each with its lineage (the base model and its file's SHA-256, the
dataset version and the content hash of its examples, hyper-parameters,
metrics, node, jurisdiction, time).

An adapter trained on a tenant's data is that tenant's data: it is sealed
under the tenant's capture key (shredding it leaves the adapters
unreadable), kept only on a node of the tenant's home jurisdiction, and its
registration, export, retirement and deletion are audited. When an
erasure removes examples from the dataset version an adapter was trained
on, the adapter is marked (ERASED), and retired too when the tenant's
policy says so (hearth tenants update T --retire-erased-adapters).

NAME without @VERSION means the latest version that is not retired.`,
	}
	cmd.PersistentFlags().StringVar(&tenantArg, "tenant", "", "tenant name or ID (required)")

	var asJSON bool
	list := &cobra.Command{
		Use:   "list --tenant T [--json]",
		Short: "List the tenant's adapters and their versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return with(cmd.Context(), false, func(e *flywheelEnv) error {
				vs, err := e.fw.Adapters.List(cmd.Context(), e.tenant.ID)
				if err != nil {
					return err
				}
				return printList(g, asJSON, vs, "no adapters (hearth train makes one)",
					"NAME\tVERSION\tBASE\tDATASET\tSTATE\tERASED\tCREATED\tMETRICS",
					func(w io.Writer, v registry.Version) {
						erased := "-"
						if v.ErasedData {
							erased = "yes, " + v.ErasedAt.Format(time.RFC3339)
						}
						ds := "-"
						if v.Dataset.Name != "" {
							ds = fmt.Sprintf("%s@%d", v.Dataset.Name, v.Dataset.Version)
						}
						fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Name, v.Version, v.Base.Name, ds, v.State, erased,
							v.Created.Format(time.RFC3339), compactJSON(v.Metrics))
					})
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	export := &cobra.Command{
		Use:   "export --tenant T NAME[@VERSION] FILE",
		Short: "Write an adapter as a plain llama.cpp LoRA GGUF (audited)",
		Long: `Write an adapter version as the plain llama.cpp LoRA GGUF it was trained as,
for llama.cpp's --lora or any other runtime that reads them. The file is
replaced whole once complete, readable by its owner only; the export is an
audit record, and nothing is written when the audit log cannot record it.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := registry.ParseRef(args[0])
			if err != nil {
				return err
			}
			return with(cmd.Context(), true, func(e *flywheelEnv) error {
				var v *registry.Version
				var exportErr error
				err := atomicfile.WriteFunc(args[1], 0o600, func(w io.Writer) error {
					v, exportErr = e.fw.Adapters.Export(cmd.Context(), e.tenant.ID, name, version, w)
					return exportErr
				})
				if exportErr != nil {
					return exportErr
				}
				if err != nil {
					return fmt.Errorf("%s: %w", args[1], err)
				}
				fmt.Fprintf(g.stderr, "exported %s (%d bytes, sha256 %s) to %s\n", v.Ref(), v.Size, v.SHA256, args[1])
				return nil
			})
		},
	}

	// changeCmd is retire or delete: NAME@VERSION, or NAME --all.
	changeCmd := func(verb, short string, do func(*registry.Store) func(ctx context.Context, tenantID, name string, version int) error) *cobra.Command {
		var all bool
		c := &cobra.Command{
			Use:   verb + " --tenant T (NAME@VERSION | NAME --all)",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				name, version, err := registry.ParseRef(args[0])
				if err != nil {
					return err
				}
				if (version == 0) != all {
					return fmt.Errorf("give NAME@VERSION for one version, or NAME --all for every version of it")
				}
				return with(cmd.Context(), true, func(e *flywheelEnv) error {
					if err := do(e.fw.Adapters)(cmd.Context(), e.tenant.ID, name, version); err != nil {
						return err
					}
					fmt.Fprintf(g.stdout, "%sd %s\n", verb, args[0])
					return nil
				})
			},
		}
		c.Flags().BoolVar(&all, "all", false, "every version of NAME")
		return c
	}
	cmd.AddCommand(list, export,
		changeCmd("retire", "Retire an adapter version: kept and listed, no longer the latest; deployments it serves fall back to their base (audited)",
			func(s *registry.Store) func(context.Context, string, string, int) error { return s.Retire }),
		changeCmd("delete", "Delete an adapter version and its sealed file; deployments it serves fall back to their base (audited)",
			func(s *registry.Store) func(context.Context, string, string, int) error { return s.Delete }),
	)
	return cmd
}

// compactJSON shows opaque JSON on one line.
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if len(raw) == 0 || json.Compact(&b, raw) != nil {
		return "-"
	}
	return b.String()
}
