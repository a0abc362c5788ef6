package capture

import (
	"context"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/capture/pii"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/internal/testclock"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/tenant"
)

type fixture struct {
	s     *Store
	d     *db.DB
	dir   string
	clock *testclock.Clock
	audit *testfixture.Audit
}

func newFixture(t testing.TB, jurisdiction string, mod ...func(*Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	d, err := db.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	scr, err := pii.New(pii.Config{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{d: d, dir: dir, clock: testclock.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), audit: &testfixture.Audit{}}
	cfg := Config{Scrubber: scr, Jurisdiction: jurisdiction, Now: f.clock.Now, Audit: f.audit, Node: "node-test"}
	for _, m := range mod {
		m(&cfg)
	}
	if f.s, err = Open(context.Background(), d, cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

func tenantWith(id, capture, home string, days int) tenant.Tenant {
	return tenant.Tenant{ID: id, Name: "name-" + id, Policy: tenant.Policy{Capture: capture, Home: home, RetentionDays: days}}
}

// Planted identifiers and a marker word that is no identifier at all: the
// marker shows whether any plaintext reaches the disk.
const (
	plantEmail = "amina.wanjiru@example.co.ke"
	plantPhone = "+254 712 345 678"
	plantCard  = "4111 1111 1111 1111"
	plantIBAN  = "DE89 3704 0044 0532 0130 00"
	marker     = "zebracornflakes"
)

func interaction(id, user string) Interaction {
	return Interaction{
		ResponseID: id, EndUser: user, Model: "stories260k", Endpoint: "chat_completions",
		Messages: []Message{
			{Role: "system", Content: "You are a helpful " + marker + " assistant."},
			{Role: "user", Content: "Mail " + plantEmail + " or call " + plantPhone + "; my card is " + plantCard + "."},
		},
		Output: "I will write to " + plantEmail + " and charge " + plantIBAN + ".",
		Params: map[string]any{"temperature": 0.5, "stop": []any{"from " + plantEmail}},
	}
}
