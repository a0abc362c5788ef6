package audit

import (
	"strings"
	"testing"
)

// TestHolds: a log says whether it still holds a head it once had (what
// a fleet peer remembers of it): yes for its own records, no, naming what
// is missing, for a head past its end or a record since rewritten.
func TestHolds(t *testing.T) {
	dir := t.TempDir()
	id := testID(7)
	writeLog(t, dir, id, 20, Options{})
	img := loadImage(t, dir)
	l, err := Open(dir, id, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	mid := img.recs[9].rec
	if err := l.Holds(Head{Seq: mid.Seq, Hash: mid.Hash, Time: mid.Time}); err != nil {
		t.Errorf("a record of its own: %v", err)
	}
	seq, hash := l.Head()
	if err := l.Holds(Head{Seq: seq, Hash: hash}); err != nil {
		t.Errorf("its head: %v", err)
	}
	for _, tc := range []struct {
		h    Head
		says string
	}{
		{Head{Seq: seq + 100, Hash: "ab"}, "missing"},
		{Head{Seq: mid.Seq, Hash: strings.Repeat("0", 64)}, "rewritten"},
	} {
		if err := l.Holds(tc.h); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Holds(%+v) = %v; want an error saying %q", tc.h, err, tc.says)
		}
	}
}
