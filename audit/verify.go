package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ProblemKind says what kind of tampering or damage Verify found.
type ProblemKind string

const (
	// Malformed: a line is not a record at all (or is incomplete in the
	// middle of the log).
	Malformed ProblemKind = "malformed"
	// Modified: a record's bytes do not match its hash: edited in place.
	Modified ProblemKind = "modified"
	// ChainBreak: a record is self-consistent but does not link to the one
	// before (prev mismatch): one of the two was replaced or edited with a
	// recomputed hash.
	ChainBreak ProblemKind = "chain-break"
	// Deleted: records Seq..ToSeq are missing.
	Deleted ProblemKind = "deleted"
	// Inserted: a record that does not belong in the chain (a duplicate seq,
	// or one linking to no record).
	Inserted ProblemKind = "inserted"
	// Reordered: a genuine record stands where another seq belongs.
	Reordered ProblemKind = "reordered"
	// BadSignature: a checkpoint's signature does not verify with the
	// node's public key: the records it covers were rewritten (or the key
	// is not this log's).
	BadSignature ProblemKind = "bad-signature"
)

// Problem is the first tampering or damage Verify found, and where.
type Problem struct {
	Kind   ProblemKind
	Seq    uint64 // the record concerned; for Deleted the first missing seq
	ToSeq  uint64 // Deleted: the last missing seq
	At     Position
	Detail string
}

func (p *Problem) Error() string {
	what := fmt.Sprintf("record seq %d", p.Seq)
	switch p.Kind {
	case Deleted:
		what = fmt.Sprintf("records seq %d..%d deleted", p.Seq, p.ToSeq)
		if p.Seq == p.ToSeq {
			what = fmt.Sprintf("record seq %d deleted", p.Seq)
		}
		return fmt.Sprintf("%s: missing before %s: %s", what, p.At, p.Detail)
	case Malformed:
		return fmt.Sprintf("malformed line at %s: %s", p.At, p.Detail)
	}
	return fmt.Sprintf("%s %s at %s: %s", what, p.Kind, p.At, p.Detail)
}

// TornTail is an incomplete last line: a write interrupted by a crash (or a
// truncation). The records before it verify; the next Open quarantines the
// bytes and records that it did.
type TornTail struct {
	At    Position // where the partial line starts
	Bytes int64
}

// Report is the outcome of Verify.
type Report struct {
	Segments        int
	Records         int    // records checked and found intact and in order
	FirstSeq        uint64 // first and last of them
	LastSeq         uint64
	Head            string   // hash of record LastSeq: the chain head
	HeadAt          Position // where record LastSeq is
	Checkpoints     int      // checkpoint signatures verified
	LastCheckpoint  uint64   // seq of the last of them (0: none)
	Unsigned        int      // records after the last checkpoint, covered by no signature yet
	Problem         *Problem // first tampering found; verification stops there
	Torn            *TornTail
	LookaheadCapped bool // the classification of Problem looked at a bounded window only
}

// ErrUnsigned is wrapped by Report.Err when records after the last
// checkpoint are not signed: the writer is still running, crashed and has
// not restarted, or records after the last checkpoint were removed or added.
var ErrUnsigned = errors.New("records after the last checkpoint are not signed")

// ErrTornTail is wrapped by Report.Err when the log ends in a partial line.
var ErrTornTail = errors.New("torn tail")

// Err summarises the report as an error: nil when every record verified,
// the last is covered by a checkpoint signature and there is no torn tail.
func (r *Report) Err() error {
	switch {
	case r.Problem != nil:
		return fmt.Errorf("audit: tampering found after %d intact records: %w", r.Records, r.Problem)
	case r.Torn != nil:
		return fmt.Errorf("audit: verified up to seq %d (%s); then %w: %d bytes of a partial record at %s "+
			"(a write interrupted by a crash or a truncation; the node quarantines it on its next start)",
			r.LastSeq, r.HeadAt, ErrTornTail, r.Torn.Bytes, r.Torn.At)
	case r.Unsigned > 0:
		return fmt.Errorf("audit: %d records (seq %d..%d) after the last checkpoint: %w", r.Unsigned,
			r.LastSeq-uint64(r.Unsigned)+1, r.LastSeq, ErrUnsigned)
	}
	return nil
}

// Verify checks the log in dir from record seq from (0 or 1: from the
// start) against the node's public key: every line is a record in
// canonical form whose hash matches, seqs run without gap, each record's
// prev is the hash of the one before, every checkpoint's signature holds.
// It stops at the first problem and says exactly where it is. The error is
// for I/O failures only; what is wrong with the log is in the Report
// (see Report.Err).
//
// Verification from seq N > 1 takes the link into record N on trust when
// record N-1 is not in the segment where N starts. A log being appended to
// may show a torn tail or unsigned records at its end.
func Verify(dir string, pub ed25519.PublicKey, from uint64) (*Report, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return verifyFS(os.DirFS(dir), pub, from)
}

// lookahead bounds how many records after a problem are read to tell an
// insertion from a reordering or a deletion.
const lookahead = 1 << 18

func verifyFS(fsys fs.FS, pub ed25519.PublicKey, from uint64) (*Report, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("audit: verify: public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	segs, err := listSegments(fsys)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("audit: no audit log here (no %s*%s files)", segPrefix, segSuffix)
	}
	start := 0
	for i, s := range segs {
		if s.first <= from {
			start = i
		}
	}
	rd := newReader(fsys, segs[start:])
	defer rd.close()
	v := &verifier{rd: rd, pub: pub, want: max(from, 1), haveHead: from <= 1}
	v.rep.Segments = len(segs) - start
	if err := v.run(); err != nil {
		return nil, err
	}
	rep := &v.rep
	if rep.Problem == nil && rep.Records > 0 {
		if rep.LastCheckpoint >= rep.FirstSeq {
			rep.Unsigned = int(rep.LastSeq - rep.LastCheckpoint)
		} else {
			rep.Unsigned = rep.Records
		}
	}
	return rep, nil
}

type verifier struct {
	rd       *reader
	pub      ed25519.PublicKey
	rep      Report
	want     uint64 // seq of the next record
	head     string // hash of record want-1
	haveHead bool   // head is known (false when starting mid-log)
	last     *entry // last accepted record
}

func (v *verifier) run() error {
	for {
		e, ok, err := v.rd.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if e.torn {
			if e.lastSeg {
				v.rep.Torn = &TornTail{At: e.at, Bytes: int64(len(e.raw))}
				return nil
			}
			v.fail(&Problem{Kind: Malformed, Seq: v.want, At: e.at,
				Detail: fmt.Sprintf("incomplete line (%d bytes, no newline) at the end of a segment that is not the last", len(e.raw))})
			return nil
		}
		if e.err != nil && !errors.Is(e.err, errNotCanonical) {
			v.fail(&Problem{Kind: Malformed, Seq: v.want, At: e.at, Detail: fmt.Sprintf("%v (where seq %d was expected)", e.err, v.want)})
			return nil
		}
		r := &e.rec
		if v.last == nil && r.Seq < v.want && v.want > 1 {
			// Before the range to verify (from > 1): only remember the link
			// into it. From the start nothing is skipped, so a record whose
			// seq was damaged to 0 is reported, not passed over.
			if r.Seq == v.want-1 && e.err == nil && r.Hash == r.ComputeHash() {
				v.head, v.haveHead = r.Hash, true
			}
			continue
		}
		if e.err != nil {
			v.fail(&Problem{Kind: Modified, Seq: r.Seq, At: e.at, Detail: e.err.Error()})
			return nil
		}
		if h := r.ComputeHash(); r.Hash != h {
			v.fail(&Problem{Kind: Modified, Seq: r.Seq, At: e.at,
				Detail: fmt.Sprintf("hash mismatch: the record says %.16s…, its content hashes to %.16s…", r.Hash, h)})
			return nil
		}
		if r.Seq != v.want || (v.haveHead && r.Prev != v.head) {
			p, err := v.classify(e)
			if err != nil {
				return err
			}
			v.fail(p)
			return nil
		}
		if r.Kind == KindCheckpoint {
			if !r.VerifySig(v.pub) {
				after := "the start of the log"
				if v.rep.LastCheckpoint > 0 {
					after = fmt.Sprintf("checkpoint seq %d", v.rep.LastCheckpoint)
				}
				v.fail(&Problem{Kind: BadSignature, Seq: r.Seq, At: e.at,
					Detail: fmt.Sprintf("checkpoint signature does not verify with the node's public key: records after %s were rewritten, or the key is not this log's", after)})
				return nil
			}
			v.rep.Checkpoints++
			v.rep.LastCheckpoint = r.Seq
		}
		if v.rep.Records == 0 {
			v.rep.FirstSeq = r.Seq
		}
		v.rep.Records++
		v.rep.LastSeq, v.rep.Head, v.rep.HeadAt = r.Seq, r.Hash, e.at
		v.want, v.head, v.haveHead = r.Seq+1, r.Hash, true
		v.last = &e
	}
}

func (v *verifier) fail(p *Problem) { v.rep.Problem = p }
