package audit

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	"github.com/hearth-ai/hearth/identity"
)

// Records carry a keyed MAC so that the records after the last checkpoint,
// which no signature covers yet, cannot be forged by someone who can write
// the log but not read the node key: Open checks them before it signs
// them (recover.go). The key is derived from the node's ed25519 seed with
// HKDF-SHA256 under its own label, so it is never the signing key itself
// and never used for anything else.
const macLabel = "hearth-audit-record-mac-v1"

// macKey derives the log's MAC key from the node identity.
func macKey(id *identity.Identity) []byte {
	if id == nil || len(id.Private) == 0 {
		return nil
	}
	k, err := hkdf.Key(sha256.New, id.Private.Seed(), nil, macLabel, 32)
	if err != nil {
		panic("audit: hkdf: " + err.Error()) // only for lengths sha256 cannot give
	}
	return k
}

// MACKey is the key VerifyOptions.MACKey wants: derived from the node key,
// so only the node (or someone holding DATA/node.key) can check MACs.
func MACKey(id *identity.Identity) []byte { return macKey(id) }

// computeMAC is the hex HMAC-SHA256 of a record's preimage.
func computeMAC(key, preimage []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(preimage)
	return hex.EncodeToString(m.Sum(nil))
}

// seal sets r's MAC (with key; none if key is nil) and then its hash.
func (r *Record) seal(key []byte) {
	b := r.appendPreimage(make([]byte, 0, 512))
	r.Mac = ""
	if key != nil {
		r.Mac = computeMAC(key, b)
		b = appendString(b, r.Mac)
	}
	sum := sha256.Sum256(b)
	r.Hash = hex.EncodeToString(sum[:])
}

// CheckMAC reports whether r carries a MAC and it is valid under key.
func (r *Record) CheckMAC(key []byte) bool {
	if r.Mac == "" || key == nil {
		return false
	}
	want := computeMAC(key, r.appendPreimage(make([]byte, 0, 512)))
	return hmac.Equal([]byte(want), []byte(r.Mac))
}
