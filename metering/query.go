package metering

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Query selects and groups recorded usage. Empty Tenant or Key and zero
// Since or Until do not filter; Until is exclusive.
type Query struct {
	Tenant, Key  string
	Since, Until time.Time
	// GroupBy lists dimensions from GroupDimensions; none gives one total.
	GroupBy []string
}

// Row is the usage of one group.
type Row struct {
	Group            map[string]string // dimension -> value, as in GroupBy; "day" is YYYY-MM-DD (UTC)
	Requests         int64
	PromptTokens     int64
	CompletionTokens int64
	Compute          time.Duration
}

// Tokens is prompt plus completion tokens.
func (r Row) Tokens() int64 { return r.PromptTokens + r.CompletionTokens }

// GroupDimensions are the dimensions Query can group by, with their SQL.
var GroupDimensions = []string{"tenant", "key", "model", "node", "jurisdiction", "day"}

var dimensionSQL = map[string]string{
	"tenant":       "tenant",
	"key":          "key_id",
	"model":        "model",
	"node":         "node",
	"jurisdiction": "jurisdiction",
	"day":          "strftime('%Y-%m-%d', time_ms / 1000, 'unixepoch')",
}

// Query returns usage grouped as q asks, ordered by the groups' values
// (no rows when nothing matches). It flushes first, so every Done that
// returned before the call counts.
func (m *Meter) Query(ctx context.Context, q Query) ([]Row, error) {
	var cols []string
	seen := map[string]bool{}
	for _, g := range q.GroupBy {
		c, ok := dimensionSQL[g]
		if !ok {
			return nil, fmt.Errorf("metering: query: cannot group by %q (want one of %s)", g, strings.Join(GroupDimensions, ", "))
		}
		if seen[g] {
			return nil, fmt.Errorf("metering: query: %q is in the grouping twice", g)
		}
		seen[g] = true
		cols = append(cols, c)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return nil, fmt.Errorf("metering: query: until %s is not after since %s", q.Until.Format(time.RFC3339), q.Since.Format(time.RFC3339))
	}
	if err := m.Flush(ctx); err != nil {
		return nil, fmt.Errorf("metering: query: %w", err)
	}

	var where []string
	var args []any
	if q.Tenant != "" {
		where, args = append(where, "tenant = ?"), append(args, q.Tenant)
	}
	if q.Key != "" {
		where, args = append(where, "key_id = ?"), append(args, q.Key)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "time_ms >= ?"), append(args, q.Since.UnixMilli())
	}
	if !q.Until.IsZero() {
		where, args = append(where, "time_ms < ?"), append(args, q.Until.UnixMilli())
	}
	var sb strings.Builder
	sb.WriteString("SELECT ")
	for _, c := range cols {
		sb.WriteString(c + ", ")
	}
	sb.WriteString("COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(compute_us), 0) FROM metering_usage")
	if len(where) > 0 {
		sb.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	if len(cols) > 0 {
		// Group and order by position: the expressions are not repeated.
		pos := make([]string, len(cols))
		for i := range cols {
			pos[i] = fmt.Sprint(i + 1)
		}
		sb.WriteString(" GROUP BY " + strings.Join(pos, ", ") + " ORDER BY " + strings.Join(pos, ", "))
	}

	rows, err := m.db.QueryContext(ctx, sb.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("metering: query: %w", err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		vals := make([]string, len(cols))
		dest := make([]any, 0, len(cols)+4)
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		var r Row
		var computeUS int64
		dest = append(dest, &r.Requests, &r.PromptTokens, &r.CompletionTokens, &computeUS)
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("metering: query: %w", err)
		}
		if r.Requests == 0 {
			continue // the single total row of an empty selection
		}
		r.Compute = time.Duration(computeUS) * time.Microsecond
		r.Group = make(map[string]string, len(cols))
		for i, g := range q.GroupBy {
			r.Group[g] = vals[i]
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("metering: query: %w", err)
	}
	return out, nil
}
