package engine

import "strings"

// stopMatcher holds back generated text that might be the start of a stop
// string, so a client never sees part of one.
type stopMatcher struct {
	stops   []string
	pending string
	matched bool
}

func newStopMatcher(stops []string) *stopMatcher {
	s := &stopMatcher{}
	for _, x := range stops {
		if x != "" {
			s.stops = append(s.stops, x)
		}
	}
	return s
}

// push adds text and returns what can be released, and whether a stop
// string has been found (the text before it is released, the rest dropped).
func (s *stopMatcher) push(text string) (string, bool) {
	if s.matched {
		return "", true
	}
	if len(s.stops) == 0 {
		return text, false
	}
	s.pending += text
	cut := -1
	for _, st := range s.stops {
		if i := strings.Index(s.pending, st); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		out := s.pending[:cut]
		s.pending = ""
		s.matched = true
		return out, true
	}
	// Hold back the longest suffix that is a prefix of some stop string.
	hold := 0
	for _, st := range s.stops {
		for n := min(len(st)-1, len(s.pending)); n > hold; n-- {
			if strings.HasSuffix(s.pending, st[:n]) {
				hold = n
				break
			}
		}
	}
	out := s.pending[:len(s.pending)-hold]
	s.pending = s.pending[len(s.pending)-hold:]
	return out, false
}

// flush releases held-back text.
func (s *stopMatcher) flush() string {
	out := s.pending
	s.pending = ""
	return out
}
