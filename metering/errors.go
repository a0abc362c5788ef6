package metering

import (
	"errors"
	"fmt"
	"time"
)

// ErrRateLimited is wrapped by a *LimitError for a per-minute limit
// (requests or tokens): waiting a little helps.
var ErrRateLimited = errors.New("rate limit exceeded")

// ErrQuotaExceeded is wrapped by a *LimitError for a spent monthly token
// quota: nothing helps before the next calendar month (UTC) or a larger
// quota.
var ErrQuotaExceeded = errors.New("quota exceeded")

// The scopes and limits a *LimitError names.
const (
	ScopeTenant = "tenant"
	ScopeKey    = "key"

	LimitRequestsPerMinute = "requests_per_minute"
	LimitTokensPerMinute   = "tokens_per_minute"
	LimitMonthlyTokens     = "monthly_tokens"
)

// LimitError is Admit's refusal: which limit of which scope stopped the
// request and how long to wait before trying again. It wraps
// ErrRateLimited or ErrQuotaExceeded, so errors.Is tells a 429 "slow down"
// from a 429 "out of quota".
type LimitError struct {
	Scope string        // ScopeTenant or ScopeKey
	ID    string        // the tenant's or the key's ID
	Limit string        // LimitRequestsPerMinute, LimitTokensPerMinute or LimitMonthlyTokens
	Max   int64         // the limit's value
	Wait  time.Duration // until the request would be admitted (as far as this node can tell); > 0
	// Need is the refused request's token estimate and Left the tokens
	// the limit had room for, when the limit refused because the
	// estimate did not fit (0 and 0 when the limit was already full).
	Need, Left int64
	// InFlight is set when a monthly quota is full only counting the
	// estimates of requests still running: a rate limit (wait and
	// retry), not an exhausted quota.
	InFlight bool
}

// RetryAfter is how long the caller should wait: the HTTP API sends it as
// Retry-After, rounded up to whole seconds (api.WriteError).
func (e *LimitError) RetryAfter() time.Duration { return e.Wait }

func (e *LimitError) Error() string {
	what := map[string]string{
		LimitRequestsPerMinute: "requests per minute",
		LimitTokensPerMinute:   "tokens per minute",
		LimitMonthlyTokens:     "monthly tokens",
	}[e.Limit]
	if what == "" {
		what = e.Limit
	}
	wait := roundWait(e.Wait)
	switch {
	case e.Limit == LimitMonthlyTokens && e.InFlight:
		return fmt.Sprintf("%s %q is at its quota of %d %s counting requests still running (this request may use up to %d tokens, %d are free); retry in %s",
			e.Scope, e.ID, e.Max, what, e.Need, e.Left, wait)
	case e.Limit == LimitMonthlyTokens && e.Need > 0:
		return fmt.Sprintf("%s %q has %d of its quota of %d %s left and this request may use up to %d tokens (its prompt and max_tokens); lower max_tokens, or wait for the quota to renew in %s",
			e.Scope, e.ID, e.Left, e.Max, what, e.Need, wait)
	case e.Limit == LimitMonthlyTokens:
		return fmt.Sprintf("%s %q has used its quota of %d %s; it renews in %s", e.Scope, e.ID, e.Max, what, wait)
	case e.Need > e.Max:
		return fmt.Sprintf("%s %q: this request may use up to %d tokens, more than its limit of %d %s, so it runs only in a minute with no other use; lower max_tokens, or retry in %s",
			e.Scope, e.ID, e.Need, e.Max, what, wait)
	case e.Need > 0:
		return fmt.Sprintf("%s %q has %d of its limit of %d %s free and this request may use up to %d tokens; retry in %s",
			e.Scope, e.ID, e.Left, e.Max, what, e.Need, wait)
	}
	return fmt.Sprintf("%s %q is over its limit of %d %s; retry in %s", e.Scope, e.ID, e.Max, what, wait)
}

func (e *LimitError) Unwrap() error {
	if e.Limit == LimitMonthlyTokens && !e.InFlight {
		return ErrQuotaExceeded
	}
	return ErrRateLimited
}

// roundWait shows a wait at a useful precision: seconds for a minute
// window, minutes for the month.
func roundWait(d time.Duration) time.Duration {
	switch {
	case d > time.Hour:
		return d.Round(time.Minute)
	case d > time.Second:
		return d.Round(time.Second)
	default:
		return d.Round(time.Millisecond)
	}
}
