// Package modelname is the one rule for when two model names name the
// same model, shared by the API, the router and the model store: names
// compare without regard to case or surrounding space, and a name without
// a tag has Ollama's default tag, so "llama3", "Llama3" and
// "llama3:latest" are one model. What a valid name is (its characters and
// lengths) is the store's to decide (store.NormalizeName); this package
// only compares.
package modelname

import "strings"

// DefaultTag is the tag of a name given without one, as in Ollama.
const DefaultTag = "latest"

// Split returns s's name and tag, lower-cased but not trimmed. The tag
// follows the last ':' after the last '/', so the port in
// "host:5000/llama" is not a tag; without one, tag is DefaultTag and
// hasTag is false.
func Split(s string) (name, tag string, hasTag bool) {
	s = strings.ToLower(s)
	i := strings.LastIndexByte(s, ':')
	if i < 0 || i < strings.LastIndexByte(s, '/') {
		return s, DefaultTag, false
	}
	return s[:i], s[i+1:], true
}

// Canonical is s as names are compared: trimmed, lower case, "name:tag".
func Canonical(s string) string {
	name, tag, _ := Split(strings.TrimSpace(s))
	return name + ":" + tag
}

// Same reports whether a and b name the same model.
func Same(a, b string) bool { return Canonical(a) == Canonical(b) }

// Spellings are the names a model that s names may be listed under by a
// backend that does not canonicalise: its canonical form, and when its
// tag is the default, the name alone ("llama3:latest", "llama3"), unless
// the name alone would read as another name (one with a tag of its own,
// or space to trim).
func Spellings(s string) []string {
	c := Canonical(s)
	if bare, ok := strings.CutSuffix(c, ":"+DefaultTag); ok && Canonical(bare) == c {
		return []string{c, bare}
	}
	return []string{c}
}
