package metering

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/internal/testclock"
	"github.com/hearth-ai/hearth/tenant"
)

// checkRows compares query results with want, in order.
func checkRows(t *testing.T, got, want []Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows %+v; want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("row %d = %+v; want %+v", i, got[i], want[i])
		}
	}
}

func TestQueryGrouping(t *testing.T) {
	c := testclock.New(t0)
	m := openMeter(t, c)
	ctx := context.Background()
	a1 := principal("acme", tenant.Limits{}, "a1", tenant.Limits{})
	a2 := principal("acme", tenant.Limits{}, "a2", tenant.Limits{})
	b1 := principal("beta", tenant.Limits{}, "b1", tenant.Limits{})
	day2 := t0.Add(24 * time.Hour)
	for _, r := range []struct {
		p     *tenant.Principal
		at    time.Time
		model string
		node  string
		jur   string
		pr    int
		co    int
		ms    int
	}{
		{a1, t0, "llama", "n1", "KE", 10, 1, 100},
		{a1, t0, "llama", "n2", "KE", 20, 2, 200},
		{a2, t0, "qwen", "n1", "EU", 30, 3, 300},
		{a1, day2, "qwen", "n1", "KE", 40, 4, 400},
		{b1, t0, "llama", "n1", "KE", 1000, 1000, 1000},
	} {
		c.Set(r.at)
		tk, err := m.Admit(ctx, r.p, r.pr+r.co)
		if err != nil {
			t.Fatal(err)
		}
		if err := tk.Done(Usage{Model: r.model, Node: r.node, Jurisdiction: r.jur, PromptTokens: r.pr, CompletionTokens: r.co,
			Compute: time.Duration(r.ms) * time.Millisecond, ResponseID: "resp"}); err != nil {
			t.Fatal(err)
		}
	}
	g := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	ms := time.Millisecond
	cases := []struct {
		q    Query
		want []Row
	}{
		{Query{Tenant: "acme"}, []Row{{g(), 4, 100, 10, 1000 * ms}}},
		{Query{}, []Row{{g(), 5, 1100, 1010, 2000 * ms}}},
		{Query{Tenant: "acme", GroupBy: []string{"model"}}, []Row{
			{g("model", "llama"), 2, 30, 3, 300 * ms},
			{g("model", "qwen"), 2, 70, 7, 700 * ms},
		}},
		{Query{Tenant: "acme", GroupBy: []string{"key", "day"}}, []Row{
			{g("key", "a1", "day", "2026-11-14"), 2, 30, 3, 300 * ms},
			{g("key", "a1", "day", "2026-11-15"), 1, 40, 4, 400 * ms},
			{g("key", "a2", "day", "2026-11-14"), 1, 30, 3, 300 * ms},
		}},
		{Query{GroupBy: []string{"tenant", "jurisdiction"}}, []Row{
			{g("tenant", "acme", "jurisdiction", "EU"), 1, 30, 3, 300 * ms},
			{g("tenant", "acme", "jurisdiction", "KE"), 3, 70, 7, 700 * ms},
			{g("tenant", "beta", "jurisdiction", "KE"), 1, 1000, 1000, 1000 * ms},
		}},
		{Query{Tenant: "acme", Key: "a1", GroupBy: []string{"node"}}, []Row{
			{g("node", "n1"), 2, 50, 5, 500 * ms},
			{g("node", "n2"), 1, 20, 2, 200 * ms},
		}},
		// Since is inclusive, Until exclusive.
		{Query{Tenant: "acme", Since: day2}, []Row{{g(), 1, 40, 4, 400 * ms}}},
		{Query{Tenant: "acme", Until: day2}, []Row{{g(), 3, 60, 6, 600 * ms}}},
		{Query{Tenant: "acme", Since: day2.Add(time.Millisecond)}, nil},
		{Query{Tenant: "nobody", GroupBy: []string{"model"}}, nil},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%+v", c.q), func(t *testing.T) {
			got, err := m.Query(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			checkRows(t, got, c.want)
		})
	}
	for _, q := range []Query{
		{GroupBy: []string{"colour"}},
		{GroupBy: []string{"model", "model"}},
		{Since: day2, Until: t0},
	} {
		if _, err := m.Query(ctx, q); err == nil {
			t.Errorf("Query(%+v) accepted", q)
		}
	}
}

// TestQuotaSurvivesReopen: the month's usage is read back from the
// database, so a restart does not hand out a fresh quota; last month's
// usage does not count.
func TestQuotaSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	c := testclock.New(time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC))
	open := func() (*db.DB, *Meter) {
		d, err := db.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Open(ctx, d, c.Now)
		if err != nil {
			t.Fatal(err)
		}
		return d, m
	}
	p := principal("t", tenant.Limits{MonthlyTokens: 1000}, "k", tenant.Limits{MonthlyTokens: 600})
	other := principal("t", tenant.Limits{MonthlyTokens: 1000}, "k2", tenant.Limits{MonthlyTokens: 600})

	d, m := open()
	if err := use(t, m, p, 10, 5000, 0); err != nil { // October: irrelevant to November
		t.Fatal(err)
	}
	c.Set(t0)
	if err := use(t, m, p, 600, 300, 300); err != nil { // key k spent
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	d.Close()

	d, m = open()
	defer d.Close()
	defer m.Close()
	if err := use(t, m, p, 1, 1, 0); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("key k after reopening: %v; want quota exceeded", err)
	}
	if err := use(t, m, other, 390, 390, 0); err != nil { // tenant at 990
		t.Fatalf("key k2 after reopening: %v", err)
	}
	if err := use(t, m, other, 10, 10, 0); err != nil { // tenant at 1000
		t.Fatal(err)
	}
	err := use(t, m, other, 1, 1, 0)
	var le *LimitError
	if !errors.As(err, &le) || le.Scope != ScopeTenant {
		t.Fatalf("tenant at 1000 of 1000: %v; want the tenant's quota refusing", err)
	}
}

// TestCloseFlushes: every Done before Close is in the database afterwards.
func TestCloseFlushes(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hearth.db")
	d, err := db.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m, err := Open(ctx, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	p := principal("t", tenant.Limits{}, "k", tenant.Limits{})
	for i := range n {
		tk, err := m.Admit(ctx, p, 10)
		if err != nil {
			t.Fatal(err)
		}
		if err := tk.Done(Usage{PromptTokens: i % 7, CompletionTokens: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	var rows, tokens int64
	if err := d.QueryRow(`SELECT COUNT(*), SUM(prompt_tokens + completion_tokens) FROM metering_usage`).Scan(&rows, &tokens); err != nil {
		t.Fatal(err)
	}
	var want int64
	for i := range n {
		want += int64(i%7) + 1
	}
	if rows != n || tokens != want {
		t.Errorf("after Close: %d rows, %d tokens; want %d, %d", rows, tokens, n, want)
	}
	if _, err := m.Admit(ctx, p, 1); err == nil {
		t.Error("Admit after Close succeeded")
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
