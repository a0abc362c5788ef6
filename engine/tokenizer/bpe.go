package tokenizer

import "unicode/utf8"

// encodeBPE tokenizes one text fragment with byte-level BPE: the
// pre-tokenizer cuts it into words, each word's UTF-8 bytes become their
// byte tokens, and the adjacent pair with the lowest merge rank is merged
// until no pair has a rank (llm_tokenizer_bpe_session in llama.cpp).
// It stops after the word that takes out past limit (> 0).
func (t *Tokenizer) encodeBPE(text string, out []int32, sc *scratch, limit int) []int32 {
	sc.runes = decodeRunes(text, sc.runes)
	sc.segs = t.pretok.split(sc.runes, sc.segs, sc.segs2)
	start := 0
	for _, n := range sc.segs {
		word := sc.runes[start : start+n]
		start += n
		buf := sc.word[:0]
		for _, r := range word {
			buf = utf8.AppendRune(buf, r)
		}
		sc.word = buf
		out = t.encodeWord(buf, out, sc)
		if limit > 0 && len(out) > limit {
			break
		}
	}
	return out
}

// encodeWord merges the bytes of one word.
func (t *Tokenizer) encodeWord(word []byte, out []int32, sc *scratch) []int32 {
	if len(word) == 0 {
		return out
	}
	if t.ignoreMerges {
		enc := sc.enc[:0]
		for _, b := range word {
			enc = append(enc, byteChar[b]...)
		}
		sc.enc = enc
		if id, ok := t.ids[string(enc)]; ok {
			return append(out, id)
		}
	}
	if len(word) == 1 {
		return t.emitBPE(t.byteTok[word[0]], out)
	}

	syms := sc.syms[:0]
	for i, b := range word {
		syms = append(syms, symbol{prev: int32(i - 1), next: int32(i + 1), id: t.byteTok[b]})
	}
	syms[len(syms)-1].next = -1
	q := sc.queue[:0]
	try := func(l, r int32) {
		if l < 0 || r < 0 {
			return
		}
		a, b := syms[l].id, syms[r].id
		if a == NoToken || b == NoToken {
			return
		}
		m, ok := t.merges[mergeKey(a, b)]
		if !ok {
			return
		}
		q.push(bigram{left: l, right: r, prio: float64(m.rank), a: a, b: b, id: m.id})
	}
	for i := 1; i < len(syms); i++ {
		try(int32(i-1), int32(i))
	}
	for len(q) > 0 {
		bg := q.pop()
		l, r := &syms[bg.left], &syms[bg.right]
		if l.dead || r.dead || l.next != bg.right || l.id != bg.a || r.id != bg.b {
			continue // stale: one side changed since the pair was queued
		}
		l.id = bg.id
		r.dead = true
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = bg.left
		}
		try(l.prev, bg.left)
		try(bg.left, l.next)
	}
	for i := int32(0); i != -1; i = syms[i].next {
		out = t.emitBPE(syms[i].id, out)
	}
	sc.syms, sc.queue = syms, q
	return out
}

// emitBPE writes a finished symbol. A byte whose character is not in the
// vocabulary (only possible with a malformed vocabulary) becomes the unknown
// token if there is one; llama.cpp drops it.
func (t *Tokenizer) emitBPE(id int32, out []int32) []int32 {
	if id != NoToken {
		return append(out, id)
	}
	if t.unk != NoToken {
		return append(out, t.unk)
	}
	return out
}
