package metering

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/internal/testclock"
	"github.com/hearth-ai/hearth/tenant"
)

// TestConcurrentAdmission: 200 goroutines admitting at once never take a
// limit past its value (they used to, by one request's tokens), for every
// limit and scope.
func TestConcurrentAdmission(t *testing.T) {
	const (
		goroutines = 200
		perRequest = 100
		limit      = 5050 // not a multiple of perRequest: the last request fits only partly
	)
	cases := []struct {
		name        string
		tl, kl      tenant.Limits
		done        bool // finish each request at once (else hold them all)
		maxAdmitted int  // requests
	}{
		{"tenant tokens per minute, held", tenant.Limits{TokensPerMinute: limit}, tenant.Limits{}, false, limit / perRequest},
		{"key tokens per minute, finished", tenant.Limits{}, tenant.Limits{TokensPerMinute: limit}, true, limit / perRequest},
		{"tenant monthly tokens, finished", tenant.Limits{MonthlyTokens: limit}, tenant.Limits{}, true, limit / perRequest},
		{"key monthly tokens, held", tenant.Limits{}, tenant.Limits{MonthlyTokens: limit}, false, limit / perRequest},
		{"tenant requests per minute", tenant.Limits{RequestsPerMinute: 37}, tenant.Limits{}, true, 37},
		{"key requests per minute", tenant.Limits{}, tenant.Limits{RequestsPerMinute: 37}, false, 37},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := openMeter(t, testclock.New(t0))
			ctx := context.Background()
			p := principal("t", c.tl, "k", c.kl)
			var (
				admitted, tokens atomic.Int64
				start            sync.WaitGroup
				wg               sync.WaitGroup
				mu               sync.Mutex
				held             []*Ticket
			)
			start.Add(1)
			for range goroutines {
				wg.Go(func() {
					start.Wait()
					tk, err := m.Admit(ctx, p, perRequest)
					if err != nil {
						if !errors.Is(err, ErrRateLimited) && !errors.Is(err, ErrQuotaExceeded) {
							t.Errorf("Admit: %v", err)
						}
						return
					}
					admitted.Add(1)
					tokens.Add(perRequest)
					if !c.done {
						mu.Lock()
						held = append(held, tk)
						mu.Unlock()
						return
					}
					if err := tk.Done(Usage{PromptTokens: 60, CompletionTokens: perRequest - 60}); err != nil {
						t.Error(err)
					}
				})
			}
			start.Done()
			wg.Wait()
			if n := admitted.Load(); n != int64(c.maxAdmitted) {
				t.Errorf("admitted %d requests (%d tokens); want %d, the limit's worth", n, tokens.Load(), c.maxAdmitted)
			}
			for _, tk := range held {
				tk.Done(Usage{PromptTokens: perRequest})
			}
			rows, err := m.Query(ctx, Query{Tenant: "t"})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 || rows[0].Requests != admitted.Load() || rows[0].Tokens() != tokens.Load() {
				t.Errorf("recorded %+v; want %d requests, %d tokens", rows, admitted.Load(), tokens.Load())
			}
		})
	}
}

// TestUsageTotals: under concurrent Admit/Done from many goroutines, the
// recorded totals are exactly the sum of what Done reported, and the
// monthly quota holds to within one request's tokens.
func TestUsageTotals(t *testing.T) {
	m := openMeter(t, testclock.New(t0))
	ctx := context.Background()
	const quota = 200_000
	keys := []*tenant.Principal{
		principal("t", tenant.Limits{MonthlyTokens: quota}, "k1", tenant.Limits{}),
		principal("t", tenant.Limits{MonthlyTokens: quota}, "k2", tenant.Limits{}),
		principal("t", tenant.Limits{MonthlyTokens: quota}, "k3", tenant.Limits{MonthlyTokens: quota / 4}),
	}
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		want       = map[string][3]int64{} // key -> requests, prompt, completion
		maxRequest int64
	)
	for g := range 64 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for range 200 {
				p := keys[r.IntN(len(keys))]
				est := 50 + r.IntN(500)
				tk, err := m.Admit(ctx, p, est)
				var le *LimitError
				if errors.As(err, &le) { // spent, or full of running requests
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				// Actual use up to the estimate, occasionally a little over.
				pr, co := r.IntN(est), r.IntN(est/4+1)
				if err := tk.Done(Usage{Model: "m", PromptTokens: pr, CompletionTokens: co, Compute: time.Duration(pr) * time.Microsecond}); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				w := want[p.Key.ID]
				want[p.Key.ID] = [3]int64{w[0] + 1, w[1] + int64(pr), w[2] + int64(co)}
				maxRequest = max(maxRequest, int64(max(est, pr+co)))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	rows, err := m.Query(ctx, Query{Tenant: "t", GroupBy: []string{"key"}})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, r := range rows {
		w := want[r.Group["key"]]
		if r.Requests != w[0] || r.PromptTokens != w[1] || r.CompletionTokens != w[2] {
			t.Errorf("key %s: recorded %d requests, %d+%d tokens; Done reported %d, %d+%d",
				r.Group["key"], r.Requests, r.PromptTokens, r.CompletionTokens, w[0], w[1], w[2])
		}
		if r.Compute != time.Duration(r.PromptTokens)*time.Microsecond {
			t.Errorf("key %s: compute %s; want %dus", r.Group["key"], r.Compute, r.PromptTokens)
		}
		if r.Group["key"] == "k3" && r.Tokens() > quota/4+maxRequest {
			t.Errorf("key k3 used %d tokens of a %d quota (largest request %d)", r.Tokens(), quota/4, maxRequest)
		}
		total += r.Tokens()
	}
	if len(rows) != len(want) {
		t.Errorf("recorded keys %+v; want %v", rows, want)
	}
	if total > quota+maxRequest {
		t.Errorf("tenant used %d tokens of a %d quota (largest request %d)", total, quota, maxRequest)
	}
	if total < quota {
		t.Logf("quota not reached (%d of %d): the test did not exercise refusal", total, quota)
	}
}
