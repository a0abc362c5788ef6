package pii

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestRandomNumbers measures how often a bare random number of each length,
// in a sentence with no context word, is taken for an identifier. Checksums
// bound this from below (one in ten for Luhn and Verhoeff, one in a hundred
// for CPF), so the rates are logged and held to those bounds rather than zero.
func TestRandomNumbers(t *testing.T) {
	s := mustNew(t, Config{})
	r := rand.New(rand.NewPCG(5, 5))
	var tab strings.Builder
	for n := 7; n <= 19; n++ {
		hits := map[string]int{}
		const trials = 2000
		total := 0
		for k := 0; k < trials; k++ {
			d := []byte(fmt.Sprint(1 + r.IntN(9)))
			for len(d) < n {
				d = append(d, byte('0'+r.IntN(10)))
			}
			for _, f := range s.Detect("The figure " + string(d) + " appears in the report.") {
				hits[f.Type]++
				total++
			}
		}
		fmt.Fprintf(&tab, "%2d digits: %5.2f%% %v\n", n, 100*float64(total)/trials, hits)
		if limit := 0.16; float64(total)/trials > limit {
			t.Errorf("%d-digit random numbers taken %.1f%% of the time, want <= %.0f%%", n, 100*float64(total)/trials, 100*limit)
		}
	}
	t.Log("\n" + tab.String())
}
