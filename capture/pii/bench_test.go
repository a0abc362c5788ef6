package pii

import (
	"strings"
	"testing"
)

// chat10K is about 10 KB of chat text from the labelled set, identifiers and
// distractors included.
func chat10K(b *testing.B) string {
	var sb strings.Builder
	for _, s := range loadSet(b) {
		if sb.Len() >= 10<<10 {
			break
		}
		sb.WriteString(s.Text)
		sb.WriteByte('\n')
	}
	return sb.String()
}

func BenchmarkScrub10KChat(b *testing.B) {
	s := mustNew(b, Config{})
	text := chat10K(b)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		s.Scrub(text)
	}
}

// BenchmarkScrubPlainText is prose without identifiers: the cost every
// captured interaction pays.
func BenchmarkScrubPlainText(b *testing.B) {
	s := mustNew(b, Config{})
	text := strings.Repeat("The model answered the question about the weather in Nairobi and suggested an umbrella. ", 115)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		s.Scrub(text)
	}
}
