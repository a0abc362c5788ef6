package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/admin"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/tenant"
)

// tenantStore opens the tenant store in the data directory's database;
// close releases it.
type tenantStore struct {
	g       *globals
	dataDir string // set by open: the data directory, for the audit log
}

func (ts *tenantStore) open(ctx context.Context) (s *tenant.Store, closeFn func(), err error) {
	if ts.dataDir, err = ts.g.dataDir(); err != nil {
		return nil, nil, err
	}
	d, err := db.OpenDir(ts.dataDir)
	if err != nil {
		return nil, nil, err
	}
	s, err = tenant.Open(ctx, d, ts.g.now)
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return s, func() { s.Close(); d.Close() }, nil
}

// with opens the store, runs fn on it and closes it again.
func (ts *tenantStore) with(ctx context.Context, fn func(*tenant.Store) error) error {
	s, done, err := ts.open(ctx)
	if err != nil {
		return err
	}
	defer done()
	return fn(s)
}

func newTenantsCmd(g *globals) *cobra.Command {
	ts := &tenantStore{g: g}
	cmd := &cobra.Command{
		Use:   "tenants",
		Short: "Manage tenants: who may use this node, which models, where, and how much",
		Long: `Manage the tenants kept in the data directory's database (DIR/hearth.db).

A tenant is an agency or customer served by the node, with a data policy
(allowed models, processing jurisdictions, home jurisdiction, capture mode,
retention) and limits (0 = unlimited). Its API keys are managed with
"hearth keys". Changes take effect at once, also for a running server.`,
	}
	cmd.AddCommand(
		newTenantsCreateCmd(g, ts),
		newTenantsListCmd(g, ts),
		newTenantsShowCmd(g, ts),
		newTenantsUpdateCmd(g, ts),
		newTenantsRmCmd(g, ts),
		newTenantsEnableCmd(g, ts, "disable", true),
		newTenantsEnableCmd(g, ts, "enable", false),
	)
	return cmd
}

// tenantFlags are the policy and limit flags of create and update.
type tenantFlags struct {
	models, zones       []string
	home, capture       string
	retention, rpm, tpm int
	monthly             int64
	retireErased        bool
}

func (f *tenantFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVar(&f.models, "models", nil, `allowed models, "name" (any tag) or "name:tag" (empty: all)`)
	fl.StringSliceVar(&f.zones, "jurisdictions", nil, `where requests may be processed: ISO 3166-1 alpha-2 codes or zones like KE-NBO, EU (empty: anywhere)`)
	fl.StringVar(&f.home, "home", "", "home jurisdiction, where the tenant's data lives (one of --jurisdictions)")
	fl.StringVar(&f.capture, "capture", "", "capture of requests and responses: off, opt-in or on (default off)")
	fl.IntVar(&f.retention, "retention-days", 0, "days captured data is kept")
	fl.BoolVar(&f.retireErased, "retire-erased-adapters", false, "retire LoRA adapters automatically when an erasure reaches the dataset they were trained on")
	fl.IntVar(&f.rpm, "rpm", 0, "requests per minute (0: unlimited)")
	fl.IntVar(&f.tpm, "tpm", 0, "tokens per minute (0: unlimited)")
	fl.Int64Var(&f.monthly, "monthly-tokens", 0, "tokens per calendar month (0: unlimited)")
}

// patch is the change the flags given make, so update changes only
// those; `--models ""` clears a list.
func (f *tenantFlags) patch(cmd *cobra.Command) admin.TenantPatch {
	changed := cmd.Flags().Changed
	var pol admin.PolicyPatch
	var lim admin.LimitsPatch
	ifChanged(changed, "models", &pol.AllowedModels, &f.models)
	ifChanged(changed, "jurisdictions", &pol.Jurisdictions, &f.zones)
	ifChanged(changed, "home", &pol.Home, &f.home)
	ifChanged(changed, "capture", &pol.Capture, &f.capture)
	ifChanged(changed, "retention-days", &pol.RetentionDays, &f.retention)
	ifChanged(changed, "retire-erased-adapters", &pol.RetireErasedAdapters, &f.retireErased)
	ifChanged(changed, "rpm", &lim.RequestsPerMinute, &f.rpm)
	ifChanged(changed, "tpm", &lim.TokensPerMinute, &f.tpm)
	ifChanged(changed, "monthly-tokens", &lim.MonthlyTokens, &f.monthly)
	return admin.TenantPatch{Policy: &pol, Limits: &lim}
}

// ifChanged points *field at v when the flag named was given: a patch
// field left nil is not changed.
func ifChanged[T any](changed func(string) bool, flag string, field **T, v *T) {
	if changed(flag) {
		*field = v
	}
}

func newTenantsCreateCmd(g *globals, ts *tenantStore) *cobra.Command {
	var f tenantFlags
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a tenant",
		Example: `  hearth tenants create kra --jurisdictions KE,KE-NBO --home KE --models llama3 --capture opt-in --retention-days 30
  hearth tenants create lab --rpm 60 --tpm 20000 --monthly-tokens 5000000`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ts.with(cmd.Context(), func(s *tenant.Store) error {
				t := tenant.Tenant{Name: args[0]}
				f.patch(cmd).Apply(&t)
				t, err := cliOps(g, ts.dataDir, s).CreateTenant(cmd.Context(), t)
				if err != nil {
					return cliChangeErr(err)
				}
				fmt.Fprintf(g.stdout, "created tenant %s (%s)\n", t.Name, t.ID)
				fmt.Fprintf(g.stderr, "next: hearth keys create --tenant %s\n", t.Name)
				return nil
			})
		},
	}
	f.register(cmd)
	return cmd
}

func newTenantsUpdateCmd(g *globals, ts *tenantStore) *cobra.Command {
	var f tenantFlags
	var rename string
	cmd := &cobra.Command{
		Use:     "update NAME",
		Short:   "Change a tenant's policy or limits (only the flags given)",
		Example: `  hearth tenants update kra --tpm 50000 --models ""`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := f.patch(cmd)
			ifChanged(cmd.Flags().Changed, "rename", &p.Name, &rename)
			if len(p.Fields()) == 0 {
				return fmt.Errorf("nothing to change: give at least one of --models, --jurisdictions, --home, --capture, --retention-days, --rpm, --tpm, --monthly-tokens, --rename")
			}
			return ts.with(cmd.Context(), func(s *tenant.Store) error {
				t, err := cliOps(g, ts.dataDir, s).UpdateTenant(cmd.Context(), args[0], p)
				if err != nil {
					return cliChangeErr(err)
				}
				fmt.Fprintf(g.stdout, "updated tenant %s (%s)\n", t.Name, t.ID)
				return nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&rename, "rename", "", "new name")
	return cmd
}

func newTenantsListCmd(g *globals, ts *tenantStore) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List tenants",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return ts.with(cmd.Context(), func(s *tenant.Store) error {
				list, err := s.ListTenants(cmd.Context())
				if err != nil {
					return err
				}
				return printList(g, asJSON, list,
					"no tenants: the node serves local requests only (hearth tenants create NAME)",
					"NAME\tID\tSTATUS\tMODELS\tJURISDICTIONS\tHOME\tCAPTURE\tRETENTION\tRPM\tTPM\tMONTHLY",
					func(w io.Writer, t tenant.Tenant) {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.ID, tenantStatus(t),
							tenantListOr(t.Policy.AllowedModels, "all"), tenantListOr(t.Policy.Jurisdictions, "any"), cmp.Or(t.Policy.Home, "-"),
							t.Policy.Capture, tenantDays(t.Policy.RetentionDays), tenantLimit(int64(t.Limits.RequestsPerMinute)),
							tenantLimit(int64(t.Limits.TokensPerMinute)), tenantLimit(t.Limits.MonthlyTokens))
					})
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newTenantsShowCmd(g *globals, ts *tenantStore) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a tenant (by name or ID)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ts.with(cmd.Context(), func(s *tenant.Store) error {
				t, err := s.GetTenant(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(g.stdout, t)
				}
				keys, err := s.ListKeys(cmd.Context(), t.ID)
				if err != nil {
					return err
				}
				active := 0
				for _, k := range keys {
					if k.Status(g.now()) == "active" {
						active++
					}
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 4, 1, ' ', 0)
				for _, row := range [][2]string{
					{"name", t.Name},
					{"id", t.ID},
					{"status", tenantStatus(t)},
					{"created", t.Created.Local().Format(time.RFC3339)},
					{"models", tenantListOr(t.Policy.AllowedModels, "all")},
					{"jurisdictions", tenantListOr(t.Policy.Jurisdictions, "any")},
					{"home", cmp.Or(t.Policy.Home, "-")},
					{"capture", t.Policy.Capture},
					{"retention", tenantDays(t.Policy.RetentionDays)},
					{"retire erased adapters", strconv.FormatBool(t.Policy.RetireErasedAdapters)},
					{"requests/min", tenantLimit(int64(t.Limits.RequestsPerMinute))},
					{"tokens/min", tenantLimit(int64(t.Limits.TokensPerMinute))},
					{"monthly tokens", tenantLimit(t.Limits.MonthlyTokens)},
					{"keys", fmt.Sprintf("%d active, %d total", active, len(keys))},
				} {
					fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newTenantsRmCmd(g *globals, ts *tenantStore) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"delete"},
		Short:   "Delete a tenant and all its keys",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ts.with(cmd.Context(), func(s *tenant.Store) error {
				_, n, err := cliOps(g, ts.dataDir, s).DeleteTenant(cmd.Context(), args[0])
				if err != nil {
					return cliChangeErr(err)
				}
				fmt.Fprintf(g.stdout, "deleted tenant %s and its %d keys\n", args[0], n)
				return nil
			})
		},
	}
}

// newTenantsEnableCmd makes "disable" (disabled = true) or "enable".
func newTenantsEnableCmd(g *globals, ts *tenantStore, verb string, disabled bool) *cobra.Command {
	short := "Enable a disabled tenant: its keys work again"
	if disabled {
		short = "Disable a tenant: its keys are refused from now on, nothing is deleted"
	}
	return &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ts.with(cmd.Context(), func(s *tenant.Store) error {
				t, err := cliOps(g, ts.dataDir, s).UpdateTenant(cmd.Context(), args[0], admin.TenantPatch{Disabled: &disabled})
				if err != nil {
					return cliChangeErr(err)
				}
				fmt.Fprintf(g.stdout, "tenant %s %sd\n", t.Name, verb)
				return nil
			})
		},
	}
}

func tenantStatus(t tenant.Tenant) string {
	if t.Disabled {
		return "disabled"
	}
	return "enabled"
}

func tenantListOr(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, ",")
}

func tenantLimit(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return strconv.FormatInt(n, 10)
}

func tenantDays(n int) string {
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}
