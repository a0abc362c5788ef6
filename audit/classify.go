package audit

import "fmt"

// light is what classification keeps of a record read ahead.
type light struct {
	seq        uint64
	prev, hash string
	validCP    bool // a checkpoint whose signature verifies
	at         Position
}

// classify explains a record that does not continue the chain (wrong seq,
// or prev not the hash of the record before). The records after it are
// read (up to lookahead) to tell the cases apart:
//
//   - a seq seen twice: one of the two is inserted; the genuine one is the
//     one a later record links to (or a validly signed checkpoint);
//   - a later seq where seq want belongs, with seq want further on: the
//     record is out of place (reordered) if its predecessor exists, and
//     inserted if it links to nothing;
//   - a later seq and seq want nowhere: records were deleted;
//   - the right seq but the wrong prev: the record before was replaced (if
//     the chain goes on from this one) or this one was edited with a
//     recomputed hash.
func (v *verifier) classify(e entry) (*Problem, error) {
	r := &e.rec
	w := []light{v.lightOf(&e)}
	for len(w) < lookahead {
		n, ok, err := v.rd.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if n.torn || n.err != nil || n.rec.Hash != n.rec.ComputeHash() {
			continue // damaged lines say nothing about order
		}
		w = append(w, v.lightOf(&n))
	}
	if len(w) == lookahead {
		v.rep.LookaheadCapped = true
	}
	successor := make(map[string]bool, len(w)) // hashes some record in w links to
	bySeq := make(map[uint64][]int, len(w))
	for i, l := range w {
		successor[l.prev] = true
		bySeq[l.seq] = append(bySeq[l.seq], i)
	}
	genuine := func(l light) bool { return successor[l.hash] || l.validCP }
	me := w[0]

	// A seq seen twice.
	var other *light
	switch {
	case r.Seq < v.want-1 || (r.Seq < v.want && v.last == nil):
		return &Problem{Kind: Inserted, Seq: r.Seq, At: e.at,
			Detail: fmt.Sprintf("seq %d already appeared earlier in the log (seq %d was expected here)", r.Seq, v.want)}, nil
	case r.Seq == v.want-1:
		l := v.lightOf(v.last)
		other = &l
	case len(bySeq[r.Seq]) > 1:
		other = &w[bySeq[r.Seq][1]]
	}
	if other != nil {
		if other.hash == me.hash {
			return &Problem{Kind: Inserted, Seq: r.Seq, At: laterOf(me, *other),
				Detail: fmt.Sprintf("an exact copy of the record at %s", earlierOf(me, *other))}, nil
		}
		forged, real := me, *other
		if genuine(me) && !genuine(*other) {
			forged, real = *other, me
		}
		detail := fmt.Sprintf("seq %d appears twice; the chain continues from the one at %s", r.Seq, real.at)
		if genuine(me) == genuine(*other) {
			detail = fmt.Sprintf("seq %d appears twice (also at %s); no later record tells which is genuine", r.Seq, other.at)
		}
		if v.last != nil && forged.at == v.last.at {
			// The inserted record was counted as verified: take it back.
			v.rep.Records--
			v.rep.LastSeq--
		}
		return &Problem{Kind: Inserted, Seq: r.Seq, At: forged.at, Detail: detail}, nil
	}

	if r.Seq > v.want {
		if idx, ok := bySeq[v.want]; ok {
			found := w[idx[0]]
			if v.linked(me, w) {
				return &Problem{Kind: Reordered, Seq: r.Seq, At: e.at,
					Detail: fmt.Sprintf("seq %d stands where seq %d belongs; seq %d is at %s", r.Seq, v.want, v.want, found.at)}, nil
			}
			return &Problem{Kind: Inserted, Seq: r.Seq, At: e.at,
				Detail: fmt.Sprintf("seq %d links to no record (seq %d, which belongs here, follows at %s)", r.Seq, v.want, found.at)}, nil
		}
		to := r.Seq - 1
		for _, l := range w {
			if l.seq >= v.want && l.seq <= to {
				to = l.seq - 1
			}
		}
		return &Problem{Kind: Deleted, Seq: v.want, ToSeq: to, At: e.at,
			Detail: fmt.Sprintf("the next record present is seq %d", r.Seq)}, nil
	}

	// The right seq, the wrong prev.
	if v.last == nil {
		return &Problem{Kind: ChainBreak, Seq: r.Seq, At: e.at,
			Detail: fmt.Sprintf("the first record of the log must have an empty prev, it has %.16s…", r.Prev)}, nil
	}
	if successor[me.hash] || me.validCP {
		return &Problem{Kind: ChainBreak, Seq: v.last.rec.Seq, At: v.last.at,
			Detail: fmt.Sprintf("record seq %d (at %s) does not link to it, while the chain goes on after: "+
				"seq %d was replaced, or edited and its hash recomputed", r.Seq, e.at, v.last.rec.Seq)}, nil
	}
	return &Problem{Kind: ChainBreak, Seq: r.Seq, At: e.at,
		Detail: fmt.Sprintf("prev %.16s… is not the hash of seq %d (%.16s…): the record was edited and its hash recomputed, or records were removed",
			r.Prev, v.last.rec.Seq, v.head)}, nil
}

// linked reports whether a record's predecessor exists: the last verified
// record or one read ahead with seq one less and the hash it names.
func (v *verifier) linked(l light, w []light) bool {
	if v.haveHead && l.seq == v.want && l.prev == v.head {
		return true
	}
	if v.last != nil && l.seq == v.last.rec.Seq+1 && l.prev == v.last.rec.Hash {
		return true
	}
	for _, o := range w {
		if o.seq+1 == l.seq && o.hash == l.prev {
			return true
		}
	}
	return false
}

func (v *verifier) lightOf(e *entry) light {
	l := light{seq: e.rec.Seq, prev: e.rec.Prev, hash: e.rec.Hash, at: e.at}
	if e.rec.Kind == KindCheckpoint {
		l.validCP = e.rec.VerifySig(v.pub)
	}
	return l
}

func before(a, b Position) bool {
	if a.File != b.File {
		return a.File < b.File
	}
	return a.Offset < b.Offset
}

func earlierOf(a, b light) Position {
	if before(a.at, b.at) {
		return a.at
	}
	return b.at
}

func laterOf(a, b light) Position {
	if before(a.at, b.at) {
		return b.at
	}
	return a.at
}
