package tokenizer

// encodeSPM tokenizes one text fragment the way llama.cpp's
// llm_tokenizer_spm_session does: the text (spaces already escaped) is split
// into UTF-8 characters, and the adjacent pair whose concatenation is the
// highest-scoring token is merged until no pair is a token. Leftover pieces
// that are not tokens are written as byte tokens.
func (t *Tokenizer) encodeSPM(text string, out []int32, sc *scratch) []int32 {
	syms := sc.syms[:0]
	for off := 0; off < len(text); {
		n := min(utf8Len(text[off]), len(text)-off)
		i := int32(len(syms))
		syms = append(syms, symbol{start: int32(off), end: int32(off + n), prev: i - 1, next: i + 1})
		off += n
	}
	if len(syms) == 0 {
		return out
	}
	syms[len(syms)-1].next = -1

	q := sc.queue[:0]
	try := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		s := text[syms[l].start:syms[r].end]
		id, ok := t.ids[s]
		if !ok {
			return
		}
		q.push(bigram{left: l, right: r, prio: -float64(t.scores[id]), a: int32(len(s)), id: id})
	}
	for i := 1; i < len(syms); i++ {
		try(int32(i-1), int32(i))
	}
	for len(q) > 0 {
		bg := q.pop()
		l, r := &syms[bg.left], &syms[bg.right]
		// Skip pairs that went stale because one side was merged since.
		if l.dead || r.dead || (l.end-l.start)+(r.end-r.start) != bg.a {
			continue
		}
		l.end = r.end
		r.dead = true
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = bg.left
		}
		try(l.prev, bg.left)
		try(bg.left, l.next)
	}

	for i := int32(0); i != -1; i = syms[i].next {
		s := text[syms[i].start:syms[i].end]
		if id, ok := t.ids[s]; ok {
			out = append(out, id)
			continue
		}
		out = t.byteFallback(s, out)
	}
	sc.syms, sc.queue = syms, q
	return out
}

// byteFallback writes s as byte tokens, or as one unknown token if the
// vocabulary lacks a byte token it needs.
func (t *Tokenizer) byteFallback(s string, out []int32) []int32 {
	for i := 0; i < len(s); i++ {
		if t.byteTok[s[i]] == NoToken {
			if t.unk != NoToken {
				out = append(out, t.unk)
			}
			return out
		}
	}
	for i := 0; i < len(s); i++ {
		out = append(out, t.byteTok[s[i]])
	}
	return out
}
