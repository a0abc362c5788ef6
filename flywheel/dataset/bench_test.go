package dataset

import (
	"fmt"
	"testing"
)

// BenchmarkAssemble measures the build pipeline without the database
// (validation, language id, MinHash/LSH dedupe, split) per interaction.
func BenchmarkAssemble(b *testing.B) {
	base := newSynth(b).all
	var ins []Interaction
	for i := 0; len(ins) < 10000; i++ {
		for _, in := range base {
			in.ResponseID = fmt.Sprintf("%s-%d", in.ResponseID, i)
			ins = append(ins, in)
		}
	}
	opts, _ := synthOptions.resolve()
	b.ResetTimer()
	for b.Loop() {
		assemble(ins, opts)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ins))/1e3, "µs/interaction")
}

func BenchmarkDetectLanguage(b *testing.B) {
	text := "Habari za asubuhi, nyote, na asanteni kwa kuja kwenye warsha leo. Tafadhali eleza tofauti kati ya mkopo na ruzuku."
	for b.Loop() {
		DetectLanguage(text)
	}
}
