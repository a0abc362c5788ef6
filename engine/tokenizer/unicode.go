package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// Character classes used by the pre-tokenizers. They follow the Unicode
// general categories (\p{L}, \p{N}, ...) and the White_Space property, which
// is what llama.cpp's generated tables and the HF regexes (\s) use.
const (
	clsLetter uint8 = 1 << iota
	clsNumber
	clsSpace
	clsPunct
	clsSymbol
	clsMark
)

// asciiClass caches the classes of the first 128 code points, which make up
// most text.
var asciiClass = func() (t [128]uint8) {
	for r := rune(0); r < 128; r++ {
		t[r] = slowClass(r)
	}
	return t
}()

func slowClass(r rune) uint8 {
	var c uint8
	switch {
	case unicode.IsLetter(r):
		c |= clsLetter
	case unicode.IsNumber(r):
		c |= clsNumber
	case unicode.IsPunct(r):
		c |= clsPunct
	case unicode.IsSymbol(r):
		c |= clsSymbol
	case unicode.IsMark(r):
		c |= clsMark
	}
	if unicode.Is(unicode.White_Space, r) {
		c |= clsSpace
	}
	return c
}

func class(r rune) uint8 {
	if r >= 0 && r < 128 {
		return asciiClass[r]
	}
	return slowClass(r)
}

// decodeRunes splits text into code points. Invalid UTF-8 bytes become
// U+FFFD, one per byte, as in llama.cpp's unicode_cpts_from_utf8; the byte-level
// BPE therefore encodes them as the bytes of U+FFFD.
func decodeRunes(text string, buf []rune) []rune {
	buf = buf[:0]
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			buf = append(buf, rune(c))
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		buf = append(buf, r) // r is RuneError with n == 1 for a bad byte
		i += n
	}
	return buf
}

// utf8Len is the length of the UTF-8 sequence announced by a lead byte, the
// way llama.cpp's unicode_len_utf8 reads it (continuation bytes count as 1).
func utf8Len(b byte) int {
	switch b >> 4 {
	case 0xC, 0xD:
		return 2
	case 0xE:
		return 3
	case 0xF:
		return 4
	}
	return 1
}
