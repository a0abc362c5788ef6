package access_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/access"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/tenant"
)

// BenchmarkGate measures what access control adds to one request, with a
// database file, every limit set, and an audit log that fsyncs: the
// client-visible part (Authenticate and Admit, before the model runs) and
// the part after the response (Done: metering and the audit append).
// It reports the p50 of each in microseconds.
func BenchmarkGate(b *testing.B) {
	ctx := context.Background()
	e := testfixture.NewEnv(b, nil)
	big := tenant.Limits{RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 30, MonthlyTokens: 1 << 50}
	secret, _ := e.Tenant(b, tenant.Tenant{Name: "alpha", Limits: big, Policy: tenant.Policy{AllowedModels: []string{"stories260k"}}},
		tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference}, Limits: big})
	g, _ := access.New(access.Config{Tenants: e.Tenants, Meter: e.Meter, Audit: e.Audit, Node: e.ID.ID, Jurisdiction: "KE"})
	req := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	var before, after []time.Duration
	for b.Loop() {
		t0 := time.Now()
		c, err := g.Authenticate(req)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Use(ctx, "chat_completions", "stories260k"); err != nil {
			b.Fatal(err)
		}
		p, err := c.Admit(ctx, api.Admission{Endpoint: "chat_completions", Model: "stories260k", PromptTokens: 40, MaxTokens: 100})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		p.Done(api.Outcome{ResponseID: "chatcmpl-x", Endpoint: "chat_completions", Model: "stories260k", PromptTokens: 40,
			CompletionTokens: 100, PromptHash: "ab", OutputHash: "cd", Duration: time.Millisecond})
		t2 := time.Now()
		before = append(before, t1.Sub(t0))
		after = append(after, t2.Sub(t1))
	}
	b.ReportMetric(p50(before), "us-p50-before")
	b.ReportMetric(p50(after), "us-p50-after")
}

func p50(ds []time.Duration) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Nanoseconds()) / 1000
}
