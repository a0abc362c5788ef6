package tokenizer

// Hand-written versions of the two most used pre-tokenizer regexes. They
// give the same pieces as the regexes (including the look-ahead in
// `\s+(?!\S)`) and are much faster than a backtracking engine. They work on
// one segment of code points and append the lengths of the pieces to out.

// clsIn marks a position inside the segment, so that a class of 0 means
// "past the end" (llama.cpp's flags.as_uint() == 0).
const clsIn uint8 = 1 << 7

type segment []rune

func (s segment) cls(i int) uint8 {
	if i < 0 || i >= len(s) {
		return 0
	}
	return class(s[i]) | clsIn
}

func (s segment) at(i int) rune {
	if i < 0 || i >= len(s) {
		return -1
	}
	return s[i]
}

// contraction reports the length of 's, 't, 're, 've, 'm, 'll or 'd at i,
// or 0. With fold, the letters may be upper case.
func (s segment) contraction(i int, fold bool) int {
	if s.at(i) != '\'' || i+1 >= len(s) {
		return 0
	}
	lower := func(r rune) rune {
		if fold && r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}
	switch lower(s.at(i + 1)) {
	case 's', 't', 'm', 'd':
		return 2
	}
	if i+2 >= len(s) {
		return 0
	}
	a, b := lower(s.at(i+1)), lower(s.at(i+2))
	if (a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l') {
		return 3
	}
	return 0
}

// whitespace ends a piece at a run of white space starting at pos, for the
// `\s+(?!\S)|\s+` tail the regexes share: a run followed by more text leaves
// its last space to the next piece. It returns the new position, or pos if
// there is no white space at pos.
func (s segment) whitespace(pos int) int {
	n := 0
	for s.cls(pos+n)&clsSpace != 0 {
		n++
	}
	if n > 1 && pos+n < len(s) {
		return pos + n - 1
	}
	return pos + n
}

// splitGPT2 implements
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
func splitGPT2(s segment, out []int) []int {
	prev := 0
	emit := func(end int) {
		if end > prev {
			out = append(out, end-prev)
		}
		prev = end
	}
	for pos := 0; pos < len(s); {
		if n := s.contraction(pos, false); n > 0 {
			pos += n
			emit(pos)
			continue
		}
		c := s[pos]
		f := s.cls(pos)
		if c == ' ' {
			f = s.cls(pos + 1)
		}
		skip := 0
		if c == ' ' {
			skip = 1
		}
		switch {
		case f&clsLetter != 0:
			pos += skip
			for s.cls(pos)&clsLetter != 0 {
				pos++
			}
		case f&clsNumber != 0:
			pos += skip
			for s.cls(pos)&clsNumber != 0 {
				pos++
			}
		case f&(clsSpace|clsLetter|clsNumber) == 0 && f != 0:
			pos += skip
			for f := s.cls(pos); f&(clsSpace|clsLetter|clsNumber) == 0 && f != 0; f = s.cls(pos) {
				pos++
			}
		default:
			if p := s.whitespace(pos); p > pos {
				pos = p
			} else {
				pos++
			}
		}
		emit(pos)
	}
	return out
}

// llama3Opts selects the variant of the Llama 3 style regex
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
type llama3Opts struct {
	noContractions bool // drop the (?i:'s|...) alternative (ufakzeka)
	digits         int  // \p{N}{1,digits}; 0 means \p{N}+
	noPunctNL      bool // ` ?[^\s\p{L}\p{N}]+` without the [\r\n]* tail (seed-coder)
	marks          bool // letters are [\p{L}\p{M}] (qwen35)
}

func splitLlama3(o llama3Opts) func(segment, []int) []int {
	return func(s segment, out []int) []int {
		letter := clsLetter
		if o.marks {
			letter |= clsMark
		}
		prev := 0
		emit := func(end int) {
			if end > prev {
				out = append(out, end-prev)
			}
			prev = end
		}
		for pos := 0; pos < len(s); {
			if !o.noContractions {
				if n := s.contraction(pos, true); n > 0 {
					pos += n
					emit(pos)
					continue
				}
			}
			c := s[pos]
			f := s.cls(pos)

			// [^\r\n\p{L}\p{N}]?\p{L}+
			if c != '\r' && c != '\n' && f&clsNumber == 0 {
				if f&letter != 0 || s.cls(pos+1)&letter != 0 {
					pos++
					for s.cls(pos)&letter != 0 {
						pos++
					}
					emit(pos)
					continue
				}
			}
			// \p{N}{1,digits}
			if f&clsNumber != 0 {
				start := pos
				for s.cls(pos)&clsNumber != 0 {
					pos++
					if o.digits > 0 && pos-start == o.digits {
						emit(pos)
						start = pos
					}
				}
				emit(pos)
				continue
			}
			// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
			f2 := f
			if c == ' ' {
				f2 = s.cls(pos + 1)
			}
			if f2&(clsSpace|letter|clsNumber) == 0 && f != 0 {
				if c == ' ' {
					pos++
				}
				for g := s.cls(pos); g&(clsSpace|letter|clsNumber) == 0 && g != 0; g = s.cls(pos) {
					pos++
				}
				if !o.noPunctNL {
					for r := s.at(pos); r == '\r' || r == '\n'; r = s.at(pos) {
						pos++
					}
				}
				emit(pos)
				continue
			}
			// \s*[\r\n]+ : the white space run up to its last line break.
			lastNL := -1
			for i := pos; s.cls(i)&clsSpace != 0; i++ {
				if r := s[i]; r == '\r' || r == '\n' {
					lastNL = i + 1
				}
			}
			if lastNL > 0 {
				pos = lastNL
				emit(pos)
				continue
			}
			if p := s.whitespace(pos); p > pos {
				pos = p
			} else {
				pos++
			}
			emit(pos)
		}
		return out
	}
}
