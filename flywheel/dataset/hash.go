package dataset

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// ContentHash is the hex SHA-256 of the version's examples as they stand
// (Get fills them; a version from List has none and hashes as empty):
// each example's split, lineage and messages, train split first, in
// order. It names exactly what a model was trained and evaluated on, so
// an adapter's lineage can record it, and it changes when an erasure
// removes an example.
func (v *Version) ContentHash() string {
	h := sha256.New()
	enc := json.NewEncoder(h) // one JSON line per example: unambiguous
	for _, split := range [][]Example{v.Train, v.Eval} {
		for _, e := range split {
			enc.Encode(struct {
				Split      string    `json:"split"`
				ResponseID string    `json:"response_id"`
				Messages   []Message `json:"messages"`
			}{e.Split, e.ResponseID, e.Messages})
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}
