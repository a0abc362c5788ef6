package metering

import "testing"

func TestWindow(t *testing.T) {
	var w window
	w.advance(1000)
	w.add(1, 100)
	w.advance(1030)
	w.add(1, 50)
	w.advance(1020) // the clock stepping back changes nothing
	w.add(1, 5)     // counted in the newest bucket, 1030
	if w.requests != 3 || w.tokens != 155 {
		t.Fatalf("requests %d, tokens %d; want 3, 155", w.requests, w.tokens)
	}
	w.adjust(1000, -90) // an estimate of 100 became 10
	if w.tokens != 65 {
		t.Errorf("after adjusting: tokens %d; want 65", w.tokens)
	}
	w.advance(1059)
	if w.requests != 3 {
		t.Errorf("at +59s: %d requests; want 3 (bucket 1000 still live)", w.requests)
	}
	w.advance(1060)
	if w.requests != 2 || w.tokens != 55 {
		t.Errorf("at +60s: requests %d, tokens %d; want 2, 55", w.requests, w.tokens)
	}
	// A correction for a bucket that left the window: only extra tokens
	// count, in the newest bucket.
	w.adjust(1000, -5)
	w.adjust(1000, 7)
	if w.tokens != 62 {
		t.Errorf("after late corrections: tokens %d; want 62", w.tokens)
	}
	w.adjust(1030, -1000) // never below zero
	if w.tokens != 7 {
		t.Errorf("after an over-correction: tokens %d; want 7", w.tokens)
	}
	w.advance(5000)
	if w.requests != 0 || w.tokens != 0 {
		t.Errorf("after a long idle: requests %d, tokens %d; want 0, 0", w.requests, w.tokens)
	}
}
