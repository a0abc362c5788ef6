package replica

import (
	"testing"
	"time"

	"github.com/hearth-ai/hearth/flywheel/registry"
)

// TestPlainCache: a home node unseals a file once for all its chunks,
// again after plainCacheTTL, and holds at most plainCacheBytes (or the
// one file last used when that alone is larger).
func TestPlainCache(t *testing.T) {
	var c plainCache
	opens := map[string]int{}
	get := func(now time.Time, name string, size int) {
		t.Helper()
		v := &registry.Version{Name: name, Version: 1, SHA256: name}
		data, err := c.get(now, "t1", v, false, func() ([]byte, error) { opens[name]++; return make([]byte, size), nil })
		if err != nil || len(data) != size {
			t.Fatalf("get %s: %d bytes, %v", name, len(data), err)
		}
	}
	at := time.Unix(1e9, 0)
	small := plainCacheBytes / 4
	for range 3 {
		get(at, "a", small)
		get(at, "b", small)
	}
	if opens["a"] != 1 || opens["b"] != 1 {
		t.Errorf("opens %v; want each file unsealed once", opens)
	}
	get(at.Add(plainCacheTTL+time.Second), "a", small)
	if opens["a"] != 2 {
		t.Errorf("a unsealed %d times; want again after the TTL", opens["a"])
	}
	// Fresh opens again, and caches what it opened.
	v := &registry.Version{Name: "a", Version: 1, SHA256: "a"}
	c.get(at.Add(plainCacheTTL+time.Second), "t1", v, true, func() ([]byte, error) { opens["a"]++; return make([]byte, small), nil })
	get(at.Add(plainCacheTTL+time.Second), "a", small)
	if opens["a"] != 3 {
		t.Errorf("a unsealed %d times; want once more for the fresh get, not for the next", opens["a"])
	}
	// A file over the budget is kept alone, and pushes the others out.
	get(at.Add(plainCacheTTL+2*time.Second), "big", plainCacheBytes+1)
	get(at.Add(plainCacheTTL+3*time.Second), "big", plainCacheBytes+1)
	if opens["big"] != 1 || len(c.entries) != 1 {
		t.Errorf("big unsealed %d times, %d entries held; want once, alone", opens["big"], len(c.entries))
	}
	get(at.Add(plainCacheTTL+4*time.Second), "a", small)
	if len(c.entries) != 1 || c.entries[0].key == "" || opens["a"] != 4 {
		t.Errorf("after a small file: %d entries, a unsealed %d times; want the big one pushed out", len(c.entries), opens["a"])
	}
}

// TestRefusalFold: one record a minute per sender, with the count of the
// refusals folded into it; the table of senders stays bounded.
func TestRefusalFold(t *testing.T) {
	var f refusalFold
	at := time.Unix(1e9, 0)
	steps := []struct {
		from   string
		after  time.Duration
		record bool
		folded int
	}{
		{"a", 0, true, 0},
		{"a", time.Second, false, 0},
		{"b", 2 * time.Second, true, 0},
		{"a", 3 * time.Second, false, 0},
		{"a", foldEvery + time.Second, true, 2},
		{"a", foldEvery + 2*time.Second, false, 0},
	}
	for i, s := range steps {
		folded, record := f.note(s.from, at.Add(s.after))
		if record != s.record || folded != s.folded {
			t.Errorf("step %d (%s at %v): record %v folded %d; want %v, %d", i, s.from, s.after, record, folded, s.record, s.folded)
		}
	}
	for i := range 3 * foldMaxSenders {
		f.note(time.Duration(i).String(), at)
	}
	if len(f.senders) > foldMaxSenders {
		t.Errorf("%d senders held; want at most %d", len(f.senders), foldMaxSenders)
	}
}
