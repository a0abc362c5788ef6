package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-ai/hearth/identity"
)

// Defaults for Options.
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
	DefaultSegmentBytes       = 64 << 20
)

// Options tune a Log. The zero value is the production setting.
type Options struct {
	// Now is the clock for record times and interval checkpoints
	// (default time.Now).
	Now func() time.Time
	// CheckpointEvery is how many records may follow a checkpoint before
	// the next one is written (default 1000; negative: none by count).
	CheckpointEvery int
	// CheckpointInterval is how old the last checkpoint may get while
	// records wait unsigned (default 1 minute; negative: none by time).
	// Appends check it, and a background ticker does while the log is idle.
	CheckpointInterval time.Duration
	// SegmentBytes is the size at which a new segment file is started
	// (default 64 MiB).
	SegmentBytes int64
	// SyncInterval, when positive, trades durability for latency: Append
	// returns once the record is written to the file (the kernel has it, so
	// a process crash loses nothing) and a background flush fsyncs at most
	// this long after. A power loss or kernel crash can then lose the
	// records acknowledged in the last SyncInterval. Zero (the default):
	// every Append returns only after fsync, shared among concurrent
	// callers (group commit). Call Sync to wait for durability explicitly.
	SyncInterval time.Duration
	// NoSync skips fsync altogether, Close included. For tests and
	// benchmarks only.
	NoSync bool
	// SpoolInterval is how often the open log appends records other
	// processes spooled (see Spool and IngestSpool); Open appends those
	// waiting already. Default 2 seconds; negative: only on Open and when
	// IngestSpool is called.
	SpoolInterval time.Duration
	// SpoolKinds are the record kinds accepted from the spool (default
	// DefaultSpoolKinds); spool files of other kinds are quarantined.
	SpoolKinds []string
	// Logger receives warnings about recovery and an error line when the
	// log fails (default: discard).
	Logger *slog.Logger
	// ProbeInterval is the first wait before a failed log tries to reopen
	// itself; it doubles after each failed try up to ProbeMax (defaults 1
	// second and 30 seconds). See health.go.
	ProbeInterval, ProbeMax time.Duration
	// Anchor, if set, keeps the chain head at every checkpoint outside the
	// log (the node's database), so that truncation shows; see anchor.go.
	Anchor Anchor

	// openFile opens segment files; tests inject faults through it.
	openFile func(name string, flag int, perm os.FileMode) (segmentFile, error)
}

// segmentFile is what the log needs of an open segment. *os.File is one;
// tests wrap it to make writes and fsyncs fail.
type segmentFile interface {
	Write(p []byte) (int, error)
	Sync() error
	Close() error
}

func osOpenFile(name string, flag int, perm os.FileMode) (segmentFile, error) {
	return os.OpenFile(name, flag, perm)
}

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: log is closed")

// Log is an open audit log that this process appends to. Its methods are
// safe for concurrent use. Only one process may hold a log open (a lock
// file enforces it); Verify and Export read a log without opening it.
type Log struct {
	dir    string
	id     *identity.Identity
	opts   Options
	unlock func()

	mu       sync.Mutex
	seg      *segFile // nil once closed
	seq      uint64   // last seq written
	head     string   // its hash
	sinceCP  int      // records written since the last checkpoint
	lastCP   time.Time
	recovery *Recovery
	mac      []byte // the records' MAC key, derived from the node key (mac.go)

	// health: nil while records are made durable; set when a write or an
	// fsync fails, until the background probe reopens the log (health.go).
	out       atomic.Pointer[outage]
	reopening bool          // the probe is writing the gap record (l.mu)
	kick      chan struct{} // wakes the probe
	failures  atomic.Int64  // appends that returned an error because of the log's state
	lastMoved string        // the last quarantine file written (recover)

	// anchor (anchor.go): the head kept in the database.
	anchorAt      Head  // loaded at Open
	replaced      *Head // a new log where the anchor names an older one
	pendingAnchor Head  // the last checkpoint written (l.mu)
	anchorMu      sync.Mutex
	savedAnchor   Head // the last saved (anchorMu)
	anchorKick    chan struct{}

	dur   durability
	syncs atomic.Int64 // fsyncs done (for tests and the benchmark)

	stop     chan struct{}  // closed by Close to stop the background goroutines
	bg       sync.WaitGroup // the interval checkpoint ticker, the flusher and the spool ingester
	stopOnce sync.Once

	ingestMu  sync.Mutex      // one IngestSpool at a time; before mu
	spoolSeen map[string]bool // spool ids known to be in the chain (nil: not read yet)
	spoolSkip map[string]bool // spool files this process leaves alone (could not read, remove or quarantine)
}

// segFile is the segment being appended to.
type segFile struct {
	f        segmentFile
	name     string
	size     int64
	inflight sync.WaitGroup // fsyncs running on f without l.mu
}

// Recovery describes what Open found after an unclean shutdown and wrote
// into the log about it.
type Recovery struct {
	Torn       *TornTail // a partial last line, moved to Quarantine
	Forged     *Forged   // unsigned records whose MAC failed, moved to Quarantine instead of signed
	Quarantine string    // path of the file holding the torn or forged bytes
	Unsigned   int       // records after the last checkpoint, signed on open (-1: more than the last segment holds)
}

// Open opens (creating if needed) the audit log in dir for appending, with
// the node's identity to sign checkpoints. It checks the last segment's
// records (hashes, chain, signatures) and refuses to continue a log whose
// tail was altered. After a crash it moves a torn last line to
// dir/quarantine, records that in a "recovery" record and signs the chain
// head, so the log verifies again and nothing is lost silently.
func Open(dir string, id *identity.Identity, opts Options) (*Log, error) {
	if id == nil || len(id.Private) != ed25519.PrivateKeySize {
		return nil, errors.New("audit: open: no node identity")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CheckpointEvery == 0 {
		opts.CheckpointEvery = DefaultCheckpointEvery
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if opts.SpoolInterval == 0 {
		opts.SpoolInterval = DefaultSpoolInterval
	}
	if opts.SpoolKinds == nil {
		opts.SpoolKinds = DefaultSpoolKinds
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ProbeInterval <= 0 {
		opts.ProbeInterval = DefaultProbeInterval
	}
	if opts.ProbeMax < opts.ProbeInterval {
		opts.ProbeMax = max(DefaultProbeMax, opts.ProbeInterval)
	}
	if opts.openFile == nil {
		opts.openFile = osOpenFile
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	unlock, err := lockDir(filepath.Join(dir, "LOCK"))
	if err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", dir, err)
	}
	l := &Log{dir: dir, id: id, opts: opts, unlock: unlock, mac: macKey(id), kick: make(chan struct{}, 1),
		anchorKick: make(chan struct{}, 1)}
	l.dur.cond = sync.NewCond(&l.dur.mu)
	if err := l.recover(); err != nil {
		if l.seg != nil {
			l.seg.f.Close()
		}
		unlock()
		return nil, err
	}
	// Records spooled while no process held the log (or while a writer
	// that crashed did) go in now. A failure here must not keep the node
	// from logging what it does next: the files stay for the next pass.
	if _, err := l.IngestSpool(context.Background()); err != nil {
		opts.Logger.Warn("audit: appending spooled records failed; retrying later", "err", err)
	}
	l.stop = make(chan struct{})
	l.bg.Go(l.probe)
	l.bg.Go(l.anchorLoop)
	if opts.SpoolInterval > 0 {
		l.bg.Go(func() {
			l.every(opts.SpoolInterval, func(ctx context.Context) error { _, err := l.IngestSpool(ctx); return err })
		})
	}
	if opts.CheckpointInterval > 0 {
		l.bg.Go(func() { l.every(max(opts.CheckpointInterval/2, time.Millisecond), l.CheckpointIfDue) })
	}
	if opts.SyncInterval > 0 && !opts.NoSync {
		l.bg.Go(func() { l.every(opts.SyncInterval, l.Sync) })
	}
	return l, nil
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// Recovery reports what Open repaired, or nil after a clean shutdown.
func (l *Log) Recovery() *Recovery { return l.recovery }

// Head returns the last seq written and its hash.
func (l *Log) Head() (seq uint64, hash string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq, l.head
}

// Append adds r to the log. It assigns Seq, Prev and Hash, and Time if it
// is zero, and Node if it is empty; it returns the record as written. When
// Append returns nil the record is on stable storage (fsync), as is every
// record before it. Concurrent Appends share fsyncs (group commit), so
// throughput grows with concurrency while each caller still waits for its
// own record to be durable. ctx can only stop an Append before it writes.
func (l *Log) Append(ctx context.Context, r Record) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, fmt.Errorf("audit: append: %w", err)
	}
	switch {
	case r.Kind == "":
		return Record{}, errors.New("audit: append: record has no kind")
	case ownKind(r.Kind):
		return Record{}, fmt.Errorf("audit: append: kind %q is written by the log itself", r.Kind)
	case r.Sig != "":
		return Record{}, errors.New("audit: append: only checkpoints carry a signature")
	}
	r.Seq, r.Prev, r.Hash, r.Mac = 0, "", "", ""
	if o := l.out.Load(); o != nil {
		// Known failed: refused up front, before anything is written.
		o.refused.Add(1)
		l.failures.Add(1)
		return Record{}, o.error(l.dir)
	}
	l.mu.Lock()
	out, err := l.writeLocked(r)
	if err == nil {
		err = l.checkpointIfDueLocked()
	}
	upto := l.seq
	l.mu.Unlock()
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			l.failures.Add(1)
		}
		return Record{}, err
	}
	if l.opts.SyncInterval <= 0 {
		if err := l.waitDurable(upto); err != nil {
			if errors.Is(err, ErrUnavailable) {
				l.failures.Add(1)
			}
			return Record{}, err
		}
	}
	return out, nil
}

// Sync returns once every record appended so far is on stable storage.
// Only needed with Options.SyncInterval; Append already waits otherwise.
func (l *Log) Sync(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	upto := l.seq
	l.mu.Unlock()
	return l.waitDurable(upto)
}

// CheckpointIfDue writes a checkpoint if records have waited unsigned for
// CheckpointInterval. The background ticker calls it; tests with a fake
// clock call it directly.
func (l *Log) CheckpointIfDue(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	err := l.checkpointIfDueLocked()
	upto := l.seq
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return l.waitDurable(upto)
}

// Close signs the chain head (a "close" checkpoint), syncs and closes the
// log. It is safe to call more than once.
func (l *Log) Close() error {
	l.stopOnce.Do(func() { close(l.stop) })
	l.bg.Wait()
	l.mu.Lock()
	closed, err := l.closeLocked()
	l.mu.Unlock()
	if closed {
		l.saveAnchor() // the head the close checkpoint signed
	}
	return err
}

func (l *Log) closeLocked() (closed bool, _ error) {
	if l.seg == nil {
		return false, nil
	}
	var errs []error
	if l.sinceCP > 0 {
		if _, err := l.checkpointLocked("close"); err != nil {
			errs = append(errs, err)
		}
	}
	failed := l.out.Load() != nil
	if !l.opts.NoSync && !failed {
		if err := l.seg.f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("audit: sync %s: %w", l.seg.name, err))
			l.failLocked(err)
		} else {
			l.dur.advance(l.seq)
			l.noteAnchor()
		}
	}
	l.seg.inflight.Wait()
	if err := l.seg.f.Close(); err != nil && !failed {
		errs = append(errs, fmt.Errorf("audit: close %s: %w", l.seg.name, err))
	}
	l.seg = nil
	l.unlock()
	return true, errors.Join(errs...)
}

// every calls f every period until Close.
func (l *Log) every(period time.Duration, f func(context.Context) error) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if err := f(context.Background()); err != nil && !errors.Is(err, ErrClosed) {
				l.opts.Logger.Warn("audit: background checkpoint, flush or spool ingestion failed", "err", err)
			}
		}
	}
}

func (l *Log) checkpointIfDueLocked() error {
	if l.sinceCP == 0 || l.seg == nil {
		return nil
	}
	switch {
	case l.opts.CheckpointEvery > 0 && l.sinceCP >= l.opts.CheckpointEvery:
		_, err := l.checkpointLocked("count")
		return err
	case l.opts.CheckpointInterval > 0 && l.opts.Now().Sub(l.lastCP) >= l.opts.CheckpointInterval:
		_, err := l.checkpointLocked("interval")
		return err
	}
	return nil
}

// checkpointLocked writes a signed checkpoint for the current head.
func (l *Log) checkpointLocked(reason string) (Record, error) {
	return l.writeLocked(Record{Kind: KindCheckpoint, Reason: reason})
}

// writeLocked fills in r's chain fields (and signs it if it is a
// checkpoint) and writes its line. l.mu is held.
func (l *Log) writeLocked(r Record) (Record, error) {
	if l.seg == nil {
		return Record{}, ErrClosed
	}
	if o := l.out.Load(); o != nil && !l.reopening {
		return Record{}, o.error(l.dir)
	}
	if r.Time.IsZero() {
		r.Time = l.opts.Now()
	}
	if r.Node == "" {
		r.Node = l.id.ID
	}
	if err := normalize(&r); err != nil {
		return Record{}, err
	}
	r.Seq, r.Prev = l.seq+1, l.head
	if r.Kind == KindCheckpoint {
		r.Node = l.id.ID
		r.Sig = hex.EncodeToString(ed25519.Sign(l.id.Private, r.SignedMessage()))
	}
	r.seal(l.mac)
	line, err := encodeLine(&r)
	if err != nil {
		return Record{}, err
	}
	if l.seg.size > 0 && l.seg.size+int64(len(line)) > l.opts.SegmentBytes {
		if err := l.rotateLocked(r.Seq); err != nil {
			return Record{}, l.failLocked(err)
		}
	}
	if _, err := writeLine(l.seg.f, line); err != nil {
		// Part of the line may be in the file: no further record may follow
		// it until the probe has read the file back (and quarantined the
		// torn bytes).
		return Record{}, l.failLocked(fmt.Errorf("write %s: %w", l.seg.name, err))
	}
	l.seg.size += int64(len(line))
	l.seq, l.head = r.Seq, r.Hash
	if r.Kind == KindCheckpoint {
		l.sinceCP, l.lastCP = 0, r.Time
		l.pendingAnchor = Head{Seq: r.Seq, Hash: r.Hash, Time: r.Time}
		if l.opts.NoSync {
			l.noteAnchor()
		}
	} else {
		l.sinceCP++
	}
	return r, nil
}

// writeLine writes one line with a single write call; tests replace it to
// widen the window in which a kill tears a line.
var writeLine = func(f segmentFile, line []byte) (int, error) { return f.Write(line) }

// rotateLocked makes the current segment durable and closes it, and starts
// segment-<first>.
func (l *Log) rotateLocked(first uint64) error {
	old := l.seg
	if !l.opts.NoSync {
		if err := old.f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", old.name, err)
		}
		l.syncs.Add(1)
		l.dur.advance(l.seq)
		l.noteAnchor()
	}
	seg, err := l.createSegment(first)
	if err != nil {
		return err
	}
	old.inflight.Wait()
	old.f.Close()
	l.seg = seg
	return nil
}

func (l *Log) createSegment(first uint64) (*segFile, error) {
	name := segmentName(first)
	f, err := l.opts.openFile(filepath.Join(l.dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: new segment: %w", err)
	}
	if err := syncDir(l.dir); err != nil {
		f.Close()
		return nil, err
	}
	return &segFile{f: f, name: name}, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer d.Close()
	// Windows cannot sync a directory handle; its entries are durable anyway.
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("audit: sync %s: %w", dir, err)
	}
	return nil
}
