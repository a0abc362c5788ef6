package access

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hearth-ai/hearth/audit"
)

// Refusals are audited, but a client that is refused again and again must
// not be able to grow the log at will. So refusals of one kind are folded
// under a key (the remote address for refused keys, the key and the kind
// of refusal for 403s and 429s): the first under a key is recorded at
// once (denials "1"); those that follow within DenialWindow are counted
// and recorded together, as one record with their count and the time of
// the first ("since"), when the window ends; then a new window begins. A
// key thus costs the log at most one record per window, however fast the
// refusals come.
const (
	// DenialWindow is the period over which refusals under one key are
	// folded into one record.
	DenialWindow = time.Minute
	// maxFoldKeys bounds the keys a folder tracks at once; beyond it,
	// refusals under new keys are folded together (folder.other).
	maxFoldKeys = 4096
	// maxCollected bounds the distinct values one folded record lists,
	// and maxCollectedBytes each of them.
	maxCollected      = 8
	maxCollectedBytes = 64
)

// folder folds refusals under keys (see DenialWindow).
type folder struct {
	// collect, when set, picks a value of each refusal whose distinct
	// values over a window (at most maxCollected, each cut to
	// maxCollectedBytes) the folded record lists, comma separated, as
	// Detail[collectAs]: the key prefixes tried from one address, the
	// models one key asked for.
	collect   func(audit.Record) string
	collectAs string
	// other gives the key and record under which a refusal under key is
	// folded once maxFoldKeys keys are tracked.
	other func(key string, r audit.Record) (string, audit.Record)

	mu    sync.Mutex
	byKey map[string]*foldWindow
	timer *time.Timer // fires when the earliest window with pending refusals ends
}

// foldWindow is one key's current window.
type foldWindow struct {
	end     time.Time    // when the window closes
	pending int          // refusals since the last record
	first   time.Time    // time of the first pending one
	last    audit.Record // the latest pending one
	values  []string     // distinct values of collect
}

// add folds the refusal r under key at now and returns the records due:
// r's own when it is the first of a window, and those of windows that
// have ended. The caller appends them (appendAll), outside the lock.
func (f *folder) add(g *Gate, now time.Time, key string, r audit.Record) []audit.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	recs := f.dueLocked(now)
	if f.byKey == nil {
		f.byKey = map[string]*foldWindow{}
	}
	w := f.byKey[key]
	if w == nil && len(f.byKey) >= maxFoldKeys {
		key, r = f.other(key, r)
		w = f.byKey[key]
	}
	if w == nil {
		// The first refusal under this key in a window: recorded now.
		f.byKey[key] = &foldWindow{end: now.Add(DenialWindow)}
		r.Detail = withDetail(r.Detail, "denials", "1")
		return append(recs, r)
	}
	if w.pending == 0 {
		w.first = now
	}
	w.pending++
	w.last = r
	if f.collect != nil {
		if v := clip(f.collect(r), maxCollectedBytes); v != "" && !slices.Contains(w.values, v) && len(w.values) < maxCollected {
			w.values = append(w.values, v)
		}
	}
	f.armLocked(g, now)
	return recs
}

// dueLocked closes the windows that have ended by now: one with pending
// refusals yields their record and starts a new window (so the key still
// gets at most one record per window); an idle one is forgotten.
func (f *folder) dueLocked(now time.Time) []audit.Record {
	var recs []audit.Record
	for key, w := range f.byKey {
		if now.Before(w.end) {
			continue
		}
		if w.pending == 0 {
			delete(f.byKey, key)
			continue
		}
		r := w.last
		r.Detail = withDetail(r.Detail, "denials", strconv.Itoa(w.pending))
		r.Detail["since"] = w.first.UTC().Format(time.RFC3339Nano)
		if len(w.values) > 0 {
			r.Detail[f.collectAs] = strings.Join(w.values, ",")
		}
		recs = append(recs, r)
		f.byKey[key] = &foldWindow{end: now.Add(DenialWindow)}
	}
	return recs
}

// armLocked makes sure a timer will close the earliest window that has
// pending refusals, so their count is recorded even if the refusals stop.
func (f *folder) armLocked(g *Gate, now time.Time) {
	if f.timer != nil {
		return
	}
	var next time.Time
	for _, w := range f.byKey {
		if w.pending > 0 && (next.IsZero() || w.end.Before(next)) {
			next = w.end
		}
	}
	if next.IsZero() {
		return
	}
	f.timer = time.AfterFunc(max(next.Sub(now), time.Second), func() { g.FlushDenials() })
}

// flush returns the records of the windows that have ended by now.
func (f *folder) flush(g *Gate, now time.Time) []audit.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timer = nil
	recs := f.dueLocked(now)
	f.armLocked(g, now)
	return recs
}

// flushAll returns every pending count, window ended or not, and stops
// the timer.
func (f *folder) flushAll() []audit.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timer != nil {
		f.timer.Stop()
		f.timer = nil
	}
	for _, w := range f.byKey {
		w.end = time.Time{} // every window ends now
	}
	recs := f.dueLocked(time.Time{})
	f.byKey = nil
	return recs
}

// stop stops the folder's timer (tests).
func (f *folder) stop() {
	f.mu.Lock()
	if f.timer != nil {
		f.timer.Stop()
	}
	f.mu.Unlock()
}

// withDetail is a copy of d with k set to v: records folded together must
// not share their maps.
func withDetail(d map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(d)+2)
	for dk, dv := range d {
		out[dk] = dv
	}
	out[k] = v
	return out
}

// FlushDenials records the refusals of every window that has ended. A
// timer calls it; tests with a fake clock call it after moving the clock.
func (g *Gate) FlushDenials() {
	now := g.now()
	g.appendAll(append(g.authDenials.flush(g, now), g.denials.flush(g, now)...))
}

// FlushAllDenials records every pending count now, whether or not its
// window has ended, and stops the timers: for a node shutting down, which
// would otherwise lose the refusals of the windows still open (the first
// refusal of each is always recorded at once).
func (g *Gate) FlushAllDenials() {
	g.appendAll(append(g.authDenials.flushAll(), g.denials.flushAll()...))
}

// appendAll appends folded refusals' records.
func (g *Gate) appendAll(recs []audit.Record) {
	for _, r := range recs {
		if _, err := g.cfg.Audit.Append(context.Background(), r); err != nil {
			g.log.Error("audit append failed", "err", err, "reason", r.Reason, "tenant", r.Tenant, "remote_addr", r.Detail["remote_addr"])
		}
	}
}

// Limits on what of a client's text a record repeats: a model name, a
// reason that quotes one, an error. The API bounds what it accepts; these
// hold whatever reaches the log by another way.
const (
	maxRecordModel  = 256
	maxRecordText   = 512
	maxRecordDetail = 512
)

// bounded is r with its client-derived text cut (clip).
func bounded(r audit.Record) audit.Record {
	r.Model = clip(r.Model, maxRecordModel)
	r.Reason = clip(r.Reason, maxRecordText)
	if len(r.Detail) > 0 {
		d := make(map[string]string, len(r.Detail))
		for k, v := range r.Detail {
			d[k] = clip(v, maxRecordDetail)
		}
		r.Detail = d
	}
	return r
}

// clip is s cut to at most n bytes at a character boundary, followed by
// "…" when anything was cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
