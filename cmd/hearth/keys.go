package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/tenant"
)

func newKeysCmd(g *globals) *cobra.Command {
	ts := &tenantStore{g: g}
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage tenants' API keys: create (shown once), list, revoke",
		Long: `Manage API keys, kept in the data directory's database (DIR/hearth.db).

A key's secret (hk_...) is printed once, when it is created; the node keeps
only its SHA-256 hash. Clients send it as "Authorization: Bearer hk_...".
Scopes: inference (completions, chat, embeddings), feedback, admin (the
admin API, for every tenant: operators only). Revocation takes effect at
once, also for a running server.`,
	}
	cmd.AddCommand(newKeysCreateCmd(g, ts), newKeysListCmd(g, ts), newKeysRevokeCmd(g, ts))
	return cmd
}

func newKeysCreateCmd(g *globals, ts *tenantStore) *cobra.Command {
	var (
		tenantName, name, expires string
		scopes                    []string
		rpm, tpm                  int
		monthly                   int64
		asJSON                    bool
	)
	cmd := &cobra.Command{
		Use:   "create --tenant T",
		Short: "Create an API key and print its secret, once",
		Example: `  hearth keys create --tenant kra --name ci --expires 720h
  hearth keys create --tenant ops --scopes admin --expires 2027-01-01`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o := tenant.KeyOptions{Name: name, Limits: tenant.Limits{RequestsPerMinute: rpm, TokensPerMinute: tpm, MonthlyTokens: monthly}}
			for _, s := range scopes {
				sc, err := tenant.ParseScope(strings.TrimSpace(s))
				if err != nil {
					return fmt.Errorf("--scopes: %w", err)
				}
				o.Scopes = append(o.Scopes, sc)
			}
			var err error
			if o.Expires, err = parseKeyExpiry(expires, g.now()); err != nil {
				return fmt.Errorf("--expires: %w", err)
			}
			return ts.with(cmd.Context(), func(s *tenant.Store) error {
				// Recorded before the secret is shown, inside the creation: a key
				// whose creation could not be recorded does not exist.
				secret, k, err := cliOps(g, ts.dataDir, s).CreateKey(cmd.Context(), tenantName, o)
				if err != nil {
					return cliChangeErr(err)
				}
				if k.Has(tenant.ScopeAdmin) {
					fmt.Fprintln(g.stderr, "note: an admin key manages every tenant through the admin API; give it to operators only")
				}
				const warning = "store the secret now: it is not kept and cannot be shown again"
				if asJSON {
					return printJSON(g.stdout, map[string]any{"secret": secret, "key": k, "warning": warning})
				}
				// The secret alone on stdout, so KEY=$(hearth keys create ...)
				// works; the rest on stderr.
				fmt.Fprintln(g.stdout, secret)
				expiry := "never expires"
				if !k.Expires.IsZero() {
					expiry = "expires " + k.Expires.Local().Format(time.RFC3339)
				}
				fmt.Fprintf(g.stderr, "created key %s (%s...) for tenant %s: scopes %s, %s\n",
					k.ID, k.Prefix, tenantName, tenant.JoinScopes(k.Scopes), expiry)
				fmt.Fprintln(g.stderr, "warning: "+warning)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenantName, "tenant", "", "tenant (name or ID) the key belongs to (required)")
	f.StringVar(&name, "name", "", "label for the key")
	f.StringSliceVar(&scopes, "scopes", []string{"inference"}, "scopes: inference, feedback, admin")
	f.StringVar(&expires, "expires", "", "expiry: a lifetime (720h, 30d) or a date/time (2027-01-01, 2027-01-01T12:00:00Z); default never")
	f.IntVar(&rpm, "rpm", 0, "the key's requests per minute (0: only the tenant's limit)")
	f.IntVar(&tpm, "tpm", 0, "the key's tokens per minute (0: only the tenant's limit)")
	f.Int64Var(&monthly, "monthly-tokens", 0, "the key's tokens per calendar month (0: only the tenant's limit)")
	f.BoolVar(&asJSON, "json", false, "print the secret and the key as JSON")
	cmd.MarkFlagRequired("tenant")
	return cmd
}

// parseKeyExpiry reads --expires: "" (never), a lifetime from now (Go
// duration or N days, "30d"), a date (midnight UTC) or an RFC 3339 time.
// Whatever the form, the expiry is in the future and at most
// tenant.MaxKeyLifetime away: "0001-01-01" (the zero time, which the store
// reads as never) and lifetimes that overflow are refused, not wrapped.
func parseKeyExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	const maxDays = int(tenant.MaxKeyLifetime / (24 * time.Hour))
	lifetime := func(d time.Duration) (time.Time, error) {
		switch {
		case d <= 0:
			return time.Time{}, fmt.Errorf("lifetime %q is not positive", s)
		case d > tenant.MaxKeyLifetime:
			return time.Time{}, fmt.Errorf("lifetime %q is more than 100 years (%dd); leave out --expires for a key that never expires", s, maxDays)
		}
		return now.Add(d), nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		switch {
		case errors.Is(err, strconv.ErrRange), err == nil && days > maxDays: // refused before multiplying, which would overflow
			return lifetime(tenant.MaxKeyLifetime + 1)
		case err != nil:
			return time.Time{}, fmt.Errorf("lifetime %q is not a whole number of days (30d)", s)
		}
		return lifetime(time.Duration(days) * 24 * time.Hour)
	}
	if d, err := time.ParseDuration(s); err == nil {
		return lifetime(d)
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339, "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			switch {
			case !t.After(now):
				return time.Time{}, fmt.Errorf("expiry %q is not in the future", s)
			case t.Sub(now) > tenant.MaxKeyLifetime:
				return time.Time{}, fmt.Errorf("expiry %q is more than 100 years away; leave out --expires for a key that never expires", s)
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a lifetime (720h, 30d) nor a date or time (2027-01-01, 2027-01-01T12:00:00Z)", s)
}

func newKeysListCmd(g *globals, ts *tenantStore) *cobra.Command {
	var tenantName string
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list --tenant T",
		Aliases: []string{"ls"},
		Short:   "List a tenant's keys (never their secrets)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return ts.with(cmd.Context(), func(s *tenant.Store) error {
				keys, err := s.ListKeys(cmd.Context(), tenantName)
				if err != nil {
					return err
				}
				now := g.now()
				return printList(g, asJSON, keys,
					fmt.Sprintf("tenant %s has no keys (hearth keys create --tenant %s)", tenantName, tenantName),
					"ID\tNAME\tPREFIX\tSCOPES\tSTATUS\tCREATED\tEXPIRES",
					func(w io.Writer, k tenant.Key) {
						exp := "never"
						if !k.Expires.IsZero() {
							exp = k.Expires.Local().Format(time.RFC3339)
						}
						fmt.Fprintf(w, "%s\t%s\t%s...\t%s\t%s\t%s\t%s\n", k.ID, cmp.Or(k.Name, "-"), k.Prefix, tenant.JoinScopes(k.Scopes),
							k.Status(now), k.Created.Local().Format(time.RFC3339), exp)
					})
			})
		},
	}
	cmd.Flags().StringVar(&tenantName, "tenant", "", "tenant (name or ID) (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.MarkFlagRequired("tenant")
	return cmd
}

func newKeysRevokeCmd(g *globals, ts *tenantStore) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a key: refused from the next request on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ts.with(cmd.Context(), func(s *tenant.Store) error {
				k, _, err := cliOps(g, ts.dataDir, s).RevokeKey(cmd.Context(), args[0])
				if err != nil {
					return cliChangeErr(err)
				}
				owner := k.TenantID
				if t, err := s.GetTenant(cmd.Context(), k.TenantID); err == nil {
					owner = t.Name
				}
				fmt.Fprintf(g.stdout, "revoked key %s (%s...) of tenant %s\n", k.ID, k.Prefix, owner)
				return nil
			})
		},
	}
}
