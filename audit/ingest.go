package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultSpoolInterval is how often an open Log looks for spooled records.
const DefaultSpoolInterval = 2 * time.Second

// spoolBatch bounds how many spool files one IngestSpool pass appends.
const spoolBatch = 1000

// spoolScanMargin widens the look back through the chain for records of
// files still in the spool, against a clock stepped back between spooling
// and ingestion.
const spoolScanMargin = time.Hour

// staleTmp is the age after which a spooler's temporary file is taken to
// be left by a crash and removed.
const staleTmp = time.Hour

// IngestSpool appends the records waiting in the spool (see Spool), oldest
// first, and returns how many it appended. Open calls it, and a
// background ticker every Options.SpoolInterval.
//
// A record is appended once. Its file is removed only after the record is
// on stable storage in the chain, so a crash can lose no record; a crash
// between the two leaves a file whose record is already in the chain.
// The record carries its spool id (Detail[DetailSpoolID]), so the first
// pass after Open reads the chain back to when the oldest waiting file
// was spooled and removes, without appending again, every file whose id it
// finds; the Log remembers the ids it has seen or appended since, so a
// file whose removal failed is not appended again either (nor read again
// by this process).
//
// A file that is not a valid spooled record (torn, garbage, a forged
// checkpoint) is not appended: a "recovery" record in the chain names it
// with its size and sha256, and it is moved to quarantine/. A file that
// cannot be read at all is left where it is, with a warning.
func (l *Log) IngestSpool(ctx context.Context) (int, error) {
	l.ingestMu.Lock()
	defer l.ingestMu.Unlock()
	sdir := filepath.Join(l.dir, SpoolDirName)
	entries, err := os.ReadDir(sdir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit: spool: %w", err)
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, spoolTmpPrefix) {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTmp {
				os.Remove(filepath.Join(sdir, name))
			}
			continue
		}
		if e.IsDir() || l.spoolSkip[name] {
			continue
		}
		names = append(names, name)
	}
	if len(names) == 0 {
		return 0, nil
	}
	slices.Sort(names)
	if len(names) > spoolBatch {
		names = names[:spoolBatch]
	}
	if l.spoolSeen == nil {
		oldest := l.opts.Now()
		for _, n := range names {
			if t := spoolTime(n); !t.IsZero() && t.Before(oldest) {
				oldest = t
			}
		}
		if l.spoolSeen, err = spoolIDsSince(l.dir, oldest.Add(-spoolScanMargin)); err != nil {
			return 0, err
		}
		l.spoolSkip = map[string]bool{}
	}

	// Read and check the files before taking the log's lock, which
	// appends on the request path wait for.
	type file struct {
		name string
		rec  Record
		data []byte
		err  error // not a valid spooled record
	}
	var files []file
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			break
		}
		data, err := readSpoolFile(filepath.Join(sdir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			// Unreadable is not invalid (it may be a passing I/O error):
			// left in place, and not retried by this process.
			l.spoolSkip[name] = true
			l.opts.Logger.Warn("audit: cannot read a spool file; leaving it", "file", name, "err", err)
			continue
		}
		f := file{name: name, data: data}
		if !spoolName.MatchString(name) {
			f.err = errors.New("not a spool file name")
		} else {
			f.rec, f.err = parseSpooled(name, data, l.id.Public, l.opts.SpoolKinds)
		}
		files = append(files, f)
	}

	var (
		done, bad []string // files whose records are in the chain; invalid files, now named in the chain
		count     int
	)
	l.mu.Lock()
	for _, f := range files {
		if f.err != nil {
			sum := sha256.Sum256(f.data)
			msg := f.err.Error()
			if len(msg) > 300 {
				msg = msg[:300] + "…"
			}
			if _, err := l.writeLocked(Record{Kind: KindRecovery, Reason: "spool file rejected, moved to quarantine", Detail: map[string]string{
				"spool_file": f.name, "bytes": strconv.Itoa(len(f.data)), "sha256": hex.EncodeToString(sum[:]),
				"error": msg, "quarantine": filepath.Join("quarantine", "spool."+f.name+".bad")}}); err != nil {
				l.mu.Unlock()
				return count, err
			}
			bad = append(bad, f.name)
			continue
		}
		id := f.rec.Detail[DetailSpoolID]
		if !l.spoolSeen[id] {
			r := f.rec
			r.Detail[DetailSpooledAt] = formatTime(r.Time)
			r.Time = time.Time{}
			if _, err := l.writeLocked(r); err != nil {
				l.mu.Unlock()
				return count, err
			}
			if err := l.checkpointIfDueLocked(); err != nil {
				l.mu.Unlock()
				return count, err
			}
			l.spoolSeen[id] = true
			count++
		}
		done = append(done, f.name)
	}
	upto := l.seq
	l.mu.Unlock()
	// Files go only once their records are on stable storage.
	if err := l.waitDurable(upto); err != nil {
		return count, err
	}
	for _, name := range done {
		if err := os.Remove(filepath.Join(sdir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.spoolSkip[name] = true
			l.opts.Logger.Warn("audit: spooled record appended, its file not removed (it will not be appended again)", "file", name, "err", err)
		}
	}
	for _, name := range bad {
		if err := l.quarantineSpool(name); err != nil {
			// Recorded once; not again every pass.
			l.spoolSkip[name] = true
			l.opts.Logger.Warn("audit: could not quarantine a bad spool file", "file", name, "err", err)
			continue
		}
		l.opts.Logger.Error("audit: spool file rejected (not a record this node signed, or of a kind other processes do not write); moved to quarantine",
			"file", name, "quarantine", filepath.Join(l.dir, "quarantine", "spool."+name+".bad"))
	}
	return count, nil
}

// readSpoolFile reads at most one byte more than a spooled record may
// hold.
func readSpoolFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxSpoolFile+1))
}

// quarantineSpool moves a bad spool file to quarantine/spool.<name>.bad.
func (l *Log) quarantineSpool(name string) error {
	qdir := filepath.Join(l.dir, "quarantine")
	if err := os.MkdirAll(qdir, 0o700); err != nil {
		return err
	}
	dst := filepath.Join(qdir, "spool."+name+".bad")
	if _, err := os.Lstat(dst); err == nil {
		dst += "." + strconv.FormatInt(l.opts.Now().UnixNano(), 10)
	}
	if err := os.Rename(filepath.Join(l.dir, SpoolDirName, name), dst); err != nil {
		return err
	}
	return syncDir(qdir)
}

// spoolIDsSince returns the spool ids of the records in the segments that
// may hold records appended at or after since: read from the last segment
// back to the first one that begins before since.
func spoolIDsSince(dir string, since time.Time) (map[string]bool, error) {
	fsys := os.DirFS(dir)
	segs, err := listSegments(fsys)
	if err != nil {
		return nil, fmt.Errorf("audit: spool: %w", err)
	}
	ids := map[string]bool{}
	for i := len(segs) - 1; i >= 0; i-- {
		rd := newReader(fsys, segs[i:i+1])
		first := true
		stop := false
		for {
			e, ok, err := rd.next()
			if err != nil {
				rd.close()
				return nil, err
			}
			if !ok {
				break
			}
			if e.torn || e.err != nil {
				continue
			}
			if first {
				stop = e.rec.Time.Before(since)
				first = false
			}
			if id := e.rec.Detail[DetailSpoolID]; id != "" {
				ids[id] = true
			}
		}
		rd.close()
		if stop {
			break
		}
	}
	return ids, nil
}
