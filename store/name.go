package store

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hearth-ai/hearth/modelname"
)

// DefaultTag is the tag a name without one gets, as in Ollama: "stories260k"
// and "stories260k:latest" are the same model (modelname.DefaultTag).
const DefaultTag = modelname.DefaultTag

// Limits keep names usable as file and URL components everywhere.
const (
	maxNameLen = 128
	maxTagLen  = 64
)

// NormalizeName checks a model name of the form name[:tag] and returns its
// canonical form "name:tag" (modelname.Canonical): lower case, with
// DefaultTag when no tag is given. Names and tags use the letters a-z,
// digits, '.', '_' and '-', and start with a letter or digit; path
// separators, "..", spaces and other characters are refused so a name can
// never point outside the store.
func NormalizeName(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("store: empty model name")
	}
	// modelname decides what is name and what is tag (and lower-cases
	// both); the checks below what they may hold.
	name, tag, _ := modelname.Split(s)
	if err := checkPart(s, "name", name, maxNameLen); err != nil {
		return "", err
	}
	if err := checkPart(s, "tag", tag, maxTagLen); err != nil {
		return "", err
	}
	return name + ":" + tag, nil
}

// checkPart validates one side of name:tag; full is the whole input, for
// the message.
func checkPart(full, what, p string, limit int) error {
	bad := func(why string) error {
		return fmt.Errorf("store: invalid model name %q: %s %s", full, what, why)
	}
	switch {
	case p == "":
		return bad("is empty")
	case len(p) > limit:
		return bad(fmt.Sprintf("is longer than %d characters", limit))
	case strings.ContainsAny(p, `/\`):
		return bad("must not contain path separators")
	case strings.Contains(p, ".."):
		return bad(`must not contain ".."`)
	case strings.ContainsAny(p, " \t\r\n"):
		return bad("must not contain spaces")
	case strings.Contains(p, ":"):
		return bad("has more than one ':'")
	case !isAlnum(p[0]):
		return bad("must start with a letter or digit")
	}
	for _, r := range p {
		if r >= 0x80 || !isAlnum(byte(r)) && r != '.' && r != '_' && r != '-' {
			return bad(fmt.Sprintf("has character %q (allowed: a-z, 0-9, '.', '_', '-')", r))
		}
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// NameFromFile derives a model name from a file name or URL path:
// "dir/stories260K.gguf" gives "stories260k". Characters a name may not hold
// become '-'. It returns "" when nothing usable is left.
func NameFromFile(path string) string {
	base := filepath.Base(filepath.ToSlash(path))
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	if strings.HasSuffix(strings.ToLower(base), ".gguf") {
		base = base[:len(base)-len(".gguf")]
	}
	var b strings.Builder
	for _, r := range strings.ToLower(base) {
		c := byte('-')
		if r < 0x80 && (isAlnum(byte(r)) || r == '.' || r == '_' || r == '-') {
			c = byte(r)
		}
		b.WriteByte(c)
	}
	n := b.String()
	for strings.Contains(n, "..") {
		n = strings.ReplaceAll(n, "..", ".")
	}
	n = strings.TrimLeft(n, "._-")
	if len(n) > maxNameLen {
		n = n[:maxNameLen]
	}
	if n == "" {
		return ""
	}
	return n
}
