package audit

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// Defaults for Options.ProbeInterval and Options.ProbeMax.
const (
	DefaultProbeInterval = time.Second
	DefaultProbeMax      = 30 * time.Second
)

// KindGap is the record the log writes when it recovers from a failure:
// when it failed, when it recovered, how many operations it refused in
// between and which records were written but never confirmed durable.
const KindGap = "audit_gap"

// ErrUnavailable is wrapped by the errors of Append, Preflight and Healthy
// while the log cannot make records durable (a write or an fsync failed).
// Callers refuse the operation the record was for.
var ErrUnavailable = errors.New("the audit log cannot make records durable")

// outage is a failure of the log, from the write or fsync that failed
// until the probe has reopened the log.
type outage struct {
	cause   error
	since   time.Time
	refused atomic.Int64 // operations refused while failed (Preflight and Append)
	lost    atomic.Int64 // appends that failed as the fault struck
}

func (o *outage) error(dir string) error {
	return &unavailableError{dir: dir, since: o.since, cause: o.cause}
}

type unavailableError struct {
	dir   string
	since time.Time
	cause error
}

func (e *unavailableError) Error() string {
	return fmt.Sprintf("audit log %s: %v since %s: %v; operations are refused until it recovers (it retries by itself)",
		e.dir, ErrUnavailable, e.since.UTC().Format(time.RFC3339), e.cause)
}

func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.cause} }

// RetryAfter is how long a refused client should wait: about one probe.
func (e *unavailableError) RetryAfter() time.Duration { return 5 * time.Second }

// Healthy returns nil while the log makes records durable, and otherwise
// an error wrapping ErrUnavailable that says since when and why. It is a
// state check (an atomic load), cheap enough for every request and for
// readiness probes.
func (l *Log) Healthy() error {
	if o := l.out.Load(); o != nil {
		return o.error(l.dir)
	}
	return nil
}

// Preflight is Healthy for an operation about to change something: while
// the log is failed it counts the operation as refused (the gap record
// reports the count) and returns the error to refuse it with.
func (l *Log) Preflight() error {
	if o := l.out.Load(); o != nil {
		o.refused.Add(1)
		return o.error(l.dir)
	}
	return nil
}

// Stats is the log's health for metrics.
type Stats struct {
	Healthy        bool
	AppendFailures int64 // Appends that failed because the log could not record (refused ones included)
}

// Stats returns the log's health counters.
func (l *Log) Stats() Stats {
	return Stats{Healthy: l.out.Load() == nil, AppendFailures: l.failures.Load()}
}

// failLocked is markFailed for a failure seen with l.mu held (a write,
// a rotation). It returns the outage's error for the caller.
func (l *Log) failLocked(cause error) error {
	if l.reopening {
		return fmt.Errorf("audit: %w", cause) // the probe's own try; the outage goes on
	}
	l.markFailed(cause)
	return l.out.Load().error(l.dir)
}

// markFailed puts the log in the failed state: appends are refused, their
// waiters woken with the error, and the probe starts. Only the first
// failure of an outage is logged; lock-free, so the fsync leader calls it
// too.
func (l *Log) markFailed(cause error) {
	o := &outage{cause: cause, since: l.opts.Now()}
	o.lost.Add(1)
	if !l.out.CompareAndSwap(nil, o) {
		if cur := l.out.Load(); cur != nil {
			cur.lost.Add(1)
		}
		return
	}
	l.dur.fail(o.error(l.dir))
	l.opts.Logger.Error("audit: the log cannot make records durable; refusing requests and admin changes until it recovers",
		"dir", l.dir, "err", cause)
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// probe reopens a failed log: after ProbeInterval, doubling to ProbeMax,
// until a reopen succeeds or the log closes.
func (l *Log) probe() {
	for {
		select {
		case <-l.stop:
			return
		case <-l.kick:
		}
		wait := l.opts.ProbeInterval
		for l.out.Load() != nil {
			t := time.NewTimer(wait)
			select {
			case <-l.stop:
				t.Stop()
				return
			case <-t.C:
			}
			err := l.reopen()
			if err == nil {
				break
			}
			l.opts.Logger.Warn("audit: the log is still failing", "dir", l.dir, "err", err, "retry_in", min(2*wait, l.opts.ProbeMax))
			wait = min(2*wait, l.opts.ProbeMax)
		}
	}
}

// reopen drops the segment handle (after a failed write or fsync its
// state is unknown), reads the log's tail back as Open does (quarantining
// a torn last line), opens the last segment again, syncs it and writes
// the gap record and a checkpoint. Only when all of that is durable does
// the log take appends again.
func (l *Log) reopen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.out.Load()
	if o == nil {
		return nil
	}
	if l.seg == nil {
		return ErrClosed
	}
	l.seg.inflight.Wait()
	l.seg.f.Close() // its error says nothing we do not know
	st, segs, err := l.scanTail()
	if err != nil {
		return err
	}
	if st.torn != nil {
		if _, err := l.quarantine(&st); err != nil {
			return err
		}
	}
	if st.forged != nil {
		if err := l.quarantineForged(&st); err != nil {
			return err
		}
	}
	seg, err := l.openLast(segs, &st)
	if err != nil {
		return err
	}
	// l.seg stays valid (with its closed file) until the new one works, so
	// Close still finds the log to release.
	fail := func(err error) error {
		seg.f.Close()
		return err
	}
	if !l.opts.NoSync {
		if err := seg.f.Sync(); err != nil {
			return fail(fmt.Errorf("audit: sync %s: %w", seg.name, err))
		}
	}
	l.dur.mu.Lock()
	synced := l.dur.synced
	l.dur.mu.Unlock()
	old := l.seg
	l.seg = seg
	l.seq, l.head, l.sinceCP = st.seq, st.head, st.sinceCP
	detail := map[string]string{
		"failed_at":    formatTime(o.since),
		"recovered_at": formatTime(l.opts.Now()),
		"refused":      strconv.FormatInt(o.refused.Load(), 10),
		"failed":       strconv.FormatInt(o.lost.Load(), 10),
		"error":        truncate(o.cause.Error(), 300),
	}
	if st.seq > synced {
		// Written before the fault showed, never confirmed to their callers.
		detail["unconfirmed_from"] = strconv.FormatUint(synced+1, 10)
		detail["unconfirmed_to"] = strconv.FormatUint(st.seq, 10)
	}
	if st.torn != nil {
		detail["torn_bytes"] = strconv.FormatInt(st.torn.Bytes, 10)
	}
	l.reopening = true
	_, err = l.writeLocked(Record{Kind: KindGap, Reason: "the log could not make records durable; operations were refused until it recovered",
		Detail: detail})
	if err == nil {
		_, err = l.checkpointLocked("recovered")
	}
	if err == nil && !l.opts.NoSync {
		err = seg.f.Sync()
	}
	l.reopening = false
	if err != nil {
		l.seg = old
		return fail(err)
	}
	l.dur.reset(l.seq)
	l.out.Store(nil)
	l.noteAnchor()
	l.opts.Logger.Info("audit: the log recovered; serving again", "dir", l.dir, "failed_at", o.since,
		"refused", o.refused.Load(), "failed", o.lost.Load(), "gap_seq", l.seq-1)
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
