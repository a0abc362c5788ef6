package metering

import (
	"context"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/internal/testclock"
	"github.com/hearth-ai/hearth/tenant"
)

// t0 is a fixed test time in the middle of a month, half a second past a
// whole second so waits that end on a second boundary show it.
var t0 = time.Date(2026, 11, 14, 10, 20, 30, 500_000_000, time.UTC)

// openMeter opens a meter on a fresh in-memory database.
func openMeter(t testing.TB, c *testclock.Clock) *Meter {
	t.Helper()
	d, err := db.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(context.Background(), d, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		d.Close()
	})
	return m
}

// principal builds a caller with tenant and key limits.
func principal(tenantID string, tl tenant.Limits, keyID string, kl tenant.Limits) *tenant.Principal {
	return &tenant.Principal{
		Tenant: tenant.Tenant{ID: tenantID, Name: tenantID, Limits: tl},
		Key:    tenant.Key{ID: keyID, TenantID: tenantID, Limits: kl},
	}
}

// use admits a request estimating est tokens and, if admitted, finishes it
// having used prompt+completion tokens.
func use(t testing.TB, m *Meter, p *tenant.Principal, est, prompt, completion int) error {
	t.Helper()
	tk, err := m.Admit(context.Background(), p, est)
	if err != nil {
		return err
	}
	if err := tk.Done(Usage{Model: "m", Node: "n1", Jurisdiction: "KE", PromptTokens: prompt, CompletionTokens: completion}); err != nil {
		t.Fatalf("Done: %v", err)
	}
	return nil
}
