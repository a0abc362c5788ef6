package capture

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/capture/pii"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/tenant"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// auditSink keeps appended records in memory.
type auditSink struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (a *auditSink) Append(_ context.Context, r audit.Record) (audit.Record, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, r)
	return r, nil
}

func (a *auditSink) json(t *testing.T) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, err := json.Marshal(a.recs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (a *auditSink) reasons() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, r := range a.recs {
		out = append(out, r.Reason)
	}
	return out
}

type fixture struct {
	s     *Store
	d     *db.DB
	dir   string
	clock *testClock
	audit *auditSink
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
	f := &fixture{d: d, dir: dir, clock: &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, audit: &auditSink{}}
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

// failingAudit is an audit log that cannot make records durable.
type failingAudit struct{}

func (failingAudit) Append(context.Context, audit.Record) (audit.Record, error) {
	return audit.Record{}, fmt.Errorf("%w: disk full", audit.ErrUnavailable)
}
