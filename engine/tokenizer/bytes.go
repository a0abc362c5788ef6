package tokenizer

// The GPT-2 byte-level alphabet: every byte is shown as a printable
// character. Bytes that are printable Latin-1 characters ('!'..'~',
// '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68 bytes are given the
// code points 256, 257, ... in byte order.
var (
	byteChar [256]string // byte -> its character, UTF-8 encoded
	charByte [256 + 68]int16
)

func init() {
	for i := range charByte {
		charByte[i] = -1
	}
	next := rune(256)
	for b := 0; b < 256; b++ {
		r := rune(b)
		printable := (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
		if !printable {
			r = next
			next++
		}
		byteChar[b] = string(r)
		charByte[r] = int16(b)
	}
}

// unmapBytes turns a byte-level BPE piece back into the bytes it stands for.
// Characters outside the alphabet (which a well-formed vocabulary does not
// have) are kept as they are.
func unmapBytes(piece string) string {
	out := make([]byte, 0, len(piece))
	for _, r := range piece {
		if r >= 0 && int(r) < len(charByte) && charByte[r] >= 0 {
			out = append(out, byte(charByte[r]))
			continue
		}
		out = append(out, string(r)...)
	}
	return string(out)
}

// parseByteToken reads the byte of a "<0xXX>" piece.
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexVal(s[3])
	lo, ok2 := hexVal(s[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
