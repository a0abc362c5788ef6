package metering

import "time"

// windowSeconds is the length of the per-minute windows.
const windowSeconds = 60

// window counts requests and tokens over the last minute as a sliding
// window of one-second buckets: a request counts from the second it was
// admitted in until 60 seconds later, so there is no cliff at the top of a
// minute where a client could send two minutes' worth at once. Tokens are
// counted in the bucket of their request's admission (the estimate at
// first, corrected to the actual count by Done). It is not safe for
// concurrent use: the tenant's mutex guards it.
type window struct {
	buckets  [windowSeconds]bucket
	last     int64 // the newest second advanced to
	requests int64 // sums over the live buckets
	tokens   int64
}

type bucket struct {
	sec      int64 // the second this bucket holds
	requests int64
	tokens   int64
}

// advance expires the buckets older than a minute before second now. A
// clock that steps back is treated as standing still.
func (w *window) advance(now int64) {
	if now <= w.last {
		return
	}
	if now-w.last >= windowSeconds {
		w.buckets = [windowSeconds]bucket{}
		w.requests, w.tokens = 0, 0
		w.last = now
		return
	}
	for s := w.last + 1; s <= now; s++ {
		b := &w.buckets[s%windowSeconds]
		w.requests -= b.requests
		w.tokens -= b.tokens
		*b = bucket{sec: s}
	}
	w.last = now
}

// live reports whether second sec's bucket is still in the window.
func (w *window) live(sec int64) bool {
	return sec > w.last-windowSeconds && sec <= w.last && w.buckets[sec%windowSeconds].sec == sec
}

// add counts requests and tokens in the newest bucket.
func (w *window) add(requests, tokens int64) {
	b := &w.buckets[w.last%windowSeconds]
	b.sec = w.last
	b.requests += requests
	b.tokens += tokens
	w.requests += requests
	w.tokens += tokens
}

// adjust changes the tokens of second sec's bucket by delta (Done replacing
// an estimate with the actual count). A bucket that has left the window
// takes no correction, except that tokens beyond the estimate still count,
// in the newest bucket.
func (w *window) adjust(sec, delta int64) {
	if w.live(sec) {
		b := &w.buckets[sec%windowSeconds]
		delta = max(delta, -b.tokens)
		b.tokens += delta
		w.tokens += delta
		return
	}
	if delta > 0 {
		w.add(0, delta)
	}
}

// waitBelow returns how long after now the total of field falls below
// limit as old buckets expire (field picks requests or tokens).
func (w *window) waitBelow(now time.Time, limit int64, field func(*bucket) int64, total int64) time.Duration {
	for s := w.last - windowSeconds + 1; s <= w.last; s++ {
		b := &w.buckets[s%windowSeconds]
		if b.sec != s {
			continue
		}
		total -= field(b)
		if total < limit {
			return max(time.Unix(s+windowSeconds, 0).Sub(now), time.Millisecond)
		}
	}
	// Unreachable while limit > 0: every bucket expires within a minute.
	return time.Minute
}

func bucketRequests(b *bucket) int64 { return b.requests }
func bucketTokens(b *bucket) int64   { return b.tokens }
