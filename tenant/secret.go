package tenant

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
)

// A secret is "hk_" followed by 32 random bytes in lower-case base32
// (a-z, 2-7): 52 characters that survive being read aloud or copied by
// hand (no 0/O or 1/l pairs), double-click as one word and need no
// escaping in URLs, shells or headers.
const (
	SecretPrefix = "hk_"
	secretBytes  = 32
	secretLen    = len(SecretPrefix) + (secretBytes*8+4)/5 // 55
	// prefixLen is how much of the secret after "hk_" is kept for display:
	// 40 bits, enough to tell keys apart, far too few to guess the rest.
	prefixLen = 8
)

const b32alphabet = "abcdefghijklmnopqrstuvwxyz234567"

var b32 = base32.NewEncoding(b32alphabet).WithPadding(base32.NoPadding)

// ID prefixes say what an id names.
const (
	tenantIDPrefix = "tnt_"
	keyIDPrefix    = "key_"
)

// newSecret returns a fresh secret.
func newSecret() string {
	return SecretPrefix + b32.EncodeToString(random(secretBytes))
}

// newID returns a fresh random id (80 bits) with the given prefix.
func newID(prefix string) string { return prefix + b32.EncodeToString(random(10)) }

// random returns n bytes from the system's CSPRNG, which never fails on
// the platforms Go supports (crypto/rand.Read panics rather than return a
// short read).
func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// checkSecret tells a malformed bearer token from one worth looking up,
// without echoing it: the message may reach logs and clients.
func checkSecret(s string) error {
	if len(s) < len(SecretPrefix) || s[:len(SecretPrefix)] != SecretPrefix {
		return malformed(fmt.Sprintf("it must start with %q", SecretPrefix))
	}
	if len(s) != secretLen {
		return malformed(fmt.Sprintf("%d characters, want %d", len(s), secretLen))
	}
	for i := len(SecretPrefix); i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return malformed(fmt.Sprintf("character %d is not in a-z, 2-7", i+1))
		}
	}
	return nil
}

// malformed is the refusal of a token that cannot be a key. What is wrong
// with its form tells the caller nothing about any key, so they hear it.
func malformed(why string) error {
	return refused(publicInvalid+": malformed: "+why, nil, "malformed API key: %s", why)
}

// hashSecret is what the database stores and looks keys up by. A plain
// SHA-256 is enough: the secret has 256 random bits, so there is nothing
// for a slow password hash to protect against.
func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
