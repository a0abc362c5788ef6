package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/metering"
	"github.com/hearth-ai/hearth/tenant"
)

// meterSome records usage for two tenants in a fresh data directory and
// returns it with acme's ID.
func meterSome(t *testing.T) (dir, acmeID string) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	d, ts := openTenantDB(t, dir, nil)
	defer d.Close()
	defer ts.Close()
	acme, err := ts.CreateTenant(ctx, tenant.Tenant{Name: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	beta, err := ts.CreateTenant(ctx, tenant.Tenant{Name: "beta"})
	if err != nil {
		t.Fatal(err)
	}
	var now time.Time
	m, err := metering.Open(ctx, d, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		t     tenant.Tenant
		key   string
		day   int
		model string
		pr    int
		co    int
	}{
		{acme, "key_a1", 2, "llama", 100, 10},
		{acme, "key_a1", 2, "qwen", 200, 20},
		{acme, "key_a2", 3, "llama", 300, 30},
		{acme, "key_a1", 20, "llama", 400, 40}, // after --until in some runs
		{beta, "key_b1", 2, "llama", 5000, 500},
		{acme, "key_a1", 40, "llama", 9, 9}, // December: outside November
	} {
		now = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, r.day-1)
		tk, err := m.Admit(ctx, &tenant.Principal{Tenant: r.t, Key: tenant.Key{ID: r.key, TenantID: r.t.ID}}, r.pr+r.co)
		if err != nil {
			t.Fatal(err)
		}
		if err := tk.Done(metering.Usage{Model: r.model, Node: "n1", Jurisdiction: "KE", PromptTokens: r.pr, CompletionTokens: r.co,
			Compute: 1500 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, acme.ID
}

func TestUsageCLI(t *testing.T) {
	dir, acmeID := meterSome(t)
	setClock(t, func() time.Time { return time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC) })

	// The default period is the current month; the table has a total.
	out, err := run(t, "", "usage", "--data-dir", dir, "--tenant", "acme", "--by", "model")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Usage of tenant acme (" + acmeID + ") from 2026-11-01 00:00 UTC to now (2026-11-25 08:00 UTC)",
		"MODEL  REQUESTS  PROMPT  COMPLETION  TOTAL  COMPUTE",
		"llama         3     800          80    880     4.5s",
		"qwen          1     200          20    220     1.5s",
		"total         4    1000         100   1100     6.0s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	// JSON, by key and day, an explicit period, the tenant by ID.
	out, err = run(t, "", "usage", "--data-dir", dir, "--tenant", acmeID, "--since", "2026-11-01", "--until", "2026-11-10", "--by", "key,day", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tenant  string   `json:"tenant"`
		GroupBy []string `json:"group_by"`
		Rows    []struct {
			Group            map[string]string `json:"group"`
			Requests         int64             `json:"requests"`
			PromptTokens     int64             `json:"prompt_tokens"`
			CompletionTokens int64             `json:"completion_tokens"`
			TotalTokens      int64             `json:"total_tokens"`
			ComputeSeconds   float64           `json:"compute_seconds"`
		} `json:"rows"`
		Total struct {
			Requests    int64 `json:"requests"`
			TotalTokens int64 `json:"total_tokens"`
		} `json:"total"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got.Tenant != acmeID || len(got.Rows) != 2 || got.Total.Requests != 3 || got.Total.TotalTokens != 660 {
		t.Fatalf("JSON %+v; want acme's 3 requests, 660 tokens in 2 rows", got)
	}
	r := got.Rows[0]
	if r.Group["key"] != "key_a1" || r.Group["day"] != "2026-11-02" || r.Requests != 2 || r.PromptTokens != 300 ||
		r.CompletionTokens != 30 || r.TotalTokens != 330 || r.ComputeSeconds != 3 {
		t.Errorf("first row %+v", r)
	}

	// CSV of every tenant (grouped by tenant without --tenant), a relative since.
	out, err = run(t, "", "usage", "--data-dir", dir, "--since", "30d", "--until", "2026-12-01", "--csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, out)
	}
	header := "tenant,requests,prompt_tokens,completion_tokens,total_tokens,compute_seconds"
	acmeRow := acmeID + ",4,1000,100,1100,6.000"
	if len(recs) != 3 || strings.Join(recs[0], ",") != header {
		t.Fatalf("CSV:\n%s\nwant the header %q and a row per tenant", out, header)
	}
	var sawAcme, sawBeta bool
	for _, rec := range recs[1:] {
		line := strings.Join(rec, ",")
		sawAcme = sawAcme || line == acmeRow
		sawBeta = sawBeta || strings.HasSuffix(line, ",1,5000,500,5500,1.500")
	}
	if !sawAcme || !sawBeta {
		t.Errorf("CSV:\n%s\nwant %q and beta's 1 request, 5500 tokens", out, acmeRow)
	}

	// Nothing in the period.
	out, err = run(t, "", "usage", "--data-dir", dir, "--tenant", "beta", "--since", "2026-11-10T00:00")
	if err != nil || !strings.Contains(out, "no usage recorded") {
		t.Errorf("empty period: %v\n%s", err, out)
	}
}

func TestUsageCLIErrors(t *testing.T) {
	dir, _ := meterSome(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tenant", "nobody"}, "nobody"},
		{[]string{"--since", "yesterday"}, "--since"},
		{[]string{"--until", "-5h"}, "--until"},
		{[]string{"--by", "colour"}, "colour"},
		{[]string{"--since", "2026-11-10", "--until", "2026-11-01"}, "not after"},
		{[]string{"--json", "--csv"}, "json"},
		{[]string{"--data-dir", t.TempDir()}, "no database"},
	} {
		args := append([]string{"usage", "--data-dir", dir}, c.args...)
		_, err := run(t, "", args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("usage %v: error %v; want one mentioning %q", c.args, err, c.want)
		}
	}
}
