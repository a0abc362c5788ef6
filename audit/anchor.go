package audit

import (
	"context"
	"fmt"
	"time"
)

// Head is a point in the chain: a record's seq and hash, and its time.
type Head struct {
	Seq  uint64
	Hash string
	Time time.Time
}

// Anchor keeps a log's head outside the log, where someone who can edit
// the log's files does not also rewrite it unnoticed (the node's database,
// see DBAnchor). Without it a log cut back to an older checkpoint, or an
// emptied segment, still verifies: the chain and the signatures before the
// cut are intact.
//
// The log saves the head of every checkpoint once it is durable; Open
// refuses a log whose head is behind the anchor or whose anchored record
// differs, and Verify (VerifyOptions.Anchor) reports what is missing.
type Anchor interface {
	LoadAnchor(ctx context.Context, node string) (h Head, ok bool, err error)
	SaveAnchor(ctx context.Context, node string, h Head) error
}

// loadAnchor reads the anchor before the tail is scanned, so the scan can
// note the anchored record's hash.
func (l *Log) loadAnchor() error {
	if l.opts.Anchor == nil {
		return nil
	}
	h, ok, err := l.opts.Anchor.LoadAnchor(context.Background(), l.id.ID)
	if err != nil {
		return fmt.Errorf("audit: read the log's anchor: %w", err)
	}
	if ok {
		l.anchorAt, l.savedAnchor = h, h
	}
	return nil
}

// checkAnchor compares the log's tail with its anchor. A log that ends
// before the anchored head, or holds another record where the anchored
// one was, lost records at its end: Open refuses to continue it. A log
// directory with no segment at all is a new log (the old one was moved
// aside): it starts, and its first record names the anchor it replaces.
func (l *Log) checkAnchor(st *tailState, segs []segment) error {
	a := l.anchorAt
	if a.Seq == 0 {
		return nil
	}
	if len(segs) == 0 {
		l.replaced = &a
		l.savedAnchor = Head{}
		return nil
	}
	if st.seq < a.Seq {
		return fmt.Errorf("audit: %s ends at seq %d, but the node's database anchored its head at seq %d (hash %.16s…, %s): "+
			"records seq %d..%d were removed (the log was truncated or a segment emptied); refusing to append after it. "+
			"Run `hearth audit verify`; restore the log, or move %s aside to start a new log (whose first record names this anchor)",
			l.dir, st.seq, a.Seq, a.Hash, formatTime(a.Time), st.seq+1, a.Seq, l.dir)
	}
	if st.anchorHash != "" && st.anchorHash != a.Hash {
		return fmt.Errorf("audit: record seq %d of %s is not the one the node's database anchored (hash %.16s…, the log has %.16s…): "+
			"the log was rewritten; refusing to append after it (run `hearth audit verify`)", a.Seq, l.dir, a.Hash, st.anchorHash)
	}
	return nil
}

// noteAnchor wakes the anchor writer when a checkpoint may have become
// durable.
func (l *Log) noteAnchor() {
	if l.opts.Anchor == nil {
		return
	}
	select {
	case l.anchorKick <- struct{}{}:
	default:
	}
}

// anchorLoop saves durable checkpoints' heads until Close (which saves
// the last one itself).
func (l *Log) anchorLoop() {
	for {
		select {
		case <-l.stop:
			return
		case <-l.anchorKick:
			l.saveAnchor()
		}
	}
}

// saveAnchor saves the last checkpoint's head if it is durable and newer
// than the one saved.
func (l *Log) saveAnchor() {
	if l.opts.Anchor == nil {
		return
	}
	l.anchorMu.Lock()
	defer l.anchorMu.Unlock()
	l.mu.Lock()
	h := l.pendingAnchor
	l.mu.Unlock()
	if h.Seq == 0 || h.Seq <= l.savedAnchor.Seq && l.savedAnchor.Seq != 0 {
		return
	}
	if !l.opts.NoSync {
		l.dur.mu.Lock()
		durable := l.dur.synced >= h.Seq
		l.dur.mu.Unlock()
		if !durable {
			return // kicked again by the fsync that covers it
		}
	}
	if err := l.opts.Anchor.SaveAnchor(context.Background(), l.id.ID, h); err != nil {
		l.opts.Logger.Warn("audit: saving the log's anchor failed; truncation back to before it would not show", "err", err, "seq", h.Seq)
		return
	}
	l.savedAnchor = h
}
