package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// tailState is what Open learns from the end of the log.
type tailState struct {
	seq      uint64 // last complete record
	head     string
	sinceCP  int  // records after the last checkpoint
	cpFound  bool // a checkpoint was among the records scanned
	lastCP   Record
	torn     *TornTail
	tornData []byte
}

// recover reads the end of the log, repairs a torn tail, opens the last
// segment for appending and, after an unclean shutdown, records the repair
// and signs the head.
func (l *Log) recover() error {
	segs, err := listSegments(os.DirFS(l.dir))
	if err != nil {
		return fmt.Errorf("audit: %s: %w", l.dir, err)
	}
	var st tailState
	// Scan back from the last segment to one holding a record: rotation
	// creates a segment before writing to it, so the last may be empty.
	for i := len(segs) - 1; i >= 0; i-- {
		n, err := l.scanSegment(segs[i], i == len(segs)-1, &st)
		if err != nil {
			return err
		}
		if n > 0 {
			if i < len(segs)-1 && segs[i+1].first != st.seq+1 {
				return fmt.Errorf("audit: %s should start at seq %d: the log has been altered; refusing to append (run `hearth audit verify`)",
					segs[i+1].name, st.seq+1)
			}
			break
		}
	}
	qpath := ""
	if st.torn != nil {
		if qpath, err = l.quarantine(&st); err != nil {
			return err
		}
	}
	if len(segs) == 0 {
		seg, err := l.createSegment(1)
		if err != nil {
			return err
		}
		l.seg = seg
	} else {
		last := segs[len(segs)-1]
		f, err := os.OpenFile(filepath.Join(l.dir, last.name), os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("audit: %w", err)
		}
		l.seg = &segFile{f: f, name: last.name, size: fi.Size()}
		if fi.Size() == 0 && last.first != st.seq+1 {
			return fmt.Errorf("audit: empty segment %s should be named for seq %d; refusing to append", last.name, st.seq+1)
		}
		// What a crashed process wrote may still be only in the page cache.
		if !l.opts.NoSync {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("audit: sync %s: %w", last.name, err)
			}
		}
	}
	l.seq, l.head = st.seq, st.head
	l.sinceCP = st.sinceCP
	l.lastCP = l.opts.Now()
	if st.cpFound {
		l.lastCP = st.lastCP.Time
	}
	l.dur.synced = st.seq

	unsigned := st.sinceCP
	if !st.cpFound && st.seq > 0 && uint64(st.sinceCP) < st.seq {
		unsigned = -1 // the last checkpoint is further back than we read
		l.sinceCP = max(l.sinceCP, 1)
	}
	if st.torn == nil && l.sinceCP == 0 {
		return nil // clean shutdown
	}
	rec := &Recovery{Torn: st.torn, Unsigned: unsigned}
	detail := map[string]string{"unsigned_records": strconv.Itoa(unsigned)}
	reason := "unclean shutdown: unsigned records signed on open"
	if st.torn != nil {
		rec.Quarantine = qpath
		sum := sha256.Sum256(st.tornData)
		detail["torn_file"] = st.torn.At.File
		detail["torn_offset"] = strconv.FormatInt(st.torn.At.Offset, 10)
		detail["torn_bytes"] = strconv.FormatInt(st.torn.Bytes, 10)
		detail["torn_sha256"] = hex.EncodeToString(sum[:])
		detail["quarantine"] = filepath.Join("quarantine", filepath.Base(qpath))
		reason = "unclean shutdown: torn last line moved to quarantine"
	}
	l.recovery = rec
	l.opts.Logger.Warn("audit: recovered after an unclean shutdown", "dir", l.dir, "reason", reason,
		"last_seq", st.seq, "unsigned", unsigned, "torn_bytes", len(st.tornData))
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.writeLocked(Record{Kind: KindRecovery, Reason: reason, Detail: detail}); err != nil {
		return err
	}
	if _, err := l.checkpointLocked("open"); err != nil {
		return err
	}
	if !l.opts.NoSync {
		if err := l.seg.f.Sync(); err != nil {
			return fmt.Errorf("audit: sync %s: %w", l.seg.name, err)
		}
		l.dur.synced = l.seq
	}
	return nil
}

// scanSegment checks one segment's records (hash, chain, checkpoint
// signatures) and folds them into st; it returns how many it found. A
// damaged or altered record is an error: the log must not grow from a
// tail nobody can vouch for.
func (l *Log) scanSegment(s segment, last bool, st *tailState) (int, error) {
	rd := newReader(os.DirFS(l.dir), []segment{s})
	defer rd.close()
	refuse := func(at Position, what string) error {
		return fmt.Errorf("audit: %s: %s; the log's tail is damaged or altered, refusing to append after it: "+
			"run `hearth audit verify --data-dir ...` and move %s aside", at, what, l.dir)
	}
	n := 0
	var seq uint64
	var head string
	sinceCP, cpFound := 0, false
	var lastCP Record
	for {
		e, ok, err := rd.next()
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		if e.torn {
			if !last {
				return 0, refuse(e.at, "incomplete line in a segment that is not the last")
			}
			st.torn = &TornTail{At: e.at, Bytes: int64(len(e.raw))}
			st.tornData = append([]byte(nil), e.raw...)
			break
		}
		r := &e.rec
		switch {
		case e.err != nil:
			return 0, refuse(e.at, e.err.Error())
		case r.Hash != r.ComputeHash():
			return 0, refuse(e.at, fmt.Sprintf("record seq %d does not match its hash", r.Seq))
		case n == 0 && r.Seq != s.first:
			return 0, refuse(e.at, fmt.Sprintf("first record is seq %d, the segment's name says %d", r.Seq, s.first))
		case n > 0 && (r.Seq != seq+1 || r.Prev != head):
			return 0, refuse(e.at, fmt.Sprintf("record seq %d does not follow seq %d", r.Seq, seq))
		case r.Kind == KindCheckpoint && !r.VerifySig(l.id.Public):
			return 0, refuse(e.at, fmt.Sprintf("checkpoint seq %d is not signed by this node (%s)", r.Seq, l.id.ID))
		}
		if r.Kind == KindCheckpoint {
			sinceCP, cpFound, lastCP = 0, true, *r
		} else {
			sinceCP++
		}
		seq, head = r.Seq, r.Hash
		n++
	}
	if n > 0 {
		st.seq, st.head, st.sinceCP, st.cpFound, st.lastCP = seq, head, sinceCP, cpFound, lastCP
	}
	return n, nil
}

func quarantineName(t *TornTail) string {
	return fmt.Sprintf("%s.%d.torn", t.At.File, t.At.Offset)
}

// quarantine moves the torn bytes out of the segment: first into a synced
// file under dir/quarantine, only then truncating the segment, so a crash
// in between loses nothing.
func (l *Log) quarantine(st *tailState) (string, error) {
	qdir := filepath.Join(l.dir, "quarantine")
	if err := os.MkdirAll(qdir, 0o700); err != nil {
		return "", fmt.Errorf("audit: quarantine: %w", err)
	}
	path := filepath.Join(qdir, quarantineName(st.torn))
	if old, err := os.ReadFile(path); err == nil && string(old) == string(st.tornData) {
		// A previous Open got this far and crashed before truncating.
	} else {
		if err == nil {
			path += "." + strconv.FormatInt(l.opts.Now().UnixNano(), 10)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", fmt.Errorf("audit: quarantine: %w", err)
		}
		_, err = f.Write(st.tornData)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("audit: quarantine %s: %w", path, err)
		}
		if err := syncDir(qdir); err != nil {
			return "", err
		}
		if err := syncDir(l.dir); err != nil {
			return "", err
		}
	}
	seg := filepath.Join(l.dir, st.torn.At.File)
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(st.torn.At.Offset); err != nil {
		return "", fmt.Errorf("audit: truncate torn tail of %s: %w", seg, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("audit: sync %s: %w", seg, err)
	}
	return path, nil
}
