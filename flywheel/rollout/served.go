package rollout

import "time"

// servedBy is which arm of which rollout served a response.
type servedBy struct {
	tenant, rollout, arm string
}

// servedTable remembers, for feedback, which arm served each recent
// response: at most max entries, each for ttl, the oldest dropped first.
// It is not safe for concurrent use (the Store's mutex guards it).
type servedTable struct {
	max   int
	ttl   time.Duration
	m     map[string]servedEntry
	order []servedKey // insertion order, a queue: head is order[head]
	head  int
}

type servedEntry struct {
	by    servedBy
	at    time.Time
	rated bool
}

type servedKey struct {
	id string
	at time.Time
}

func newServedTable(max int, ttl time.Duration) *servedTable {
	return &servedTable{max: max, ttl: ttl, m: map[string]servedEntry{}}
}

func (t *servedTable) put(id string, by servedBy, now time.Time) {
	t.expire(now)
	for len(t.m) >= t.max && t.head < len(t.order) {
		t.pop()
	}
	t.m[id] = servedEntry{by: by, at: now}
	t.order = append(t.order, servedKey{id, now})
}

// rate marks a response rated; false if it was already.
func (t *servedTable) rate(id string) bool {
	e, ok := t.m[id]
	if !ok || e.rated {
		return false
	}
	e.rated = true
	t.m[id] = e
	return true
}

func (t *servedTable) get(id string, now time.Time) (servedBy, bool) {
	t.expire(now)
	e, ok := t.m[id]
	return e.by, ok
}

// expire drops the entries older than ttl.
func (t *servedTable) expire(now time.Time) {
	for t.head < len(t.order) && now.Sub(t.order[t.head].at) >= t.ttl {
		t.pop()
	}
}

// pop drops the oldest entry (unless the id was put again since, when
// the newer entry stays).
func (t *servedTable) pop() {
	k := t.order[t.head]
	t.order[t.head] = servedKey{}
	t.head++
	if e, ok := t.m[k.id]; ok && e.at.Equal(k.at) {
		delete(t.m, k.id)
	}
	if t.head > len(t.order)/2 && t.head > 1024 {
		// Compact the queue so it does not grow without bound.
		t.order = append([]servedKey(nil), t.order[t.head:]...)
		t.head = 0
	}
}

func (t *servedTable) len() int { return len(t.m) }
