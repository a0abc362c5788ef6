// Package metering enforces per-tenant and per-key rate limits and monthly
// token quotas before a request does any work, and records what each
// request used (tokens, compute) for billing, reports and capacity planning.
//
// A request goes through Admit, which checks every limit of the caller's
// tenant and key and, in the same critical section, reserves one request
// and its estimated tokens against them; the request then runs and calls
// Ticket.Done with what it actually used, which replaces the estimate and
// queues a usage row for the database.
//
// Admission rule: a request is admitted only if, in each scope (tenant and
// key), it fits under every limit with its own estimate counted: requests
// + 1 <= requests_per_minute, the window's tokens + its estimate <=
// tokens_per_minute, and the month's used tokens + the estimates of
// requests still running + its estimate <= monthly_tokens; its whole
// estimate is then reserved. As long as requests use no more than their
// estimate (the API estimates the prompt plus max_tokens, or the rest of
// the context when max_tokens is not given), concurrent requests cannot
// together pass a limit.
//
// A request whose estimate does not fit the month's quota is refused with
// ErrQuotaExceeded (the API's 429 insufficient_quota) even when the quota
// is not yet spent; the LimitError says how many tokens are left (Left)
// and how many the request might use (Need), so the caller can retry with
// a smaller max_tokens. Near the end of a quota, requests without
// max_tokens are therefore refused before small ones are. Admitting such a
// request with its estimate clamped to what is left was the alternative,
// and is not done: the meter cannot stop a generation at the clamp (the
// request's max_tokens decides where it stops), so the clamp would only
// hide the overshoot from the meter while the tokens were still used and
// billed past the quota. If the estimate fits what is left but not beside
// the estimates of running requests, the refusal is a short wait
// (ErrRateLimited, InFlight), since those usually use less.
//
// The per-minute token limit follows the same rule with one exception: a
// request whose estimate alone is larger than tokens_per_minute would
// never fit, so it is admitted into a window with no tokens in it (and
// holds the window until its tokens leave); until then it is refused with
// the wait until the window is empty. A per-minute limit paces a tenant;
// it is not a budget that one request must fit in.
//
// The per-minute windows are sliding windows with one-second buckets
// (a request counts for the 60 seconds after the second it was admitted
// in) kept in memory: each node enforces them for what it serves. The
// monthly quota is a calendar month in UTC; its usage is the sum of the
// recorded rows for the month, read from the database the first time a
// scope with a monthly limit is seen in a month (so it survives restarts)
// and kept current in memory from then on. Other processes writing to the
// same database are seen at the next month or restart.
package metering

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-ai/hearth/db"
)

// migrations create the usage table. Append-only: add steps, never edit one.
var migrations = []string{
	`CREATE TABLE metering_usage (
		id                INTEGER PRIMARY KEY,
		time_ms           INTEGER NOT NULL, -- Unix milliseconds, UTC
		tenant            TEXT NOT NULL,
		key_id            TEXT NOT NULL,
		model             TEXT NOT NULL,
		node              TEXT NOT NULL,
		jurisdiction      TEXT NOT NULL,
		prompt_tokens     INTEGER NOT NULL,
		completion_tokens INTEGER NOT NULL,
		compute_us        INTEGER NOT NULL,
		response_id       TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX metering_usage_tenant_time ON metering_usage (tenant, time_ms);
	CREATE INDEX metering_usage_key_time ON metering_usage (key_id, time_ms);`,
}

// Usage is what one request used, reported to Ticket.Done.
type Usage struct {
	Tenant, KeyID    string // default to the ticket's; must match it if set
	Model            string
	Node             string // the node's ID
	Jurisdiction     string // where the request was processed
	PromptTokens     int
	CompletionTokens int
	Compute          time.Duration // time the model worked on the request
	Time             time.Time     // when the request finished; zero = now
	ResponseID       string        // optional, e.g. "chatcmpl-..."
}

// Meter enforces limits and records usage. It is safe for concurrent use.
type Meter struct {
	db      *db.DB
	now     func() time.Time
	w       *writer
	tenants sync.Map // tenant ID -> *tenantState
	closed  atomic.Bool
}

// Open prepares the usage table in d and starts the background writer. now
// is the clock (nil = time.Now). Close the Meter to write what is queued.
func Open(ctx context.Context, d *db.DB, now func() time.Time) (*Meter, error) {
	if d == nil {
		return nil, fmt.Errorf("metering: open: no database")
	}
	if err := d.Migrate(ctx, "metering", migrations); err != nil {
		return nil, fmt.Errorf("metering: open: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Meter{db: d, now: now, w: newWriter(d.DB)}, nil
}

// Flush waits until the usage of every Done that returned before the call
// is in the database.
func (m *Meter) Flush(ctx context.Context) error { return m.w.flush(ctx) }

// Close writes the queued usage and stops the writer; later Admit and Done
// calls fail. It does not close the database.
func (m *Meter) Close() error {
	m.closed.Store(true)
	return m.w.close()
}

// monthOf numbers t's calendar month in UTC.
func monthOf(t time.Time) int {
	t = t.UTC()
	return t.Year()*12 + int(t.Month()) - 1
}

// monthBounds returns the first instant of month and of the month after.
func monthBounds(month int) (time.Time, time.Time) {
	start := time.Date(month/12, time.Month(month%12+1), 1, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, 0)
}
