package audit

import (
	"fmt"
	"os"
	"strconv"
)

// Holds reports whether the log still holds h, a head it had (as a fleet
// peer remembers it): record h.Seq with hash h.Hash. It returns nil if it
// does, or if this log was started anew in the place of one that reached
// h (its first record names the head it replaced, at or past h); otherwise
// an error that says what is missing or changed. It reads the log from the
// segment that holds h.Seq, so it is meant for a check at start, not for
// every request.
func (l *Log) Holds(h Head) error {
	if h.Seq == 0 {
		return nil
	}
	seq, _ := l.Head()
	segs, err := listSegments(os.DirFS(l.dir))
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if len(segs) > 0 {
		if r, ok := l.firstRecord(segs); ok && r.Kind == KindRecovery {
			if old, err := strconv.ParseUint(r.Detail["replaced_seq"], 10, 64); err == nil && old >= h.Seq {
				return nil // a new log, which says which it replaced
			}
		}
	}
	if seq < h.Seq {
		return fmt.Errorf("audit: %s ends at seq %d, but it reached seq %d (hash %.16s…, %s): records seq %d..%d are missing",
			l.dir, seq, h.Seq, h.Hash, formatTime(h.Time), seq+1, h.Seq)
	}
	start := 0
	for i, s := range segs {
		if s.first <= h.Seq {
			start = i
		}
	}
	rd := newReader(os.DirFS(l.dir), segs[start:])
	defer rd.close()
	for {
		e, ok, err := rd.next()
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		if !ok || e.torn {
			break
		}
		if e.err != nil || e.rec.Seq != h.Seq {
			continue
		}
		if e.rec.Hash != h.Hash {
			return fmt.Errorf("audit: record seq %d of %s is not the one the log held (hash %.16s…, now %.16s…): the log was rewritten",
				h.Seq, l.dir, h.Hash, e.rec.Hash)
		}
		return nil
	}
	return fmt.Errorf("audit: record seq %d (hash %.16s…) is not in %s: the log lost it", h.Seq, h.Hash, l.dir)
}

// firstRecord is the log's first record.
func (l *Log) firstRecord(segs []segment) (Record, bool) {
	rd := newReader(os.DirFS(l.dir), segs[:1])
	defer rd.close()
	e, ok, err := rd.next()
	if err != nil || !ok || e.torn || e.err != nil {
		return Record{}, false
	}
	return e.rec, true
}
