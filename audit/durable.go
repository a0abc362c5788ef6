package audit

import (
	"fmt"
	"sync"
)

// durability tracks which records are on stable storage and runs group
// commit: an Append that finds its record not yet synced either waits for
// the fsync in flight or, if there is none, becomes the leader and syncs
// the file for every record written so far. One fsync thus acknowledges
// all records written while the previous one ran; a lone caller still
// pays one fsync per record, and no caller returns before its own record
// is durable.
type durability struct {
	mu      sync.Mutex
	cond    *sync.Cond
	synced  uint64 // records up to this seq are durable
	syncing bool
	err     error // a failed fsync: nothing after it can be trusted durable, until the log reopens
}

func (d *durability) advance(seq uint64) {
	d.mu.Lock()
	if seq > d.synced {
		d.synced = seq
	}
	d.cond.Broadcast()
	d.mu.Unlock()
}

// fail makes every waiter return err (the log's outage error).
func (d *durability) fail(err error) {
	d.mu.Lock()
	if d.err == nil {
		d.err = err
	}
	d.cond.Broadcast()
	d.mu.Unlock()
}

func (d *durability) failed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// reset is the probe's, once the reopened file is synced up to seq.
func (d *durability) reset(seq uint64) {
	d.mu.Lock()
	d.err, d.synced = nil, seq
	d.cond.Broadcast()
	d.mu.Unlock()
}

// waitDurable returns once record seq upto is on stable storage. Lock
// order: l.mu before d.mu; the leader holds neither while it syncs.
func (l *Log) waitDurable(upto uint64) error {
	if l.opts.NoSync {
		return nil
	}
	d := &l.dur
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.synced < upto {
		if d.err != nil {
			return d.err
		}
		if d.syncing {
			d.cond.Wait()
			continue
		}
		d.syncing = true
		d.mu.Unlock()

		l.mu.Lock()
		seg, target := l.seg, l.seq
		if seg != nil {
			seg.inflight.Add(1)
		}
		l.mu.Unlock()
		var err error
		if seg != nil {
			err = seg.f.Sync()
			seg.inflight.Done()
			l.syncs.Add(1)
		}

		if err != nil {
			// Sets d.err (through fail) before we look again; the probe
			// clears it once the file is synced again.
			l.markFailed(fmt.Errorf("fsync %s: %w", seg.name, err))
		}
		d.mu.Lock()
		d.syncing = false
		switch {
		case err != nil:
		case seg != nil && target > d.synced:
			d.synced = target
			l.noteAnchor()
		}
		d.cond.Broadcast()
		if seg == nil && d.synced < upto && d.err == nil {
			// Closed by Close, which synced what it could.
			return ErrClosed
		}
	}
	return nil
}
