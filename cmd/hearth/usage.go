package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/metering"
	"github.com/hearth-ai/hearth/tenant"
)

func newUsageCmd(g *globals) *cobra.Command {
	var (
		tenantArg, key, since, until, by string
		asJSON, asCSV                    bool
	)
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show metered usage: requests, tokens and compute per tenant, key, model, node, jurisdiction or day",
		Long: `Show the usage recorded in the data directory's database.

--since and --until take a date (2026-11-01, midnight UTC), a time
(2026-11-01T15:04:05Z or 2026-11-01T15:04), or a duration back from now (24h,
90m, 7d). The period is [since, until); by default the current calendar
month in UTC, which is what monthly quotas count. --tenant takes a tenant's
name or ID; without it every tenant is shown, one per row.
--by groups by any of: ` + strings.Join(metering.GroupDimensions, ", ") + `.`,
		Example: `  hearth usage --tenant acme
  hearth usage --tenant acme --since 24h --by model,key
  hearth usage --since 2026-11-01 --until 2026-12-01 --by tenant,day --csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			now := g.now()
			q := metering.Query{Key: key, Since: metering.MonthStart(now), Until: now}
			var err error
			if since != "" {
				if q.Since, err = metering.ParseTime(since, now); err != nil {
					return fmt.Errorf("--since: %w", err)
				}
			}
			if until != "" {
				if q.Until, err = metering.ParseTime(until, now); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			for _, d := range strings.Split(by, ",") {
				if d = strings.TrimSpace(d); d != "" {
					q.GroupBy = append(q.GroupBy, d)
				}
			}

			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			path := filepath.Join(dir, db.FileName)
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("no database at %s (has a node run with this data directory?): %w", path, err)
			}
			d, err := db.Open(path)
			if err != nil {
				return err
			}
			defer d.Close()
			ctx := cmd.Context()

			title := "all tenants"
			if tenantArg != "" {
				ts, err := tenant.Open(ctx, d, nil)
				if err != nil {
					return err
				}
				t, gone, err := ts.Resolve(ctx, tenantArg)
				ts.Close()
				switch {
				case err != nil:
					return err
				case gone:
					title = fmt.Sprintf("tenant %s (deleted)", t.ID)
				default:
					title = fmt.Sprintf("tenant %s (%s)", t.Name, t.ID)
				}
				q.Tenant = t.ID
			} else if !slices.Contains(q.GroupBy, "tenant") {
				q.GroupBy = append([]string{"tenant"}, q.GroupBy...)
			}

			m, err := metering.Open(ctx, d, g.now)
			if err != nil {
				return err
			}
			rep, err := m.Report(ctx, q)
			if cerr := m.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			switch {
			case asJSON:
				return writeUsageJSON(g.stdout, rep)
			case asCSV:
				return writeUsageCSV(g.stdout, rep)
			default:
				return writeUsageTable(g.stdout, rep, title, now)
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&tenantArg, "tenant", "", "tenant name or ID (default: all tenants)")
	f.StringVar(&key, "key", "", "only this key ID")
	f.StringVar(&since, "since", "", "start of the period: date, time or duration ago (default: the 1st of this month, UTC)")
	f.StringVar(&until, "until", "", "end of the period, exclusive (default: now)")
	f.StringVar(&by, "by", "", "comma-separated dimensions to group by: "+strings.Join(metering.GroupDimensions, ","))
	f.BoolVar(&asJSON, "json", false, "print JSON")
	f.BoolVar(&asCSV, "csv", false, "print CSV")
	cmd.MarkFlagsMutuallyExclusive("json", "csv")
	return cmd
}

type usageJSONRow struct {
	Group            map[string]string `json:"group,omitempty"`
	Requests         int64             `json:"requests"`
	PromptTokens     int64             `json:"prompt_tokens"`
	CompletionTokens int64             `json:"completion_tokens"`
	TotalTokens      int64             `json:"total_tokens"`
	ComputeSeconds   float64           `json:"compute_seconds"`
}

func jsonRow(r metering.Row) usageJSONRow {
	return usageJSONRow{Group: r.Group, Requests: r.Requests, PromptTokens: r.PromptTokens,
		CompletionTokens: r.CompletionTokens, TotalTokens: r.Tokens(), ComputeSeconds: r.Compute.Seconds()}
}

func writeUsageJSON(w io.Writer, r *metering.Report) error {
	out := struct {
		Tenant  string         `json:"tenant,omitempty"`
		Key     string         `json:"key,omitempty"`
		Since   time.Time      `json:"since,omitzero"`
		Until   time.Time      `json:"until,omitzero"`
		GroupBy []string       `json:"group_by"`
		Rows    []usageJSONRow `json:"rows"`
		Total   usageJSONRow   `json:"total"`
	}{Tenant: r.Tenant, Key: r.Key, Since: r.Since, Until: r.Until, GroupBy: r.GroupBy, Rows: []usageJSONRow{}, Total: jsonRow(r.Total())}
	if out.GroupBy == nil {
		out.GroupBy = []string{}
	}
	for _, x := range r.Rows {
		out.Rows = append(out.Rows, jsonRow(x))
	}
	return printJSON(w, out)
}

func writeUsageCSV(w io.Writer, r *metering.Report) error {
	cw := csv.NewWriter(w)
	cw.Write(append(append([]string{}, r.GroupBy...), "requests", "prompt_tokens", "completion_tokens", "total_tokens", "compute_seconds"))
	for _, x := range r.Rows {
		rec := make([]string, 0, len(r.GroupBy)+5)
		for _, g := range r.GroupBy {
			rec = append(rec, x.Group[g])
		}
		rec = append(rec, strconv.FormatInt(x.Requests, 10), strconv.FormatInt(x.PromptTokens, 10),
			strconv.FormatInt(x.CompletionTokens, 10), strconv.FormatInt(x.Tokens(), 10),
			strconv.FormatFloat(x.Compute.Seconds(), 'f', 3, 64))
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

func writeUsageTable(w io.Writer, r *metering.Report, title string, now time.Time) error {
	const layout = "2006-01-02 15:04 MST"
	from, to := r.Since.UTC().Format(layout), r.Until.UTC().Format(layout)
	if r.Until.Equal(now) {
		to = "now (" + to + ")"
	}
	if r.Key != "" {
		title += ", key " + r.Key
	}
	fmt.Fprintf(w, "Usage of %s from %s to %s\n\n", title, from, to)
	if len(r.Rows) == 0 {
		fmt.Fprintln(w, "no usage recorded")
		return nil
	}
	head := make([]string, 0, len(r.GroupBy)+5)
	for _, g := range r.GroupBy {
		head = append(head, strings.ToUpper(g))
	}
	cells := [][]string{append(head, "REQUESTS", "PROMPT", "COMPLETION", "TOTAL", "COMPUTE")}
	line := func(group []string, x metering.Row) {
		cells = append(cells, append(group, strconv.FormatInt(x.Requests, 10), strconv.FormatInt(x.PromptTokens, 10),
			strconv.FormatInt(x.CompletionTokens, 10), strconv.FormatInt(x.Tokens(), 10), fmtCompute(x.Compute)))
	}
	for _, x := range r.Rows {
		group := make([]string, len(r.GroupBy))
		for i, g := range r.GroupBy {
			if group[i] = x.Group[g]; group[i] == "" {
				group[i] = "-"
			}
		}
		line(group, x)
	}
	if len(r.Rows) > 1 {
		group := make([]string, len(r.GroupBy))
		if len(group) > 0 {
			group[0] = "total"
		}
		line(group, r.Total())
	}
	return writeColumns(w, cells, len(r.GroupBy))
}

// writeColumns prints cells as a table: the first left columns aligned
// left (names), the rest right (numbers), two spaces apart.
func writeColumns(w io.Writer, cells [][]string, left int) error {
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, row := range cells {
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-len(c))
			if i < left {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fmtCompute shows compute time in seconds, or hours past a day's worth.
func fmtCompute(d time.Duration) string {
	if d >= 24*time.Hour {
		return fmt.Sprintf("%.1fh", d.Hours())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
