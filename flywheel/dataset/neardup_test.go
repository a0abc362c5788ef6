package dataset

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestJaccard(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"the cat sat on the mat", "The cat, sat on the MAT!", 1},
		{"a b c d e", "a b c d e", 1},
		{"a b c d e", "a b x d e", 2.0 / 6}, // pairs ab,bc,cd,de and ab,bx,xd,de: 2 shared of 6
		{"one two", "three four", 0},
		{"", "", 1},
		{"hi", "hi", 1},
	}
	for _, tt := range tests {
		if got := jaccard(shingles(tt.a), shingles(tt.b)); fmt.Sprintf("%.4f", got) != fmt.Sprintf("%.4f", tt.want) {
			t.Errorf("jaccard(%q, %q) = %.4f; want %.4f", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestBandRows(t *testing.T) {
	for _, tt := range []struct {
		threshold float64
		want      int
	}{{0.8, 4}, {0.5, 2}, {0.95, 8}, {1, 128}} {
		if got := bandRows(tt.threshold); got != tt.want {
			t.Errorf("bandRows(%v) = %d; want %d", tt.threshold, got, tt.want)
		}
	}
}

// TestNearDuplicateRecallAndPrecision plants paraphrases (a filler word,
// another case, different punctuation, one or two words swapped: Jaccard
// 0.83 to 0.96 at these lengths) of 300 distinct texts of 50 to 80 words,
// and 300 texts that share their first 40% with another but go on
// differently: the first must all be caught (LSH must not miss a pair
// above the threshold), the second all kept.
func TestNearDuplicateRecallAndPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	voc := vocab(t, "en")
	text := func(n int) []string {
		w := make([]string, n)
		for i := range w {
			w[i] = voc[rng.IntN(len(voc))]
		}
		return w
	}
	idx := newNearIndex(DefaultNearDup)
	var originals [][]string
	for i := 0; i < 300; i++ {
		w := text(50 + rng.IntN(30))
		originals = append(originals, w)
		if _, isNew := idx.addIfNew(shingles(strings.Join(w, " "))); !isNew {
			t.Fatalf("distinct text %d taken for a duplicate", i)
		}
	}
	missed := 0
	for i, w := range originals {
		p := append([]string{"well,"}, w...)
		for k := 0; k < 1+i%2; k++ {
			p[1+rng.IntN(len(w))] = "another"
		}
		para := strings.ToUpper(strings.Join(p, " ")) + "!!"
		j := jaccard(shingles(para), shingles(strings.Join(w, " ")))
		if j < DefaultNearDup {
			t.Fatalf("planted paraphrase %d has jaccard %.3f, below the threshold", i, j)
		}
		if got, isNew := idx.addIfNew(shingles(para)); isNew || got != i {
			missed++
			t.Errorf("paraphrase of %d (jaccard %.2f) not matched to it (got %d, new %v)", i, j, got, isNew)
		}
	}
	kept := 0
	for i, w := range originals {
		// Shares the first 40% with an original, then differs.
		d := append(append([]string(nil), w[:len(w)*2/5]...), text(len(w)-len(w)*2/5)...)
		if _, isNew := idx.addIfNew(shingles(strings.Join(d, " "))); isNew {
			kept++
		} else {
			t.Errorf("text sharing 40%% with %d taken for its duplicate", i)
		}
	}
	t.Logf("paraphrases caught %d/300, partly overlapping texts kept %d/300", 300-missed, kept)
}
