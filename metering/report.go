package metering

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Report is the usage of one period, grouped as its query asked: the
// query, resolved, with its rows. It is what `hearth usage` shows.
type Report struct {
	Tenant, Key  string
	Since, Until time.Time
	GroupBy      []string
	Rows         []Row
}

// Report runs q and returns it with its rows.
func (m *Meter) Report(ctx context.Context, q Query) (*Report, error) {
	rows, err := m.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return &Report{Tenant: q.Tenant, Key: q.Key, Since: q.Since, Until: q.Until, GroupBy: q.GroupBy, Rows: rows}, nil
}

// Total is the sum of the rows: the usage of the whole selection.
func (r *Report) Total() Row {
	var t Row
	for _, x := range r.Rows {
		t.Requests += x.Requests
		t.PromptTokens += x.PromptTokens
		t.CompletionTokens += x.CompletionTokens
		t.Compute += x.Compute
	}
	return t
}

// MonthStart is the first instant of t's calendar month in UTC: where the
// month that monthly quotas count began.
func MonthStart(t time.Time) time.Time {
	start, _ := monthBounds(monthOf(t))
	return start
}

// maxDaysBack bounds "Nd" in ParseTime: usage is kept far less long.
const maxDaysBack = 36500

// ParseTime reads a bound of a period of usage, as people write one: ""
// (the zero time: no bound), a duration back from now ("24h", "90m", or
// whole days, "7d"), a date (midnight UTC) or a time (RFC 3339, or
// without a zone for UTC, to the minute or second).
func ParseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= 0 {
			if days > maxDaysBack {
				return time.Time{}, fmt.Errorf("%q is more than %d days (100 years) back", s, maxDaysBack)
			}
			return now.AddDate(0, 0, -days), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("negative duration %q", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{"2006-01-02", time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2026-11-01), time (2026-11-01T15:04:05Z) or duration (24h, 7d)", s)
}
