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
	// forged: the first unsigned record whose MAC failed (or is missing
	// where one is due), and with it everything after it in the segment,
	// to be quarantined instead of signed.
	forged     *Forged
	forgedData []byte
	// anchorHash is the hash of the anchored record, when it lies in the
	// scanned segment.
	anchorHash string
}

// Forged is what Open found after the last checkpoint that fails its
// MAC check: records someone without the node key wrote (or damaged
// beyond the hash chain's view). They are moved aside, not signed.
type Forged struct {
	At       Position // where the first of them starts
	FirstSeq uint64   // its seq as written
	Records  int      // complete lines from At to the end of the segment
	Bytes    int64
	Reason   string
}

// scanTail reads the end of the log: the last segment holding a record is
// checked record by record (hashes, chain, signatures, and the MACs of the
// records after the last checkpoint).
func (l *Log) scanTail() (tailState, []segment, error) {
	var st tailState
	segs, err := listSegments(os.DirFS(l.dir))
	if err != nil {
		return st, nil, fmt.Errorf("audit: %s: %w", l.dir, err)
	}
	// Scan back from the last segment to one holding a record: rotation
	// creates a segment before writing to it, so the last may be empty.
	for i := len(segs) - 1; i >= 0; i-- {
		n, err := l.scanSegment(segs[i], i == len(segs)-1, &st)
		if err != nil {
			return st, nil, err
		}
		if n > 0 {
			if i < len(segs)-1 && segs[i+1].first != st.seq+1 {
				return st, nil, fmt.Errorf("audit: %s should start at seq %d: the log has been altered; refusing to append (run `hearth audit verify`)",
					segs[i+1].name, st.seq+1)
			}
			if st.forged != nil && st.forged.At.Offset == 0 && i > 0 {
				// The segment's first record is already forged: the head
				// is the previous segment's last record.
				var prev tailState
				if _, err := l.scanSegment(segs[i-1], false, &prev); err != nil {
					return st, nil, err
				}
				st.seq, st.head, st.sinceCP, st.cpFound, st.lastCP = prev.seq, prev.head, prev.sinceCP, prev.cpFound, prev.lastCP
				if st.anchorHash == "" {
					st.anchorHash = prev.anchorHash
				}
			}
			if st.forged != nil && i < len(segs)-1 {
				return st, nil, fmt.Errorf("audit: %s: unsigned records from seq %d fail their MAC check (%s), and later segments follow; "+
					"refusing to append: run `hearth audit verify` and move the audit directory aside", st.forged.At, st.forged.FirstSeq, st.forged.Reason)
			}
			break
		}
	}
	return st, segs, nil
}

// openLast opens the last segment for appending (creating the first one
// for a new log) and checks it is where the log's head says.
func (l *Log) openLast(segs []segment, st *tailState) (*segFile, error) {
	if len(segs) == 0 {
		return l.createSegment(1)
	}
	last := segs[len(segs)-1]
	path := filepath.Join(l.dir, last.name)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if fi.Size() == 0 && last.first != st.seq+1 {
		return nil, fmt.Errorf("audit: empty segment %s should be named for seq %d; refusing to append", last.name, st.seq+1)
	}
	f, err := l.opts.openFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return &segFile{f: f, name: last.name, size: fi.Size()}, nil
}

// recover reads the end of the log, repairs a torn tail, moves aside
// unsigned records that fail their MAC, opens the last segment for
// appending and, after an unclean shutdown, records the repair and signs
// the head.
func (l *Log) recover() error {
	if err := l.loadAnchor(); err != nil {
		return err
	}
	st, segs, err := l.scanTail()
	if err != nil {
		return err
	}
	if err := l.checkAnchor(&st, segs); err != nil {
		return err
	}
	qpath := ""
	switch {
	case st.forged != nil:
		// The quarantined range runs to the end of the segment, torn bytes
		// included.
		if err := l.quarantineForged(&st); err != nil {
			return err
		}
	case st.torn != nil:
		if qpath, err = l.quarantine(&st); err != nil {
			return err
		}
	}
	if l.seg, err = l.openLast(segs, &st); err != nil {
		return err
	}
	// What a crashed process wrote may still be only in the page cache.
	if len(segs) > 0 && !l.opts.NoSync {
		if err := l.seg.f.Sync(); err != nil {
			return fmt.Errorf("audit: sync %s: %w", l.seg.name, err)
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
	if l.replaced != nil {
		// A new log where the database anchored an older one: say so first.
		a := l.replaced
		l.mu.Lock()
		_, err := l.writeLocked(Record{Kind: KindRecovery, Reason: "new log: the log this node's database anchored is not here",
			Detail: map[string]string{"replaced_seq": strconv.FormatUint(a.Seq, 10), "replaced_hash": a.Hash, "replaced_time": formatTime(a.Time)}})
		if err == nil {
			_, err = l.checkpointLocked("open")
		}
		l.mu.Unlock()
		if err != nil {
			return err
		}
		l.opts.Logger.Warn("audit: starting a new log; the one the database anchored is gone", "dir", l.dir,
			"anchored_seq", a.Seq, "anchored_hash", a.Hash)
		return nil
	}
	if st.torn == nil && st.forged == nil && l.sinceCP == 0 {
		return nil // clean shutdown
	}
	rec := &Recovery{Torn: st.torn, Forged: st.forged, Unsigned: unsigned}
	detail := map[string]string{"unsigned_records": strconv.Itoa(unsigned)}
	reason := "unclean shutdown: unsigned records signed on open (their MACs verified)"
	switch {
	case st.forged != nil:
		rec.Quarantine = filepath.Join(l.dir, "quarantine", forgedName(st.forged))
		sum := sha256.Sum256(st.forgedData)
		detail["forged_file"] = st.forged.At.File
		detail["forged_offset"] = strconv.FormatInt(st.forged.At.Offset, 10)
		detail["forged_first_seq"] = strconv.FormatUint(st.forged.FirstSeq, 10)
		detail["forged_records"] = strconv.Itoa(st.forged.Records)
		detail["forged_bytes"] = strconv.FormatInt(st.forged.Bytes, 10)
		detail["forged_sha256"] = hex.EncodeToString(sum[:])
		detail["forged_reason"] = st.forged.Reason
		detail["quarantine"] = filepath.Join("quarantine", forgedName(st.forged))
		reason = "unsigned records failed their MAC check: moved to quarantine, not signed"
		l.opts.Logger.Error("audit: records after the last checkpoint fail their MAC check (written without the node key); "+
			"moved to quarantine, not signed", "dir", l.dir, "at", st.forged.At.String(), "first_seq", st.forged.FirstSeq,
			"records", st.forged.Records, "reason", st.forged.Reason, "quarantine", rec.Quarantine)
	case st.torn != nil:
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
	// MACs: a record without one is accepted only while no record before
	// it had one (a log written before MACs existed).
	macSeen := false
	var forged *Forged
	var good struct { // the head before the first forged record
		seq     uint64
		head    string
		sinceCP int
	}
	anchor := l.anchorAt.Seq
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
			// The signature vouches for everything before it.
			sinceCP, cpFound, lastCP = 0, true, *r
			forged = nil
		} else {
			switch why := l.tailMACProblem(r, macSeen); {
			case forged != nil:
				forged.Records++ // chained on a forged record: moved aside with it
			case why != "":
				forged = &Forged{At: e.at, FirstSeq: r.Seq, Records: 1, Reason: why}
				good.seq, good.head, good.sinceCP = seq, head, sinceCP
			}
			sinceCP++
		}
		if r.Mac != "" {
			macSeen = true
		}
		if r.Seq == anchor {
			st.anchorHash = r.Hash
		}
		seq, head = r.Seq, r.Hash
		n++
	}
	if forged != nil {
		st.forged = forged
		st.torn, st.tornData = nil, nil
		seq, head, sinceCP = good.seq, good.head, good.sinceCP
	}
	if n > 0 {
		st.seq, st.head, st.sinceCP, st.cpFound, st.lastCP = seq, head, sinceCP, cpFound, lastCP
	}
	return n, nil
}

// tailMACProblem says why an unsigned record may not be signed on open,
// or "" if its MAC holds (or it predates MACs).
func (l *Log) tailMACProblem(r *Record, macSeen bool) string {
	switch {
	case r.Mac == "" && macSeen:
		return "no MAC, though the records before it carry one"
	case r.Mac == "":
		return "" // written before MACs existed; the next checkpoint signs it as before
	case !r.CheckMAC(l.mac):
		return "MAC does not verify with this node's key"
	}
	return ""
}

func forgedName(f *Forged) string {
	return fmt.Sprintf("%s.%d.forged", f.At.File, f.At.Offset)
}

// quarantineForged moves the bytes from the first forged record to the
// end of its segment into quarantine/, synced, and only then truncates
// the segment.
func (l *Log) quarantineForged(st *tailState) error {
	seg := filepath.Join(l.dir, st.forged.At.File)
	data, err := os.ReadFile(seg)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if int64(len(data)) < st.forged.At.Offset {
		return fmt.Errorf("audit: %s shrank while being recovered", seg)
	}
	st.forgedData = data[st.forged.At.Offset:]
	st.forged.Bytes = int64(len(st.forgedData))
	return l.moveAside(st.forged.At.File, st.forged.At.Offset, st.forgedData, forgedName(st.forged))
}

func quarantineName(t *TornTail) string {
	return fmt.Sprintf("%s.%d.torn", t.At.File, t.At.Offset)
}

// quarantine moves the torn bytes out of the segment.
func (l *Log) quarantine(st *tailState) (string, error) {
	name := quarantineName(st.torn)
	if err := l.moveAside(st.torn.At.File, st.torn.At.Offset, st.tornData, name); err != nil {
		return "", err
	}
	return l.lastMoved, nil
}

// moveAside copies data (the end of segment file from offset off) into a
// synced file under dir/quarantine, only then truncating the segment, so a
// crash in between loses nothing. The path it used is left in l.lastMoved.
func (l *Log) moveAside(file string, off int64, data []byte, name string) error {
	qdir := filepath.Join(l.dir, "quarantine")
	if err := os.MkdirAll(qdir, 0o700); err != nil {
		return fmt.Errorf("audit: quarantine: %w", err)
	}
	path := filepath.Join(qdir, name)
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		// A previous Open got this far and crashed before truncating.
	} else {
		if err == nil {
			path += "." + strconv.FormatInt(l.opts.Now().UnixNano(), 10)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("audit: quarantine: %w", err)
		}
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("audit: quarantine %s: %w", path, err)
		}
		if err := syncDir(qdir); err != nil {
			return err
		}
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	l.lastMoved = path
	seg := filepath.Join(l.dir, file)
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("audit: truncate %s at %d: %w", seg, off, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("audit: sync %s: %w", seg, err)
	}
	return nil
}
