package pii

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Config selects what a Scrubber looks for.
type Config struct {
	// Packs are the national-id packs to enable ("IN", "BR", "ZA", "KE", "NG",
	// "US", "GB"); nil or empty enables all of them.
	Packs []string
	// Types, when not empty, restricts detection to these types (TypeEmail,
	// TypeAadhaar, ...). A national-id type needs its pack enabled.
	Types []string
}

// Scrubber detects and replaces identifiers. It is immutable after New and
// safe for concurrent use.
type Scrubber struct {
	enabled map[string]bool
}

// New checks cfg and returns a Scrubber.
func New(cfg Config) (*Scrubber, error) {
	packs := cfg.Packs
	if len(packs) == 0 {
		packs = Packs()
	}
	avail := map[string]bool{}
	for _, t := range baseTypes {
		avail[t] = true
	}
	for _, p := range packs {
		ts, ok := packTypes[strings.ToUpper(strings.TrimSpace(p))]
		if !ok {
			return nil, fmt.Errorf("pii: unknown national-id pack %q (known: %s)", p, strings.Join(Packs(), ", "))
		}
		for _, t := range ts {
			avail[t] = true
		}
	}
	if len(cfg.Types) == 0 {
		return &Scrubber{enabled: avail}, nil
	}
	known := map[string]bool{}
	for _, t := range AllTypes() {
		known[t] = true
	}
	enabled := map[string]bool{}
	for _, t := range cfg.Types {
		t = strings.ToUpper(strings.TrimSpace(t))
		if !known[t] {
			return nil, fmt.Errorf("pii: unknown type %q", t)
		}
		if !avail[t] {
			return nil, fmt.Errorf("pii: type %s needs its national-id pack enabled", t)
		}
		enabled[t] = true
	}
	return &Scrubber{enabled: enabled}, nil
}

// Scrub replaces the identifiers in one text, numbering placeholders from 1.
func (s *Scrubber) Scrub(text string) Result { return s.NewSession().Scrub(text) }

// Detect returns the identifiers in text without replacing them; Placeholder
// is empty.
func (s *Scrubber) Detect(text string) []Finding {
	cands := s.detect(text)
	out := make([]Finding, len(cands))
	for i, c := range cands {
		out[i] = Finding{Type: c.typ, Start: c.start, End: c.end}
	}
	return out
}

// Session numbers placeholders consistently across several texts, e.g. the
// prompt and the output of one interaction: the same value gets the same
// placeholder in all of them. A Session is not safe for concurrent use.
type Session struct {
	s       *Scrubber
	counts  map[string]int
	seen    map[string]string // type + "\x00" + normalised value -> placeholder
	key     []byte            // digests' key, for a resumed Numbering
	digests map[string]string // from a resumed Numbering: digest -> placeholder
}

// NewSession starts a numbering scope.
func (s *Scrubber) NewSession() *Session {
	return &Session{s: s, counts: map[string]int{}, seen: map[string]string{}}
}

// Scrub replaces the identifiers in text, continuing the session's numbering.
func (ss *Session) Scrub(text string) Result {
	cands := ss.s.detect(text)
	if len(cands) == 0 {
		return Result{Text: text}
	}
	var b strings.Builder
	b.Grow(len(text))
	found := make([]Finding, 0, len(cands))
	last := 0
	for _, c := range cands {
		key := c.typ + "\x00" + normalise(c.typ, text[c.start:c.end])
		ph, ok := ss.lookup(key)
		if !ok {
			ss.counts[c.typ]++
			ph = "<" + c.typ + "_" + strconv.Itoa(ss.counts[c.typ]) + ">"
			ss.seen[key] = ph
		}
		b.WriteString(text[last:c.start])
		b.WriteString(ph)
		last = c.end
		found = append(found, Finding{Type: c.typ, Start: c.start, End: c.end, Placeholder: ph})
	}
	b.WriteString(text[last:])
	return Result{Text: b.String(), Found: found}
}

// candidate is one detection before overlap resolution.
type candidate struct {
	typ        string
	start, end int
}

// detect runs every enabled detector and resolves overlaps.
func (s *Scrubber) detect(text string) []candidate {
	var cands []candidate
	add := func(typ string, start, end int) {
		if s.enabled[typ] && start < end {
			cands = append(cands, candidate{typ, start, end})
		}
	}
	if s.enabled[TypeEmail] {
		findEmails(text, add)
		findObfuscatedEmails(text, add)
	}
	if s.enabled[TypeIP] {
		findIPv4(text, add)
		findIPv6(text, add)
	}
	if s.enabled[TypeIBAN] {
		findIBANs(text, add)
	}
	if s.enabled[TypeNINO] {
		findNINOs(text, add)
	}
	if s.enabled[TypeKRAPIN] || s.enabled[TypePassport] {
		findAlnumIDs(text, s.enabled, add)
	}
	if s.enabled[TypeDOB] {
		findDOBs(text, add)
	}
	if s.enabled[TypeAddress] {
		findAddresses(text, add)
	}
	if s.enabled[TypeName] {
		findNames(text, add)
	}
	findNumbers(text, s.enabled, add)
	return resolve(cands)
}

// resolve keeps a non-overlapping subset: longer spans first, then the more
// specific type, then the earlier start, so the outcome never depends on the
// order detectors ran in. The result is sorted by start.
func resolve(c []candidate) []candidate {
	if len(c) <= 1 {
		return c
	}
	slices.SortFunc(c, func(a, b candidate) int {
		if la, lb := a.end-a.start, b.end-b.start; la != lb {
			return lb - la
		}
		if pa, pb := typePriority[a.typ], typePriority[b.typ]; pa != pb {
			return pb - pa
		}
		if a.start != b.start {
			return a.start - b.start
		}
		return strings.Compare(a.typ, b.typ)
	})
	var kept []candidate
	for _, x := range c {
		ok := true
		for _, k := range kept {
			if x.start < k.end && k.start < x.end {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, x)
		}
	}
	slices.SortFunc(kept, func(a, b candidate) int { return a.start - b.start })
	return kept
}

// normalise maps different spellings of one value to one key, so that
// "4111 1111 1111 1111" and "4111-1111-1111-1111" share a placeholder.
func normalise(typ, v string) string {
	switch typ {
	case TypeEmail:
		return deobfuscate(strings.ToLower(v))
	case TypeName, TypeAddress, TypeDOB:
		return strings.Join(strings.Fields(strings.ToLower(v)), " ")
	case TypeIBAN, TypeNINO, TypeIP, TypeKRAPIN, TypePassport:
		var b strings.Builder
		for _, r := range v {
			if r != ' ' {
				b.WriteRune(r)
			}
		}
		return strings.ToUpper(b.String())
	default:
		return digitsOf(v)
	}
}

func digitsOf(v string) string {
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if isDigit(v[i]) {
			b = append(b, v[i])
		}
	}
	return string(b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
