package sample

// penalize applies the repetition, presence and frequency penalties to the
// candidates (indexed by id) for the tokens in the window at the end of
// history. Ids outside the vocabulary are ignored.
//
// As in llama.cpp: a seen token's logit is divided by the repetition
// penalty if positive and multiplied by it otherwise (so it always moves
// down for a penalty > 1), then reduced by count*frequency + presence.
func (s *Sampler) penalize(c []candidate, history []int32) {
	rep := s.p.RepeatPenalty
	if rep == 0 {
		rep = 1
	}
	freq, pres := s.p.FrequencyPenalty, s.p.PresencePenalty
	if rep == 1 && freq == 0 && pres == 0 {
		return
	}
	window := history
	if s.lastN >= 0 && len(window) > s.lastN {
		window = window[len(window)-s.lastN:]
	}
	seen := s.seen[:0]
	for _, t := range window {
		if t < 0 || int(t) >= len(c) {
			continue
		}
		if s.counts[t] == 0 {
			seen = append(seen, t)
		}
		s.counts[t]++
	}
	for _, t := range seen {
		n := s.counts[t]
		s.counts[t] = 0
		l := c[t].logit
		if l <= 0 {
			l *= rep
		} else {
			l /= rep
		}
		c[t].logit = l - float32(n)*freq - pres
	}
	s.seen = seen[:0]
}
