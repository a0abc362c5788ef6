package pii

import (
	"bufio"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// loadHard reads testdata/hard.txt: hand-written lines with {{TYPE}} or
// {{TYPE:literal}} markers, filled from a seed of their own.
func loadHard(t *testing.T) []Sample {
	f, err := os.Open("testdata/hard.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := gen{rand.New(rand.NewPCG(99, 1))}
	var set []Sample
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var b strings.Builder
		var spans []Span
		for {
			i := strings.Index(line, "{{")
			if i < 0 {
				break
			}
			j := strings.Index(line, "}}")
			b.WriteString(line[:i])
			typ, val, lit := strings.Cut(line[i+2:j], ":")
			if !lit {
				val, _ = g.value(typ)
			}
			spans = append(spans, Span{Type: typ, Start: b.Len(), End: b.Len() + len(val), Value: val})
			b.WriteString(val)
			line = line[j+2:]
		}
		b.WriteString(line)
		set = append(set, Sample{ID: len(set) + 1, Text: b.String(), Spans: spans})
	}
	return set
}

// TestHeldOut reports precision and recall on the hand-written snippets. Its
// floor is lower than TestPrecisionRecall's: these lines were written to be
// awkward and were not used to tune the rules.
func TestHeldOut(t *testing.T) {
	set := loadHard(t)
	per, all, errs := evaluate(t, mustNew(t, Config{}), set)
	t.Logf("held-out: %d samples, TP %d FP %d FN %d, precision %.4f recall %.4f", len(set), all.tp, all.fp, all.fn, all.precision(), all.recall())
	for typ, sc := range per {
		t.Logf("  %-14s TP %3d FP %2d FN %2d", typ, sc.tp, sc.fp, sc.fn)
	}
	for _, e := range errs {
		t.Log(e)
	}
	if all.recall() < 0.9 || all.precision() < 0.9 {
		t.Errorf("held-out precision %.4f recall %.4f, want both >= 0.9", all.precision(), all.recall())
	}
}
