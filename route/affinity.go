package route

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// Owner returns which of ids owns key by rendezvous hashing: the id with
// the highest hash of (key, id). Removing a node moves only the keys it
// owned; adding one takes about 1/n of the keys. Empty ids: "".
func Owner(key string, ids []string) string {
	best, bestW := "", uint64(0)
	for _, id := range ids {
		w := weight(key, id)
		if best == "" || w > bestW || w == bestW && id < best {
			best, bestW = id, w
		}
	}
	return best
}

// weight hashes key and id with a separator, so ("ab","c") and ("a","bc")
// differ.
func weight(key, id string) uint64 {
	h := sha256.New()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(id))
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}

// PrefixKey is the affinity key for a prompt prefix (such as the system
// prompt): the first 16 bytes of its SHA-256, in hex. Empty text: "" (no
// affinity).
func PrefixKey(text string) string {
	if text == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:16])
}
