package metering

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-ai/hearth/tenant"
)

// inFlightWait is the retry hint when a monthly quota is full only with
// the estimates of requests still running: when they end is unknown.
const inFlightWait = 2 * time.Second

// scopeState is what one tenant or one key has used.
type scopeState struct {
	win      window
	month    int   // the month (monthOf) used and reserved are for; 0 = not loaded
	used     int64 // tokens recorded this month
	reserved int64 // estimates of this month's requests still running
}

// tenantState holds a tenant's counters and its keys'. One mutex per tenant
// makes the check-and-reserve of a tenant and its key atomic without
// tenants waiting for each other.
type tenantState struct {
	mu   sync.Mutex
	self scopeState
	keys map[string]*scopeState
}

func (m *Meter) state(tenantID string) *tenantState {
	if v, ok := m.tenants.Load(tenantID); ok {
		return v.(*tenantState)
	}
	v, _ := m.tenants.LoadOrStore(tenantID, &tenantState{keys: map[string]*scopeState{}})
	return v.(*tenantState)
}

// Ticket is an admitted request's reservation. Call Done exactly once when
// the request ends, also when it fails (later calls do nothing).
type Ticket struct {
	m        *Meter
	ts       *tenantState
	key      *scopeState // nil for a principal without a key
	tenantID string
	keyID    string
	month    int // the month of admission
	est      int64
	secT     int64 // the tenant window's bucket holding the estimate
	secK     int64 // ... and the key window's
	resT     bool  // the estimate is reserved against the tenant's month
	resK     bool  // ... and the key's
	done     atomic.Bool
}

// Admit checks the tenant's and the key's limits (0 = unlimited) before a
// request does any work and, if every one has room, counts the request and
// reserves estTokens (prompt plus the most it may generate) against the
// per-minute and monthly token limits. A refusal is a *LimitError wrapping
// ErrRateLimited or ErrQuotaExceeded; when several limits refuse, it is the
// one with the longest wait. Other errors (a database failure reading the
// month's usage, bad arguments) are not limit errors.
func (m *Meter) Admit(ctx context.Context, p *tenant.Principal, estTokens int) (*Ticket, error) {
	switch {
	case p == nil:
		return nil, errors.New("metering: admit: no principal")
	case p.Tenant.ID == "":
		return nil, errors.New("metering: admit: principal has no tenant ID")
	case estTokens < 0:
		return nil, fmt.Errorf("metering: admit: negative token estimate %d", estTokens)
	case m.closed.Load():
		return nil, errors.New("metering: admit: meter is closed")
	}
	est := int64(estTokens)
	ts := m.state(p.Tenant.ID)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	// The clock is read under the mutex so a tenant's windows see time
	// in order.
	now := m.now()
	month := monthOf(now)
	var ks *scopeState
	if p.Key.ID != "" {
		if ks = ts.keys[p.Key.ID]; ks == nil {
			ks = &scopeState{}
			ts.keys[p.Key.ID] = ks
		}
	}

	refusal, err := m.check(ctx, &ts.self, p.Tenant.Limits, est, now, ScopeTenant, p.Tenant.ID, p.Tenant.ID)
	if err != nil {
		return nil, err
	}
	if ks != nil {
		r, err := m.check(ctx, ks, p.Key.Limits, est, now, ScopeKey, p.Key.ID, p.Tenant.ID)
		if err != nil {
			return nil, err
		}
		if r != nil && (refusal == nil || r.Wait > refusal.Wait) {
			refusal = r
		}
	}
	if refusal != nil {
		return nil, refusal
	}

	t := &Ticket{m: m, ts: ts, key: ks, tenantID: p.Tenant.ID, keyID: p.Key.ID, month: month, est: est}
	t.secT, t.resT = reserve(&ts.self, month, est)
	if ks != nil {
		t.secK, t.resK = reserve(ks, month, est)
	}
	return t, nil
}

// reserve counts a request and its estimate in s. It returns the window
// bucket it used and whether the estimate went into the month's
// reservations (only a month being tracked has them).
func reserve(s *scopeState, month int, est int64) (sec int64, monthly bool) {
	s.win.add(1, est)
	if s.month != month {
		return s.win.last, false
	}
	s.reserved += est
	return s.win.last, true
}

// check returns the refusal with the longest wait among s's limits for a
// request estimating est tokens, or nil if s has room for it under all of
// them (see the package doc's admission rule). The caller holds the
// tenant's mutex. The comparisons subtract from the limit rather than add
// to the counts, so no sum of counts can overflow.
func (m *Meter) check(ctx context.Context, s *scopeState, l tenant.Limits, est int64, now time.Time, scope, id, tenantID string) (*LimitError, error) {
	s.win.advance(now.Unix())
	var worst *LimitError
	refuse := func(e *LimitError) {
		if worst == nil || e.Wait > worst.Wait {
			e.Scope, e.ID = scope, id
			worst = e
		}
	}
	if rpm := int64(l.RequestsPerMinute); rpm > 0 && s.win.requests >= rpm {
		refuse(&LimitError{Limit: LimitRequestsPerMinute, Max: rpm, Wait: s.win.waitBelow(now, rpm, bucketRequests, s.win.requests)})
	}
	if tpm := int64(l.TokensPerMinute); tpm > 0 && s.win.tokens > 0 && est > tpm-s.win.tokens {
		// Wait until the window has room for est, or, for an estimate
		// larger than the whole limit, until it is empty.
		below := max(tpm-est+1, 1)
		refuse(&LimitError{Limit: LimitTokensPerMinute, Max: tpm, Need: est, Left: max(tpm-s.win.tokens, 0),
			Wait: s.win.waitBelow(now, below, bucketTokens, s.win.tokens)})
	}
	if l.MonthlyTokens > 0 {
		month := monthOf(now)
		if s.month != month {
			used, err := m.monthUsage(ctx, scope, id, tenantID, month)
			if err != nil {
				return nil, err
			}
			s.month, s.used, s.reserved = month, used, 0
		}
		_, next := monthBounds(month)
		left := max(l.MonthlyTokens-s.used, 0)
		switch {
		case left == 0:
			refuse(&LimitError{Limit: LimitMonthlyTokens, Max: l.MonthlyTokens, Wait: next.Sub(now)})
		case est > left:
			// The request does not fit in what is left of the month
			// even if nothing else runs: out of quota for this
			// request (a smaller max_tokens may fit).
			refuse(&LimitError{Limit: LimitMonthlyTokens, Max: l.MonthlyTokens, Need: est, Left: left, Wait: next.Sub(now)})
		case est > left-s.reserved:
			// It fits in what is left but for the estimates of
			// running requests; they usually use less, so this is a
			// wait, not the month's end.
			refuse(&LimitError{Limit: LimitMonthlyTokens, Max: l.MonthlyTokens, Need: est, Left: max(left-s.reserved, 0),
				Wait: min(inFlightWait, next.Sub(now)), InFlight: true})
		}
	}
	return worst, nil
}

// monthUsage sums the tokens recorded for a scope in a month. It flushes
// first, so rows still queued count; the caller holds the tenant's mutex,
// so no row of this tenant can be queued between the flush and the sum.
func (m *Meter) monthUsage(ctx context.Context, scope, id, tenantID string, month int) (int64, error) {
	if err := m.w.flush(ctx); err != nil {
		return 0, fmt.Errorf("metering: monthly usage of %s %q: %w", scope, id, err)
	}
	start, end := monthBounds(month)
	q := `SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM metering_usage
		WHERE tenant = ? AND time_ms >= ? AND time_ms < ?`
	args := []any{tenantID, start.UnixMilli(), end.UnixMilli()}
	if scope == ScopeKey {
		q += ` AND key_id = ?`
		args = append(args, id)
	}
	var used int64
	if err := m.db.QueryRowContext(ctx, q, args...).Scan(&used); err != nil {
		return 0, fmt.Errorf("metering: monthly usage of %s %q: %w", scope, id, err)
	}
	return used, nil
}

// Done ends the request: it replaces the reservation with the tokens u
// reports and queues u's row for the database (written in the background;
// Meter.Flush or Close waits for it). It is idempotent: only the first
// successful call counts. Negative counts or a Tenant/KeyID other than the
// ticket's are refused without using up the ticket.
func (t *Ticket) Done(u Usage) error {
	switch {
	case u.PromptTokens < 0 || u.CompletionTokens < 0 || u.Compute < 0:
		return fmt.Errorf("metering: done: negative usage (prompt %d, completion %d, compute %s)", u.PromptTokens, u.CompletionTokens, u.Compute)
	case u.Tenant != "" && u.Tenant != t.tenantID:
		return fmt.Errorf("metering: done: usage for tenant %q on a ticket of tenant %q", u.Tenant, t.tenantID)
	case u.KeyID != "" && u.KeyID != t.keyID:
		return fmt.Errorf("metering: done: usage for key %q on a ticket of key %q", u.KeyID, t.keyID)
	}
	if !t.done.CompareAndSwap(false, true) {
		return nil
	}
	m := t.m
	actual := int64(u.PromptTokens) + int64(u.CompletionTokens)
	// Wait for room in the queue outside the tenant's mutex, so a slow
	// database slows down finishing requests, not admission.
	m.w.waitRoom()

	ts := t.ts
	ts.mu.Lock()
	defer ts.mu.Unlock()
	now := m.now()
	when := u.Time
	if when.IsZero() {
		when = now
	}
	r := record{
		timeMS: when.UnixMilli(), tenant: t.tenantID, key: t.keyID, model: u.Model, node: u.Node,
		jurisdiction: u.Jurisdiction, responseID: u.ResponseID,
		prompt: int64(u.PromptTokens), completion: int64(u.CompletionTokens), computeUS: u.Compute.Microseconds(),
	}
	settle(&ts.self, t.secT, t, now.Unix(), monthOf(when), actual, t.resT)
	if t.key != nil {
		settle(t.key, t.secK, t, now.Unix(), monthOf(when), actual, t.resK)
	}
	// Queued under the mutex: monthUsage's flush-then-sum sees every row
	// that settle has not already counted in memory.
	return m.w.enqueue(r)
}

// settle swaps a ticket's estimate, held in window bucket sec, for the
// actual tokens in s.
func settle(s *scopeState, sec int64, t *Ticket, nowSec int64, rowMonth int, actual int64, reserved bool) {
	s.win.advance(nowSec)
	s.win.adjust(sec, actual-t.est)
	if reserved && s.month == t.month {
		s.reserved -= t.est
	}
	if s.month == rowMonth {
		s.used += actual
	}
}
