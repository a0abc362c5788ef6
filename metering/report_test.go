package metering

import (
	"context"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/internal/testclock"
	"github.com/hearth-ai/hearth/tenant"
)

func TestReport(t *testing.T) {
	c := testclock.New(t0)
	m := openMeter(t, c)
	for _, u := range []struct {
		tenant           string
		prompt, complete int
	}{{"acme", 100, 10}, {"acme", 200, 20}, {"beta", 5000, 500}} {
		if err := use(t, m, principal(u.tenant, tenant.Limits{}, "k_"+u.tenant, tenant.Limits{}), 1, u.prompt, u.complete); err != nil {
			t.Fatal(err)
		}
	}
	q := Query{Since: MonthStart(t0), Until: t0.Add(time.Second), GroupBy: []string{"tenant"}}
	rep, err := m.Report(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Since.Equal(q.Since) || !rep.Until.Equal(q.Until) || len(rep.GroupBy) != 1 || len(rep.Rows) != 2 {
		t.Fatalf("report = %+v; want the query's period and grouping with two rows", rep)
	}
	tot := rep.Total()
	if tot.Requests != 3 || tot.PromptTokens != 5300 || tot.CompletionTokens != 530 || tot.Tokens() != 5830 {
		t.Errorf("total = %+v; want 3 requests, 5300 prompt and 530 completion tokens", tot)
	}
	if z := (&Report{}).Total(); z.Requests != 0 || z.Tokens() != 0 || z.Compute != 0 {
		t.Error("the total of no rows is not zero")
	}
	if _, err := m.Report(context.Background(), Query{GroupBy: []string{"colour"}}); err == nil {
		t.Error("a report grouped by an unknown dimension was made")
	}
}

func TestMonthStart(t *testing.T) {
	for _, c := range []struct{ in, want time.Time }{
		{t0, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
		// 00:30 on 1 January in Nairobi is still December in UTC.
		{time.Date(2027, 1, 1, 0, 30, 0, 0, time.FixedZone("EAT", 3*3600)), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if got := MonthStart(c.in); !got.Equal(c.want) {
			t.Errorf("MonthStart(%v) = %v; want %v", c.in, got, c.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"24h", now.Add(-24 * time.Hour)},
		{"7d", now.AddDate(0, 0, -7)},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-11-01T15:04", time.Date(2026, 11, 1, 15, 4, 0, 0, time.UTC)},
		{"2026-11-01T15:04:05+03:00", time.Date(2026, 11, 1, 12, 4, 5, 0, time.UTC)},
	} {
		got, err := ParseTime(c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"soon", "-1h", "2026-13-01", "d", "36501d", "9223372036854775807d"} {
		if _, err := ParseTime(bad, now); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}
