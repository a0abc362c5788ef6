package dataset

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"unicode"
)

// Near duplicates are found with MinHash over word shingles: each text
// becomes the set of its overlapping word pairs (after lower-casing and
// dropping punctuation), its signature the minimum of numHashes hash
// functions over that set, and banded locality-sensitive hashing of the
// signatures finds candidate pairs without comparing every pair. Each
// candidate is then confirmed with the exact Jaccard similarity of the two
// shingle sets, so LSH costs no precision, only (a little) recall.
//
// Word pairs rather than longer shingles because examples are short: one
// changed word in a fifty-word conversation moves the similarity from 1 to
// about 0.92, two to about 0.85, so the default threshold of 0.8 catches
// the light paraphrases (a synonym, a filler word, different case and
// punctuation) that repeat a question, and keeps texts that differ in
// what they are about.
const (
	shingleWords = 2
	numHashes    = 128
	lshRecall    = 0.995 // least chance that a pair at the threshold becomes a candidate
)

// hashSeeds are the numHashes hash functions' keys (splitmix64 sequence).
var hashSeeds = func() []uint64 {
	s := make([]uint64, numHashes)
	x := uint64(0x243f6a8885a308d3)
	for i := range s {
		x += 0x9e3779b97f4a7c15
		s[i] = mix64(x)
	}
	return s
}()

// mix64 is splitmix64's finaliser: a cheap bijection that scatters bits.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// words splits text into lower-cased runs of letters and digits.
func words(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// shingles returns the sorted, distinct hashes of text's word shingles. A
// text shorter than one shingle is one shingle of all its words.
func shingles(text string) []uint64 {
	w := words(text)
	n := len(w) - shingleWords + 1
	if n < 1 {
		n = 1
	}
	out := make([]uint64, 0, n)
	for i := 0; i < n; i++ {
		h := fnv.New64a()
		for _, word := range w[i:min(i+shingleWords, len(w))] {
			h.Write([]byte(word))
			h.Write([]byte{0})
		}
		out = append(out, h.Sum64())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// jaccard is |a ∩ b| / |a ∪ b| of two sorted, distinct sets.
func jaccard(a, b []uint64) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	inter := 0
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			inter++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// signature is the MinHash signature of a shingle set.
func signature(set []uint64) []uint64 {
	sig := make([]uint64, numHashes)
	for i := range sig {
		sig[i] = math.MaxUint64
	}
	for _, s := range set {
		for i, seed := range hashSeeds {
			if v := mix64(s ^ seed); v < sig[i] {
				sig[i] = v
			}
		}
	}
	return sig
}

// bandRows picks the LSH band width for a threshold: the widest band (fewer
// candidates to confirm) that still makes a pair at the threshold a
// candidate with probability at least lshRecall.
func bandRows(threshold float64) int {
	best := 1
	for r := 1; r <= numHashes; r++ {
		if numHashes%r != 0 {
			continue
		}
		b := float64(numHashes / r)
		if 1-math.Pow(1-math.Pow(threshold, float64(r)), b) >= lshRecall {
			best = r
		}
	}
	return best
}

// nearIndex holds the shingle sets of kept texts and answers whether a new
// text is a near duplicate of one of them.
type nearIndex struct {
	threshold float64
	rows      int
	buckets   map[uint64][]int
	sets      [][]uint64
}

func newNearIndex(threshold float64) *nearIndex {
	return &nearIndex{threshold: threshold, rows: bandRows(threshold), buckets: map[uint64][]int{}}
}

// bandKeys hashes each band of a signature, with the band's number, to a
// bucket key.
func (x *nearIndex) bandKeys(sig []uint64) []uint64 {
	keys := make([]uint64, 0, numHashes/x.rows)
	var buf [8]byte
	for band := 0; band < numHashes/x.rows; band++ {
		h := fnv.New64a()
		binary.LittleEndian.PutUint64(buf[:], uint64(band))
		h.Write(buf[:])
		for _, v := range sig[band*x.rows : (band+1)*x.rows] {
			binary.LittleEndian.PutUint64(buf[:], v)
			h.Write(buf[:])
		}
		keys = append(keys, h.Sum64())
	}
	return keys
}

// addIfNew adds set unless a kept set is at least threshold similar; it
// returns the index of that set and false, or the new index and true.
func (x *nearIndex) addIfNew(set []uint64) (int, bool) {
	keys := x.bandKeys(signature(set))
	seen := map[int]bool{}
	for _, k := range keys {
		for _, i := range x.buckets[k] {
			if seen[i] {
				continue
			}
			seen[i] = true
			if jaccard(set, x.sets[i]) >= x.threshold-1e-12 {
				return i, false
			}
		}
	}
	i := len(x.sets)
	x.sets = append(x.sets, set)
	for _, k := range keys {
		x.buckets[k] = append(x.buckets[k], i)
	}
	return i, true
}
