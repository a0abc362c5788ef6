package metering

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/internal/testclock"
	"github.com/hearth-ai/hearth/tenant"
)

// TestEachLimit drives each limit at tenant and at key level until it
// refuses, and checks the refusal says which limit, why and for how long.
func TestEachLimit(t *testing.T) {
	endOfMonth := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Sub(t0)
	cases := []struct {
		name   string
		limits tenant.Limits
		est    int // per request
		actual int // tokens each request really uses (prompt; completion is 0)
		admits int // requests admitted before the first refusal
		limit  string
		is     error
		wait   time.Duration
	}{
		{"requests per minute", tenant.Limits{RequestsPerMinute: 3}, 10, 10, 3, LimitRequestsPerMinute, ErrRateLimited, 59500 * time.Millisecond},
		// 400 + 400 = 800 fits in 1000; a third would make 1200 and is
		// refused (it used to be admitted: one request's overshoot).
		{"tokens per minute by estimate", tenant.Limits{TokensPerMinute: 1000}, 400, 400, 2, LimitTokensPerMinute, ErrRateLimited, 59500 * time.Millisecond},
		// Done replaces the estimate: requests of 400 estimated but 90
		// used; 7 leave 630, and 630 + 400 does not fit.
		{"tokens per minute by actual use", tenant.Limits{TokensPerMinute: 1000}, 400, 90, 7, LimitTokensPerMinute, ErrRateLimited, 59500 * time.Millisecond},
		// 3 use 750; the fourth's 300 do not fit in the 250 left.
		{"monthly tokens", tenant.Limits{MonthlyTokens: 1000}, 300, 250, 3, LimitMonthlyTokens, ErrQuotaExceeded, endOfMonth},
	}
	for _, c := range cases {
		for _, scope := range []string{ScopeTenant, ScopeKey} {
			t.Run(c.name+"/"+scope, func(t *testing.T) {
				m := openMeter(t, testclock.New(t0))
				var p, other *tenant.Principal
				if scope == ScopeTenant {
					p = principal("t1", c.limits, "k1", tenant.Limits{})
					other = principal("t1", c.limits, "k2", tenant.Limits{}) // same tenant, another key
				} else {
					p = principal("t1", tenant.Limits{}, "k1", c.limits)
					other = principal("t1", tenant.Limits{}, "k2", c.limits) // the key's limit is its own
				}
				for i := range c.admits {
					if err := use(t, m, p, c.est, c.actual, 0); err != nil {
						t.Fatalf("request %d refused: %v", i+1, err)
					}
				}
				err := use(t, m, p, c.est, c.actual, 0)
				var le *LimitError
				if !errors.As(err, &le) {
					t.Fatalf("request %d: got %v; want a *LimitError", c.admits+1, err)
				}
				if le.Scope != scope || le.ID != map[string]string{ScopeTenant: "t1", ScopeKey: "k1"}[scope] || le.Limit != c.limit {
					t.Errorf("refusal names %s %q %s; want %s, %s", le.Scope, le.ID, le.Limit, scope, c.limit)
				}
				if !errors.Is(err, c.is) {
					t.Errorf("refusal %v does not wrap %v", err, c.is)
				}
				if le.RetryAfter() != c.wait {
					t.Errorf("RetryAfter %s; want %s", le.RetryAfter(), c.wait)
				}
				if !strings.Contains(err.Error(), strings.ReplaceAll(c.limit, "_", " ")) {
					t.Errorf("message %q does not name the limit", err)
				}
				// The other key shares the tenant's limit but not a key's.
				err = use(t, m, other, c.est, c.actual, 0)
				if scope == ScopeTenant && !errors.As(err, &le) {
					t.Errorf("another key of the same tenant: %v; want refused by the tenant's limit", err)
				}
				if scope == ScopeKey && err != nil {
					t.Errorf("another key of the same tenant: %v; want admitted", err)
				}
				// Another tenant is not affected.
				if err := use(t, m, principal("t2", c.limits, "k3", c.limits), c.est, c.actual, 0); err != nil {
					t.Errorf("another tenant: %v", err)
				}
			})
		}
	}
}

// TestSlidingWindow moves the clock: requests leave the window 60 seconds
// after the second they were admitted in, one by one, not all at the top of
// a minute.
func TestSlidingWindow(t *testing.T) {
	c := testclock.New(t0) // 10:20:30.5
	m := openMeter(t, c)
	p := principal("t", tenant.Limits{RequestsPerMinute: 2}, "k", tenant.Limits{})
	steps := []struct {
		at   time.Duration // after t0
		wait time.Duration // 0: admitted
	}{
		{0, 0},                // counts until 10:21:30
		{20 * time.Second, 0}, // counts until 10:21:50
		{30 * time.Second, 29500 * time.Millisecond}, // full: the first leaves at 10:21:30
		{59*time.Second + 400*time.Millisecond, 100 * time.Millisecond},
		{59*time.Second + 500*time.Millisecond, 0},   // 10:21:30: admitted, counts until 10:22:30
		{60 * time.Second, 19500 * time.Millisecond}, // the second leaves at 10:21:50
		{80 * time.Second, 0},
		{200 * time.Second, 0}, // long idle: everything expired
		{200 * time.Second, 0},
		{200 * time.Second, 59500 * time.Millisecond},
	}
	for i, s := range steps {
		c.Set(t0.Add(s.at))
		err := use(t, m, p, 1, 1, 0)
		var le *LimitError
		switch {
		case s.wait == 0 && err != nil:
			t.Errorf("step %d at +%s: %v; want admitted", i, s.at, err)
		case s.wait != 0 && !errors.As(err, &le):
			t.Errorf("step %d at +%s: %v; want refused", i, s.at, err)
		case s.wait != 0 && le.RetryAfter() != s.wait:
			t.Errorf("step %d at +%s: RetryAfter %s; want %s", i, s.at, le.RetryAfter(), s.wait)
		}
	}
}

// TestTokenWindowWait: the wait is until enough tokens leave the window
// for the request's own estimate, not until the oldest request leaves.
func TestTokenWindowWait(t *testing.T) {
	c := testclock.New(t0)
	m := openMeter(t, c)
	p := principal("t", tenant.Limits{TokensPerMinute: 1000}, "", tenant.Limits{})
	for i, n := range []int{250, 250, 250, 250} { // at +0s, +10s, +20s, +30s: 1000
		c.Set(t0.Add(time.Duration(i) * 10 * time.Second))
		if err := use(t, m, p, n, n, 0); err != nil {
			t.Fatal(err)
		}
	}
	// 1000 now; one more token fits once the first 250 (bucket 10:20:30)
	// leave: wait until 10:21:30, 29.5s after 10:21:00.5.
	err := use(t, m, p, 1, 1, 0)
	var le *LimitError
	if !errors.As(err, &le) || le.RetryAfter() != 29500*time.Millisecond {
		t.Fatalf("got %v; want a wait of 29.5s", err)
	}
	// 300 fit only once two have left (bucket 10:20:40): 39.5s.
	err = use(t, m, p, 300, 300, 0)
	if !errors.As(err, &le) || le.RetryAfter() != 39500*time.Millisecond || le.Need != 300 || le.Left != 0 {
		t.Fatalf("300 more: %v (%+v); want a wait of 39.5s", err, le)
	}
	c.Set(t0.Add(59500 * time.Millisecond))
	if err := use(t, m, p, 1, 1, 0); err != nil {
		t.Fatalf("after the first request left the window: %v", err)
	}
}

// TestReservationHeld: a running request's estimate counts until Done.
func TestReservationHeld(t *testing.T) {
	m := openMeter(t, testclock.New(t0))
	p := principal("t", tenant.Limits{TokensPerMinute: 1000, MonthlyTokens: 5000}, "", tenant.Limits{})
	ctx := context.Background()
	big, err := m.Admit(ctx, p, 4000) // larger than the minute limit: admitted when idle
	if err != nil {
		t.Fatalf("an estimate above the limit on an idle scope: %v", err)
	}
	if _, err := m.Admit(ctx, p, 10); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("while 4000 are reserved: %v; want rate limited", err)
	}
	if err := big.Done(Usage{PromptTokens: 50, CompletionTokens: 50}); err != nil {
		t.Fatal(err)
	}
	if err := big.Done(Usage{PromptTokens: 5000}); err != nil { // idempotent: ignored
		t.Fatalf("second Done: %v", err)
	}
	tk, err := m.Admit(ctx, p, 10)
	if err != nil {
		t.Fatalf("after Done used 100 of the 4000: %v", err)
	}
	tk.Done(Usage{PromptTokens: 10})
	rows, err := m.Query(ctx, Query{Tenant: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Requests != 2 || rows[0].Tokens() != 110 {
		t.Errorf("recorded %+v; want 2 requests, 110 tokens (the second Done ignored)", rows)
	}
}

// TestMonthlyInFlight: a quota full only with running requests' estimates
// is a short wait (rate limited), not a spent quota.
func TestMonthlyInFlight(t *testing.T) {
	m := openMeter(t, testclock.New(t0))
	ctx := context.Background()
	p := principal("t", tenant.Limits{MonthlyTokens: 1000}, "", tenant.Limits{})
	if err := use(t, m, p, 100, 300, 0); err != nil {
		t.Fatal(err)
	}
	tk, err := m.Admit(ctx, p, 700) // 300 used + 700 reserved: 1000
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Admit(ctx, p, 10)
	var le *LimitError
	if !errors.As(err, &le) || !le.InFlight || !errors.Is(err, ErrRateLimited) || errors.Is(err, ErrQuotaExceeded) ||
		le.RetryAfter() != inFlightWait || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("quota full of estimates: %v (%+v); want a rate limit with a %s wait", err, le, inFlightWait)
	}
	if err := tk.Done(Usage{PromptTokens: 50}); err != nil {
		t.Fatal(err)
	}
	if err := use(t, m, p, 10, 649, 0); err != nil { // 350 used: room
		t.Fatalf("after the running request used 50: %v", err)
	}
	// 999 used: an estimate of 10 no longer fits, however idle the
	// tenant; one of 1 does.
	_, err = m.Admit(ctx, p, 10)
	if !errors.As(err, &le) || le.InFlight || !errors.Is(err, ErrQuotaExceeded) || le.Need != 10 || le.Left != 1 ||
		!strings.Contains(err.Error(), "has 1 of its quota of 1000 monthly tokens left and this request may use up to 10 tokens") {
		t.Fatalf("10 more at 999 of 1000: %v (%+v); want quota exceeded, 1 left", err, le)
	}
	if err := use(t, m, p, 1, 1, 0); err != nil {
		t.Fatalf("1 more at 999 of 1000: %v", err)
	}
	_, err = m.Admit(ctx, p, 1)
	if !errors.As(err, &le) || le.InFlight || !errors.Is(err, ErrQuotaExceeded) || le.Need != 0 ||
		!strings.Contains(err.Error(), "has used its quota") {
		t.Errorf("quota spent: %v; want quota exceeded", err)
	}
}

// TestQuotaNotOvershot is the red-team run's case: with a monthly quota of
// 3000, two requests of up to 2211 tokens (a prompt of 211, max_tokens
// 2000) admitted at the same time used 4422. The second must wait for the
// first, then be told it does not fit in what is left; what fits is
// admitted, and the month ends at the quota, not past it.
func TestQuotaNotOvershot(t *testing.T) {
	for _, scope := range []string{ScopeTenant, ScopeKey} {
		t.Run(scope, func(t *testing.T) {
			m := openMeter(t, testclock.New(t0))
			ctx := context.Background()
			l := tenant.Limits{MonthlyTokens: 3000}
			p := principal("t", l, "k", tenant.Limits{})
			if scope == ScopeKey {
				p = principal("t", tenant.Limits{}, "k", l)
			}
			first, err := m.Admit(ctx, p, 2211)
			if err != nil {
				t.Fatal(err)
			}
			_, err = m.Admit(ctx, p, 2211)
			var le *LimitError
			if !errors.As(err, &le) || !le.InFlight || le.Scope != scope || le.Need != 2211 || le.Left != 789 {
				t.Fatalf("second stream while the first runs: %v (%+v); want a wait for the running request", err, le)
			}
			if err := first.Done(Usage{PromptTokens: 211, CompletionTokens: 2000}); err != nil {
				t.Fatal(err)
			}
			_, err = m.Admit(ctx, p, 2211)
			if !errors.As(err, &le) || !errors.Is(err, ErrQuotaExceeded) || le.Need != 2211 || le.Left != 789 ||
				!strings.Contains(err.Error(), "lower max_tokens") {
				t.Fatalf("second stream after the first: %v (%+v); want quota exceeded naming the 789 left", err, le)
			}
			if err := use(t, m, p, 789, 211, 578); err != nil {
				t.Fatalf("a request that fits the 789 left: %v", err)
			}
			rows, err := m.Query(ctx, Query{Tenant: "t"})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 || rows[0].Tokens() != 3000 {
				t.Errorf("used %+v; want exactly the 3000 of the quota", rows)
			}
		})
	}
}

// TestEstimateLargerThanMinuteLimit: a request estimating more than the
// whole per-minute limit cannot wait for room; it runs in a minute with no
// other use (and then holds the window until its tokens leave it), and
// until then it is told why and how long.
func TestEstimateLargerThanMinuteLimit(t *testing.T) {
	c := testclock.New(t0)
	m := openMeter(t, c)
	p := principal("t", tenant.Limits{TokensPerMinute: 1000}, "", tenant.Limits{})
	if err := use(t, m, p, 10, 10, 0); err != nil {
		t.Fatal(err)
	}
	c.Add(20 * time.Second)
	_, err := m.Admit(context.Background(), p, 4000)
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, ErrRateLimited) || le.RetryAfter() != 39500*time.Millisecond ||
		!strings.Contains(err.Error(), "may use up to 4000 tokens, more than its limit of 1000 tokens per minute") {
		t.Fatalf("4000 with 10 in the window: %v (%+v); want a wait of 39.5s until the window is empty", err, le)
	}
	c.Add(40 * time.Second)
	if err := use(t, m, p, 4000, 900, 0); err != nil {
		t.Fatalf("4000 in an empty window: %v", err)
	}
	if err := use(t, m, p, 100, 100, 0); err != nil { // 900 + 100 fits
		t.Fatalf("100 after it used 900: %v", err)
	}
	if err := use(t, m, p, 1, 1, 0); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("at 1000 of 1000: %v; want rate limited", err)
	}
}

// TestMonthlyRollover: a spent quota renews at the start of the next
// calendar month in UTC.
func TestMonthlyRollover(t *testing.T) {
	end := time.Date(2026, 11, 30, 23, 59, 30, 0, time.UTC)
	c := testclock.New(end)
	m := openMeter(t, c)
	p := principal("t", tenant.Limits{}, "k", tenant.Limits{MonthlyTokens: 1000})
	if err := use(t, m, p, 1000, 600, 400); err != nil {
		t.Fatal(err)
	}
	err := use(t, m, p, 1, 1, 0)
	var le *LimitError
	if !errors.As(err, &le) || !errors.Is(err, ErrQuotaExceeded) || le.RetryAfter() != 30*time.Second {
		t.Fatalf("spent quota 30s before December: %v; want quota exceeded, retry in 30s", err)
	}
	c.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err := use(t, m, p, 900, 900, 0); err != nil {
		t.Fatalf("on the 1st: %v", err)
	}
	if err := use(t, m, p, 100, 100, 0); err != nil {
		t.Fatalf("900 of December's 1000 used: %v", err)
	}
	if err := use(t, m, p, 1, 1, 0); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("December spent: %v; want quota exceeded", err)
	}
	rows, err := m.Query(context.Background(), Query{Tenant: "t", GroupBy: []string{"day"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{Group: map[string]string{"day": "2026-11-30"}, Requests: 1, PromptTokens: 600, CompletionTokens: 400},
		{Group: map[string]string{"day": "2026-12-01"}, Requests: 2, PromptTokens: 1000},
	}
	checkRows(t, rows, want)
}

// TestDoneAcrossMonths: a request admitted in one month and finished in the
// next counts in the month it finished, and its reservation does not leak
// into the new month.
func TestDoneAcrossMonths(t *testing.T) {
	c := testclock.New(time.Date(2026, 11, 30, 23, 59, 59, 0, time.UTC))
	m := openMeter(t, c)
	p := principal("t", tenant.Limits{MonthlyTokens: 1000}, "", tenant.Limits{})
	ctx := context.Background()
	tk, err := m.Admit(ctx, p, 800)
	if err != nil {
		t.Fatal(err)
	}
	c.Add(2 * time.Second)
	if err := use(t, m, p, 1, 1, 0); err != nil { // December: the 800 reserved in November do not count
		t.Fatal(err)
	}
	if err := tk.Done(Usage{PromptTokens: 500}); err != nil {
		t.Fatal(err)
	}
	if err := use(t, m, p, 1, 498, 0); err != nil { // 501 used
		t.Fatal(err)
	}
	if err := use(t, m, p, 1, 1, 0); err != nil { // 999
		t.Fatal(err)
	}
	if err := use(t, m, p, 1, 1, 0); !errors.Is(err, ErrQuotaExceeded) { // 1000: spent
		t.Fatalf("December at 1000 of 1000: %v; want quota exceeded", err)
	}
}

func TestAdmitBadInput(t *testing.T) {
	m := openMeter(t, testclock.New(t0))
	ctx := context.Background()
	for _, c := range []struct {
		name string
		p    *tenant.Principal
		est  int
	}{
		{"nil principal", nil, 1},
		{"no tenant ID", principal("", tenant.Limits{}, "k", tenant.Limits{}), 1},
		{"negative estimate", principal("t", tenant.Limits{}, "k", tenant.Limits{}), -1},
	} {
		tk, err := m.Admit(ctx, c.p, c.est)
		if err == nil || tk != nil {
			t.Errorf("%s: admitted", c.name)
		}
		var le *LimitError
		if errors.As(err, &le) {
			t.Errorf("%s: %v is a limit error", c.name, err)
		}
	}
	tk, err := m.Admit(ctx, principal("t", tenant.Limits{}, "k", tenant.Limits{}), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []Usage{
		{PromptTokens: -1},
		{Compute: -time.Second},
		{Tenant: "other"},
		{KeyID: "other"},
	} {
		if err := tk.Done(u); err == nil {
			t.Errorf("Done(%+v) accepted", u)
		}
	}
	if err := tk.Done(Usage{Tenant: "t", KeyID: "k", PromptTokens: 3}); err != nil {
		t.Errorf("a valid Done after refused ones: %v", err)
	}
}

// TestWaitOfTheLongestLimit: when several limits refuse, the answer is the
// longest wait, so a client retrying after it is not refused again at once.
func TestWaitOfTheLongestLimit(t *testing.T) {
	c := testclock.New(t0)
	m := openMeter(t, c)
	// Both requests count in the tenant's window and the key's; the
	// tenant's limit is set (as an operator might) after the second.
	p := principal("t", tenant.Limits{}, "k", tenant.Limits{RequestsPerMinute: 2})
	if err := use(t, m, p, 1, 1, 0); err != nil { // counts for the key until +59.5s
		t.Fatal(err)
	}
	c.Set(t0.Add(30 * time.Second))
	if err := use(t, m, p, 1, 1, 0); err != nil { // tenant and key until +89.5s
		t.Fatal(err)
	}
	p.Tenant.Limits.RequestsPerMinute = 1
	c.Set(t0.Add(40 * time.Second))
	err := use(t, m, p, 1, 1, 0)
	var le *LimitError
	if !errors.As(err, &le) {
		t.Fatalf("got %v; want refused", err)
	}
	// The key could go at +59.5s (one of its two leaves), the tenant at +89.5s.
	if le.Scope != ScopeTenant || le.RetryAfter() != 49500*time.Millisecond {
		t.Errorf("refused by %s after %s; want tenant after 49.5s", le.Scope, le.RetryAfter())
	}
}

func TestLimitErrorMessage(t *testing.T) {
	for _, c := range []struct {
		err  *LimitError
		want string
		secs int64
	}{
		{&LimitError{Scope: "key", ID: "k1", Limit: LimitRequestsPerMinute, Max: 60, Wait: 1500 * time.Millisecond},
			`key "k1" is over its limit of 60 requests per minute; retry in 2s`, 2},
		{&LimitError{Scope: "tenant", ID: "acme", Limit: LimitMonthlyTokens, Max: 1e6, Wait: 50*time.Hour + 10*time.Second},
			`tenant "acme" has used its quota of 1000000 monthly tokens; it renews in 50h0m0s`, 180010},
		{&LimitError{Scope: "tenant", ID: "acme", Limit: LimitTokensPerMinute, Max: 10, Wait: 300 * time.Millisecond},
			`tenant "acme" is over its limit of 10 tokens per minute; retry in 300ms`, 1},
		{&LimitError{Scope: "tenant", ID: "acme", Limit: LimitMonthlyTokens, Max: 3000, Need: 2211, Left: 789, Wait: 50 * time.Hour},
			`tenant "acme" has 789 of its quota of 3000 monthly tokens left and this request may use up to 2211 tokens (its prompt and max_tokens); lower max_tokens, or wait for the quota to renew in 50h0m0s`, 180000},
		{&LimitError{Scope: "key", ID: "k1", Limit: LimitMonthlyTokens, Max: 3000, Need: 2211, Left: 789, Wait: 2 * time.Second, InFlight: true},
			`key "k1" is at its quota of 3000 monthly tokens counting requests still running (this request may use up to 2211 tokens, 789 are free); retry in 2s`, 2},
		{&LimitError{Scope: "key", ID: "k1", Limit: LimitTokensPerMinute, Max: 1000, Need: 400, Left: 200, Wait: 30 * time.Second},
			`key "k1" has 200 of its limit of 1000 tokens per minute free and this request may use up to 400 tokens; retry in 30s`, 30},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("message %q; want %q", got, c.want)
		}
		if got := c.err.RetryAfterSeconds(); got != c.secs {
			t.Errorf("RetryAfterSeconds of %s = %d; want %d", c.err.Wait, got, c.secs)
		}
	}
}
