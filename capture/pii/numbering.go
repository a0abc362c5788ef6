package pii

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"strconv"
	"strings"
)

// Numbering is what a Session handed out, without the values: the last
// number used per type, and per value a keyed digest mapped to its
// placeholder. It lets a later text of the same interaction (feedback that
// comes an hour after the answer) continue the interaction's numbering: a
// value seen before gets its placeholder back, a new value the next number.
// The digests are HMAC-SHA256 under a key the caller keeps apart from the
// stored Numbering, so a stored Numbering cannot be searched for a guessed
// phone number without that key.
type Numbering struct {
	Counts  map[string]int    `json:"counts,omitempty"`
	Digests map[string]string `json:"digests,omitempty"`
}

// ResumeSession continues n, whose digests were made under key.
func (s *Scrubber) ResumeSession(key []byte, n Numbering) *Session {
	ss := s.NewSession()
	ss.key = key
	ss.digests = maps.Clone(n.Digests)
	for t, c := range n.Counts {
		ss.counts[t] = c
	}
	return ss
}

// Numbering exports the session's numbering with its values as digests
// under key: what ResumeSession(key, ...) takes back.
func (ss *Session) Numbering(key []byte) Numbering {
	n := Numbering{Counts: maps.Clone(ss.counts), Digests: map[string]string{}}
	if len(n.Counts) == 0 {
		n.Counts = nil
	}
	if hmac.Equal(key, ss.key) {
		maps.Copy(n.Digests, ss.digests)
	}
	for k, ph := range ss.seen {
		n.Digests[digest(key, k)] = ph
	}
	if len(n.Digests) == 0 {
		n.Digests = nil
	}
	return n
}

func digest(key []byte, k string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(k))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// lookup finds the placeholder of a value key seen in this session or in
// the numbering it resumed.
func (ss *Session) lookup(k string) (string, bool) {
	if ph, ok := ss.seen[k]; ok {
		return ph, true
	}
	if len(ss.digests) > 0 {
		if ph, ok := ss.digests[digest(ss.key, k)]; ok {
			ss.seen[k] = ph
			return ph, true
		}
	}
	return "", false
}

// Reserve marks the placeholders already in text (<PHONE_2>) as used, so
// that the session never hands their numbers to other values: a record
// scrubbed on another node, or before numberings were kept, is continued
// without a collision.
func (ss *Session) Reserve(text string) {
	eachPlaceholder(text, func(_, _ int, typ string, n int) {
		if n > ss.counts[typ] {
			ss.counts[typ] = n
		}
	})
}

// Rebase renumbers placeholders that another session wrote into text (a
// correction scrubbed on a node that did not know the interaction), giving
// each distinct one this session's next number, so it cannot be read as a
// value of this session's. Call Reserve on this session's own texts first.
func (ss *Session) Rebase(text string) string {
	var b strings.Builder
	last := 0
	eachPlaceholder(text, func(s, e int, typ string, _ int) {
		k := "\x01foreign\x00" + text[s:e]
		ph, ok := ss.seen[k]
		if !ok {
			ss.counts[typ]++
			ph = "<" + typ + "_" + strconv.Itoa(ss.counts[typ]) + ">"
			ss.seen[k] = ph
		}
		b.WriteString(text[last:s])
		b.WriteString(ph)
		last = e
	})
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

var knownType = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range AllTypes() {
		m[t] = true
	}
	return m
}()

// eachPlaceholder calls fn for every <TYPE_N> of a known type in text.
func eachPlaceholder(text string, fn func(s, e int, typ string, n int)) {
	from := 0
	for {
		k := strings.IndexByte(text[from:], '<')
		if k < 0 {
			return
		}
		s := from + k
		from = s + 1
		e := strings.IndexByte(text[s:min(len(text), s+40)], '>')
		if e < 0 {
			continue
		}
		body := text[s+1 : s+e]
		u := strings.LastIndexByte(body, '_')
		if u <= 0 || !knownType[body[:u]] || u == len(body)-1 || len(body)-u > 7 || !allDigits(body[u+1:]) || body[u+1] == '0' {
			continue
		}
		n, _ := strconv.Atoi(body[u+1:])
		fn(s, s+e+1, body[:u], n)
		from = s + e + 1
	}
}
