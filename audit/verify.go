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
	// Truncated: the log ends before (or differs at) the head anchored
	// outside it (VerifyOptions.Anchor): records were removed from its end.
	Truncated ProblemKind = "truncated"
	// BadMAC: a record's MAC does not verify with the node's MAC key, or
	// it has none though records before it do.
	BadMAC ProblemKind = "bad-mac"
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
	case Truncated:
		if p.At.File == "" {
			return fmt.Sprintf("records seq %d..%d missing from the end of the log: %s", p.Seq, p.ToSeq, p.Detail)
		}
		return fmt.Sprintf("record seq %d at %s is not the anchored one: %s", p.Seq, p.At, p.Detail)
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
	// Anchor is the head anchored outside the log that was compared
	// (VerifyOptions.Anchor); nil if none was given.
	Anchor *Head
	// MACsChecked: records whose MAC verified (VerifyOptions.MACKey);
	// NoMAC: records without a MAC, written before MACs existed.
	MACsChecked, NoMAC int
	// Gaps are the log's own records of the times it could not record
	// (audit_gap), and Replaced the anchor a new log said it replaced.
	Gaps     []Record
	Replaced []Record
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
	return VerifyWith(dir, pub, VerifyOptions{From: from})
}

// VerifyOptions add checks that need more than the public key.
type VerifyOptions struct {
	From uint64 // verify from this seq (0 or 1: from the start)
	// Anchor is the head the node's database anchored (DBAnchor): the log
	// must reach it, with the same hash there, or records were removed
	// from its end (Truncated).
	Anchor *Head
	// MACKey (MACKey(node identity)) checks every record's MAC; without
	// it MACs are not checked, only that none goes missing.
	MACKey []byte
}

// VerifyWith is Verify with the checks o asks for.
func VerifyWith(dir string, pub ed25519.PublicKey, o VerifyOptions) (*Report, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return verifyFS(os.DirFS(dir), pub, o)
}

// lookahead bounds how many records after a problem are read to tell an
// insertion from a reordering or a deletion.
const lookahead = 1 << 18

func verifyFS(fsys fs.FS, pub ed25519.PublicKey, o VerifyOptions) (*Report, error) {
	from := o.From
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
	v := &verifier{rd: rd, pub: pub, want: max(from, 1), haveHead: from <= 1, mac: o.MACKey, anchor: o.Anchor}
	v.rep.Segments = len(segs) - start
	v.rep.Anchor = o.Anchor
	if err := v.run(); err != nil {
		return nil, err
	}
	v.finish()
	rep := &v.rep
	if a := o.Anchor; a != nil && rep.Problem == nil && a.Seq > rep.LastSeq {
		last := fmt.Sprintf("ends at seq %d", rep.LastSeq)
		if rep.Records == 0 {
			last = "holds no record"
		}
		rep.Problem = &Problem{Kind: Truncated, Seq: rep.LastSeq + 1, ToSeq: a.Seq,
			Detail: fmt.Sprintf("the node's database anchored the log's head at seq %d (hash %.16s…, %s), but the log %s: "+
				"records were removed from its end (a segment emptied or the log cut back to an older checkpoint)",
				a.Seq, a.Hash, formatTime(a.Time), last)}
		if rep.Torn != nil {
			rep.Problem.Detail += fmt.Sprintf("; %d bytes of a partial record follow", rep.Torn.Bytes)
		}
	}
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
	mac      []byte // MAC key, if MACs are checked
	macSeen  bool   // a record with a MAC was accepted
	anchor   *Head
	// the first MAC problem, and the report as it stood before it
	macProblem *Problem
	macRep     Report
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
		switch {
		case r.Mac == "" && v.macSeen:
			v.macFail(&Problem{Kind: BadMAC, Seq: r.Seq, At: e.at, Detail: "the record has no MAC, though the records before it carry one"})
		case r.Mac == "":
			v.rep.NoMAC++
		case v.mac != nil && !r.CheckMAC(v.mac):
			v.macFail(&Problem{Kind: BadMAC, Seq: r.Seq, At: e.at,
				Detail: "its MAC does not verify with the node's key: the record was written by someone without it"})
		case v.mac != nil:
			v.rep.MACsChecked++
		}
		if a := v.anchor; a != nil && r.Seq == a.Seq && r.Hash != a.Hash {
			v.fail(&Problem{Kind: Truncated, Seq: r.Seq, At: e.at,
				Detail: fmt.Sprintf("the node's database anchored hash %.16s… (%s) for it, the log has %.16s…: the log was cut back and rewritten from here",
					a.Hash, formatTime(a.Time), r.Hash)})
			return nil
		}
		switch r.Kind {
		case KindGap:
			v.rep.Gaps = append(v.rep.Gaps, *r)
		case KindRecovery:
			if r.Detail["replaced_seq"] != "" {
				v.rep.Replaced = append(v.rep.Replaced, *r)
			}
		}
		if r.Mac != "" {
			v.macSeen = true
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

// macFail notes the first MAC problem and goes on: a record out of place
// further on explains more (an inserted record, say) and is reported
// instead; finish reports the MAC problem only if nothing else shows.
func (v *verifier) macFail(p *Problem) {
	if v.macProblem == nil {
		v.macProblem = p
		v.macRep = v.rep
	}
}

// finish settles the report once the log has been read.
func (v *verifier) finish() {
	if v.rep.Problem == nil && v.macProblem != nil {
		gaps, replaced := v.rep.Gaps, v.rep.Replaced
		v.rep = v.macRep
		v.rep.Gaps, v.rep.Replaced = gaps, replaced
		v.rep.Problem = v.macProblem
	}
}
