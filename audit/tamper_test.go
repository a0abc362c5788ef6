package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

const bigN = 10000

var (
	bigOnce sync.Once
	bigDir  string
	bigImg  *logImage
)

// bigLog is a log of 10,000 records (plus checkpoints) in four segments,
// built once for all tamper tests.
func bigLog(t *testing.T) (string, *logImage) {
	t.Helper()
	bigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "audit-big-")
		if err != nil {
			t.Fatal(err)
		}
		writeLog(t, dir, testID(1), bigN, Options{SegmentBytes: 1 << 20})
		bigDir, bigImg = dir, loadImage(t, dir)
	})
	if bigImg == nil {
		t.Fatal("building the big log failed")
	}
	return bigDir, bigImg
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigDir != "" {
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

func verifyImage(t *testing.T, fsys fstest.MapFS) *Report {
	t.Helper()
	rep, err := verifyFS(fsys, testID(1).Public, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestVerifyCleanLog(t *testing.T) {
	t.Parallel()
	dir, img := bigLog(t)
	if len(img.names) < 3 {
		t.Fatalf("log has %d segments; the test wants several", len(img.names))
	}
	rep, err := Verify(dir, testID(1).Public, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		t.Fatalf("clean log: %v", err)
	}
	total := bigN + bigN/DefaultCheckpointEvery
	if rep.Records != total || rep.LastSeq != uint64(total) || rep.FirstSeq != 1 {
		t.Errorf("records %d seq %d..%d; want %d records 1..%d", rep.Records, rep.FirstSeq, rep.LastSeq, total, total)
	}
	if rep.Checkpoints != bigN/DefaultCheckpointEvery || rep.LastCheckpoint != uint64(total) || rep.Unsigned != 0 {
		t.Errorf("checkpoints %d, last %d, unsigned %d; want %d, %d, 0", rep.Checkpoints, rep.LastCheckpoint, rep.Unsigned,
			bigN/DefaultCheckpointEvery, total)
	}
	if rep.Segments != len(img.names) || rep.Head != img.recs[len(img.recs)-1].rec.Hash {
		t.Errorf("segments %d head %s; want %d, %s", rep.Segments, rep.Head, len(img.names), img.recs[len(img.recs)-1].rec.Hash)
	}

	// Verifying from the middle checks the rest, links included.
	rep, err = Verify(dir, testID(1).Public, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Err(); err != nil || rep.FirstSeq != 5000 || rep.Records != total-4999 {
		t.Errorf("from 5000: first %d records %d err %v; want 5000, %d, nil", rep.FirstSeq, rep.Records, err, total-4999)
	}
}

// positions returns record indexes to tamper with: the first, the last,
// the checkpoints, the first and last of each segment, and random ones.
func positions(img *logImage, random int, seed uint64) []int {
	n := len(img.recs)
	ks := []int{0, 1, n - 2, n - 1}
	for k, r := range img.recs {
		if r.rec.Kind == KindCheckpoint {
			ks = append(ks, k)
		}
		if r.line == 1 && k > 0 {
			ks = append(ks, k-1, k)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	for range random {
		ks = append(ks, rng.IntN(n))
	}
	return ks
}

func TestVerifyDetectsFlippedBytes(t *testing.T) {
	t.Parallel()
	_, img := bigLog(t)
	rng := rand.New(rand.NewPCG(7, 7))
	ks := positions(img, 60, 1)
	for i, k := range ks {
		r := img.recs[k]
		// Byte: random, but also the line's first byte and its newline.
		b := rng.IntN(r.len)
		switch i % 7 {
		case 0:
			b = r.len - 1
		case 1:
			b = 0
		}
		data := append([]byte(nil), img.files[r.file]...)
		data[r.off+int64(b)] ^= byte(1 + rng.IntN(255))
		rep := verifyImage(t, img.mapFS(map[int][]byte{r.file: data}))
		name := fmt.Sprintf("seq %d byte %d/%d", r.rec.Seq, b, r.len)
		lastLine := k == len(img.recs)-1
		if lastLine && b == r.len-1 {
			if rep.Torn == nil || rep.Torn.At != img.pos(k) || rep.Problem != nil {
				t.Errorf("%s: torn %+v problem %v; want a torn tail at %v", name, rep.Torn, rep.Problem, img.pos(k))
			}
			continue
		}
		p := rep.Problem
		if p == nil {
			t.Errorf("%s: not detected (err %v)", name, rep.Err())
			continue
		}
		if (p.Kind != Modified && p.Kind != Malformed) || p.At != img.pos(k) {
			t.Errorf("%s: got %v; want modified/malformed at %v", name, p, img.pos(k))
		}
		if rep.LastSeq != uint64(k) {
			t.Errorf("%s: verified up to %d; want %d", name, rep.LastSeq, k)
		}
	}
}

func TestVerifyDetectsDeletion(t *testing.T) {
	t.Parallel()
	_, img := bigLog(t)
	for _, k := range positions(img, 40, 2) {
		r := img.recs[k]
		data := splice(img.files[r.file], int(r.off), r.len, nil)
		rep := verifyImage(t, img.mapFS(map[int][]byte{r.file: data}))
		seq := r.rec.Seq
		if k == len(img.recs)-1 {
			// The closing checkpoint is gone: the records before it are unsigned.
			if rep.Problem != nil || rep.Unsigned == 0 || rep.LastSeq != seq-1 || rep.Err() == nil {
				t.Errorf("delete last: problem %v unsigned %d last %d; want unsigned records up to %d", rep.Problem, rep.Unsigned, rep.LastSeq, seq-1)
			}
			continue
		}
		want := img.pos(k + 1)
		if img.recs[k+1].file == r.file {
			want = img.pos(k)
		}
		p := rep.Problem
		if p == nil || p.Kind != Deleted || p.Seq != seq || p.ToSeq != seq || p.At.File != want.File || p.At.Line != want.Line {
			t.Errorf("delete seq %d: got %v; want deleted %d..%d before %s line %d", seq, p, seq, seq, want.File, want.Line)
		}
	}
	// A run of records.
	r := img.recs[500]
	data := splice(img.files[r.file], int(r.off), int(img.recs[510].off-r.off), nil)
	p := verifyImage(t, img.mapFS(map[int][]byte{r.file: data})).Problem
	if p == nil || p.Kind != Deleted || p.Seq != 501 || p.ToSeq != 510 {
		t.Errorf("delete 501..510: got %v", p)
	}
	// A whole segment.
	p = verifyImage(t, img.mapFS(map[int][]byte{1: nil})).Problem
	first := img.recs[0]
	for _, x := range img.recs {
		if x.file == 1 {
			first = x
			break
		}
	}
	if p == nil || p.Kind != Deleted || p.Seq != first.rec.Seq {
		t.Errorf("delete segment 2: got %v; want deleted from seq %d", p, first.rec.Seq)
	}
}

func TestVerifyDetectsInsertion(t *testing.T) {
	t.Parallel()
	_, img := bigLog(t)
	ks := append([]int{-1}, positions(img, 40, 3)...) // -1: before the first record
	for i, k := range ks {
		kind := KindRequest
		if i%5 == 4 {
			kind = KindCheckpoint // with a signature the intruder cannot make
		}
		var line []byte
		var file, off, wantLine int
		if k < 0 {
			line = forged(1, "", kind)
			file, off, wantLine = 0, 0, 1
		} else {
			r := img.recs[k]
			line = forged(r.rec.Seq+1, r.rec.Hash, kind)
			file, off, wantLine = r.file, int(r.off)+r.len, r.line+1
		}
		data := splice(img.files[file], off, 0, line)
		rep := verifyImage(t, img.mapFS(map[int][]byte{file: data}))
		name := fmt.Sprintf("insert %s after index %d", kind, k)
		if k == len(img.recs)-1 {
			// Appended after the closing checkpoint: no signature covers
			// it, and it lacks the MAC every record before it has.
			switch {
			case kind == KindCheckpoint && (rep.Problem == nil || rep.Problem.Kind != BadSignature):
				t.Errorf("%s: got %v; want a bad signature", name, rep.Problem)
			case kind != KindCheckpoint && (rep.Problem == nil || rep.Problem.Kind != BadMAC || rep.Err() == nil):
				t.Errorf("%s: problem %v unsigned %d; want a missing MAC", name, rep.Problem, rep.Unsigned)
			}
			continue
		}
		p := rep.Problem
		wantKind := Inserted
		if kind == KindCheckpoint {
			wantKind = BadSignature
		}
		if p == nil || p.Kind != wantKind || p.At.File != img.names[file] || p.At.Line != wantLine {
			t.Errorf("%s: got %v; want %s at %s line %d", name, p, wantKind, img.names[file], wantLine)
		}
	}
	// An exact copy of a record.
	r := img.recs[4321]
	data := splice(img.files[r.file], int(r.off)+r.len, 0, img.lineBytes(4321))
	p := verifyImage(t, img.mapFS(map[int][]byte{r.file: data})).Problem
	if p == nil || p.Kind != Inserted || p.Seq != r.rec.Seq || p.At.Line != r.line+1 {
		t.Errorf("duplicate of seq %d: got %v; want inserted at line %d", r.rec.Seq, p, r.line+1)
	}
}

func TestVerifyDetectsReordering(t *testing.T) {
	t.Parallel()
	_, img := bigLog(t)
	rng := rand.New(rand.NewPCG(4, 4))
	ks := positions(img, 40, 4)
	for i, a := range ks {
		b := a + 1 // adjacent swaps, and some far apart
		if i%2 == 1 {
			b = a + 1 + rng.IntN(len(img.recs)-a)
		}
		if b >= len(img.recs) {
			a, b = len(img.recs)-2, len(img.recs)-1
		}
		ra, rb := img.recs[a], img.recs[b]
		files := map[int][]byte{}
		if ra.file == rb.file {
			data := splice(img.files[ra.file], int(rb.off), rb.len, img.lineBytes(a))
			files[ra.file] = splice(data, int(ra.off), ra.len, img.lineBytes(b))
		} else {
			files[ra.file] = splice(img.files[ra.file], int(ra.off), ra.len, img.lineBytes(b))
			files[rb.file] = splice(img.files[rb.file], int(rb.off), rb.len, img.lineBytes(a))
		}
		p := verifyImage(t, img.mapFS(files)).Problem
		if p == nil || p.Kind != Reordered || p.Seq != rb.rec.Seq || p.At.File != img.names[ra.file] || p.At.Line != ra.line {
			t.Errorf("swap seq %d and %d: got %v; want seq %d reordered at %s line %d", ra.rec.Seq, rb.rec.Seq, p,
				rb.rec.Seq, img.names[ra.file], ra.line)
		}
	}
}

func TestVerifyDetectsTruncation(t *testing.T) {
	t.Parallel()
	_, img := bigLog(t)
	last := len(img.names) - 1
	rng := rand.New(rand.NewPCG(5, 5))
	for range 30 {
		// Somewhere inside a record of the last segment: a torn tail.
		var k int
		for k = rng.IntN(len(img.recs)); img.recs[k].file != last; k = rng.IntN(len(img.recs)) {
		}
		r := img.recs[k]
		cut := 1 + rng.IntN(r.len-1)
		rep := verifyImage(t, img.mapFS(map[int][]byte{last: img.files[last][:r.off+int64(cut)]}))
		if rep.Problem != nil || rep.Torn == nil || rep.Torn.At != img.pos(k) || rep.Torn.Bytes != int64(cut) ||
			rep.LastSeq != r.rec.Seq-1 || rep.Err() == nil {
			t.Errorf("cut seq %d after %d bytes: problem %v torn %+v last %d; want torn %d bytes at %v after seq %d",
				r.rec.Seq, cut, rep.Problem, rep.Torn, rep.LastSeq, cut, img.pos(k), r.rec.Seq-1)
		}
		// At a record boundary: unsigned records, unless the cut falls right
		// after a checkpoint (see below).
		rep = verifyImage(t, img.mapFS(map[int][]byte{last: img.files[last][:r.off]}))
		if k > 0 && img.recs[k-1].rec.Kind != KindCheckpoint {
			if rep.Problem != nil || rep.Unsigned == 0 || rep.LastSeq != r.rec.Seq-1 || rep.Err() == nil {
				t.Errorf("cut before seq %d: problem %v unsigned %d last %d", r.rec.Seq, rep.Problem, rep.Unsigned, rep.LastSeq)
			}
		}
	}
	// Inside a middle segment: an incomplete line where the log goes on.
	r := img.recs[10]
	rep := verifyImage(t, img.mapFS(map[int][]byte{0: img.files[0][:r.off+5]}))
	if p := rep.Problem; p == nil || p.Kind != Malformed || p.At != img.pos(10) {
		t.Errorf("cut segment 1 inside seq 11: got %v; want malformed at %v", p, img.pos(10))
	}
	// Right after a checkpoint the shorter log verifies: the rollback shows
	// only in the head, which an auditor compares with one recorded earlier.
	for k, x := range img.recs {
		if x.rec.Kind == KindCheckpoint && x.file == last && k < len(img.recs)-1 {
			rep := verifyImage(t, img.mapFS(map[int][]byte{last: img.files[last][:x.off+int64(x.len)]}))
			if rep.Err() != nil || rep.LastSeq != x.rec.Seq || rep.Head != x.rec.Hash {
				t.Errorf("cut after checkpoint %d: err %v last %d; want a clean log ending at %d", x.rec.Seq, rep.Err(), rep.LastSeq, x.rec.Seq)
			}
			break
		}
	}
}

func TestVerifyDetectsRewrites(t *testing.T) {
	t.Parallel()
	_, img := bigLog(t)
	// Edit a record and recompute its hash: the next link breaks.
	for _, k := range []int{0, 2500, 7777, len(img.recs) - 2} {
		r := img.recs[k]
		rec := r.rec
		rec.Tenant = "someone-else"
		rec.Hash = rec.ComputeHash()
		line, _ := encodeLine(&rec)
		data := splice(img.files[r.file], int(r.off), r.len, line)
		p := verifyImage(t, img.mapFS(map[int][]byte{r.file: data})).Problem
		if p == nil || p.Kind != ChainBreak || p.Seq != rec.Seq || p.At != img.pos(k) {
			t.Errorf("rehashed seq %d: got %v; want chain-break at %v", rec.Seq, p, img.pos(k))
		}
	}

	// Delete a record and renumber and rehash everything after it: the
	// chain is consistent, the next checkpoint signature is not.
	del := 4242
	files := map[int][]byte{}
	prev := img.recs[del-1].rec.Hash
	wantAt := Position{}
	for k := del + 1; k < len(img.recs); k++ {
		r := img.recs[k]
		rec := r.rec
		rec.Seq--
		rec.Prev = prev
		rec.Hash = rec.ComputeHash()
		prev = rec.Hash
		line, _ := encodeLine(&rec)
		files[r.file] = append(files[r.file], line...)
		if rec.Kind == KindCheckpoint && wantAt.File == "" {
			wantAt = Position{File: img.names[r.file], Line: r.line, Offset: r.off}
			if r.file == img.recs[del].file {
				wantAt.Line--
				wantAt.Offset -= int64(img.recs[del].len)
			}
		}
	}
	for f, data := range files {
		var head []byte
		for k := range img.recs {
			if img.recs[k].file == f && k < del {
				head = img.files[f][:img.recs[k].off+int64(img.recs[k].len)]
			}
		}
		files[f] = append(append([]byte(nil), head...), data...)
	}
	p := verifyImage(t, img.mapFS(files)).Problem
	if p == nil || p.Kind != BadSignature || p.At != wantAt {
		t.Errorf("renumbered log: got %v; want a bad signature at %v", p, wantAt)
	}

	// The wrong public key fails at the first checkpoint.
	rep, err := verifyFS(img.mapFS(nil), testID(2).Public, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.Problem; p == nil || p.Kind != BadSignature || p.Seq != DefaultCheckpointEvery+1 {
		t.Errorf("wrong key: got %v; want a bad signature at seq %d", p, DefaultCheckpointEvery+1)
	}
}

func TestVerifyFrom(t *testing.T) {
	t.Parallel()
	_, img := bigLog(t)
	pub := testID(1).Public
	// Damage before the range is not looked at; damage inside it is found.
	r := img.recs[9]
	data := append([]byte(nil), img.files[r.file]...)
	data[r.off+3] ^= 0x20
	fsys := img.mapFS(map[int][]byte{r.file: data})
	for _, tc := range []struct {
		from     uint64
		wantSeq  uint64 // 0: clean
		wantKind ProblemKind
	}{
		{0, 10, Modified},
		{1, 10, Modified},
		{10, 10, Modified},
		{11, 0, ""},
		{9000, 0, ""},
	} {
		rep, err := verifyFS(fsys, pub, VerifyOptions{From: tc.from})
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case tc.wantSeq == 0 && rep.Err() != nil:
			t.Errorf("from %d: %v; want clean", tc.from, rep.Err())
		case tc.wantSeq == 0 && rep.FirstSeq != tc.from:
			t.Errorf("from %d: first seq %d", tc.from, rep.FirstSeq)
		case tc.wantSeq != 0 && (rep.Problem == nil || rep.Problem.Kind != tc.wantKind || rep.Problem.At != img.pos(9)):
			t.Errorf("from %d: got %v; want %s at %v", tc.from, rep.Problem, tc.wantKind, img.pos(9))
		}
	}
	// A record deleted right at the start of the range.
	r = img.recs[6999]
	fsys = img.mapFS(map[int][]byte{r.file: splice(img.files[r.file], int(r.off), r.len, nil)})
	rep, err := verifyFS(fsys, pub, VerifyOptions{From: 7000})
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.Problem; p == nil || p.Kind != Deleted || p.Seq != 7000 {
		t.Errorf("from 7000 with 7000 deleted: got %v", p)
	}
}

// TestVerifyEveryByte flips every single byte of a small log, each in two
// ways, and expects each change to be found at the line it was made in.
func TestVerifyEveryByte(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeLog(t, dir, testID(1), 10, Options{CheckpointEvery: 4, SegmentBytes: 4 << 10})
	img := loadImage(t, dir)
	if len(img.names) < 2 {
		t.Fatalf("%d segments; want at least 2", len(img.names))
	}
	checked := 0
	for k, r := range img.recs {
		for b := range r.len {
			for _, x := range []byte{0x01 << (b % 8), 0x80 | byte(b*7)} {
				data := append([]byte(nil), img.files[r.file]...)
				data[r.off+int64(b)] ^= x
				rep := verifyImage(t, img.mapFS(map[int][]byte{r.file: data}))
				checked++
				if k == len(img.recs)-1 && b == r.len-1 {
					if rep.Torn == nil || rep.Torn.At != img.pos(k) {
						t.Errorf("seq %d newline: torn %+v problem %v; want a torn tail", r.rec.Seq, rep.Torn, rep.Problem)
					}
					continue
				}
				if p := rep.Problem; p == nil || p.At != img.pos(k) {
					t.Errorf("seq %d byte %d ^%#x: got %v; want a problem at %v", r.rec.Seq, b, x, p, img.pos(k))
				}
			}
		}
	}
	t.Logf("%d single-byte changes checked", checked)
}

// memAnchor is an Anchor in memory, as the node's database keeps it.
type memAnchor struct {
	mu sync.Mutex
	h  map[string]Head
}

func (a *memAnchor) LoadAnchor(_ context.Context, node string) (Head, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, ok := a.h[node]
	return h, ok, nil
}

func (a *memAnchor) SaveAnchor(_ context.Context, node string, h Head) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.h == nil {
		a.h = map[string]Head{}
	}
	a.h[node] = h
	return nil
}

// crash drops an open log without Close, as a killed process leaves it.
func crash(l *Log) {
	l.stopOnce.Do(func() { close(l.stop) })
	l.bg.Wait()
	l.seg.f.Close()
	l.unlock()
}

// TestAnchorShowsTruncation: an emptied segment, or a log cut back to an
// older checkpoint, verifies on its own (the chain and the signatures
// before the cut are intact) but not against the head the database
// anchored; Open refuses to continue it; verify says what is missing.
func TestAnchorShowsTruncation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cut    func(img *logImage) []byte // the segment's new content
		wantTo uint64
	}{
		{"emptied segment", func(img *logImage) []byte { return []byte{} }, 0},
		{"back to an older checkpoint", func(img *logImage) []byte {
			// Keep up to the second-to-last checkpoint.
			cps := 0
			for k := len(img.recs) - 1; k >= 0; k-- {
				if img.recs[k].rec.Kind == KindCheckpoint {
					if cps++; cps == 2 {
						r := img.recs[k]
						return img.files[0][:r.off+int64(r.len)]
					}
				}
			}
			panic("no second checkpoint")
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			anchor := &memAnchor{}
			writeLog(t, dir, testID(1), 120, Options{CheckpointEvery: 25, Anchor: anchor})
			a, ok, _ := anchor.LoadAnchor(context.Background(), testID(1).ID)
			img := loadImage(t, dir)
			last := img.recs[len(img.recs)-1].rec
			if !ok || a.Seq != last.Seq || a.Hash != last.Hash {
				t.Fatalf("anchor %+v; want the closing checkpoint seq %d", a, last.Seq)
			}
			if err := os.WriteFile(filepath.Join(dir, img.names[0]), tc.cut(img), 0o600); err != nil {
				t.Fatal(err)
			}
			// Without the anchor the shortened log looks fine: the hole
			// this closes.
			if rep, err := Verify(dir, testID(1).Public, 0); err != nil || rep.Err() != nil {
				t.Fatalf("verify without the anchor: %v %v", err, rep.Err())
			}
			rep, err := VerifyWith(dir, testID(1).Public, VerifyOptions{Anchor: &a})
			if err != nil {
				t.Fatal(err)
			}
			p := rep.Problem
			if p == nil || p.Kind != Truncated || p.ToSeq != a.Seq || p.Seq != rep.LastSeq+1 || rep.Err() == nil {
				t.Fatalf("verify with the anchor: %v; want records %d..%d missing", p, rep.LastSeq+1, a.Seq)
			}
			if !strings.Contains(p.Error(), "missing") || !strings.Contains(p.Error(), strconv.FormatUint(a.Seq, 10)) {
				t.Errorf("problem %q does not say what is missing", p.Error())
			}
			before, _ := os.ReadFile(filepath.Join(dir, img.names[0]))
			if _, err := Open(dir, testID(1), Options{Anchor: anchor, NoSync: true}); err == nil || !strings.Contains(err.Error(), "anchored") {
				t.Fatalf("Open of the shortened log: %v; want a refusal naming the anchor", err)
			}
			if now, _ := os.ReadFile(filepath.Join(dir, img.names[0])); !bytes.Equal(now, before) {
				t.Error("the refused Open changed the segment")
			}
		})
	}
}

// TestAnchorShowsRewrite: a log cut back and rewritten past the anchored
// seq has another record where the anchored one was.
func TestAnchorShowsRewrite(t *testing.T) {
	dir := t.TempDir()
	anchor := &memAnchor{}
	writeLog(t, dir, testID(1), 30, Options{CheckpointEvery: 10, Anchor: anchor})
	a, _, _ := anchor.LoadAnchor(context.Background(), testID(1).ID)
	img := loadImage(t, dir)
	k := int(a.Seq) - 1
	r := img.recs[k]
	// Replace the anchored (closing) checkpoint by a forged record.
	data := splice(img.files[0], int(r.off), r.len, forged(r.rec.Seq, r.rec.Prev, KindRequest))
	rep, err := verifyFS(img.mapFS(map[int][]byte{0: data}), testID(1).Public, VerifyOptions{Anchor: &a})
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.Problem; p == nil || p.Kind != Truncated || p.Seq != a.Seq {
		t.Errorf("problem %v; want seq %d not the anchored record", p, a.Seq)
	}
}

// TestNewLogNamesReplacedAnchor: a log directory with no segment at all
// (moved aside) starts a new log whose first record names the anchor of
// the old one, and verify shows it.
func TestNewLogNamesReplacedAnchor(t *testing.T) {
	dir := t.TempDir()
	anchor := &memAnchor{}
	writeLog(t, dir, testID(1), 10, Options{Anchor: anchor})
	old, _, _ := anchor.LoadAnchor(context.Background(), testID(1).ID)
	segs, _ := listSegments(os.DirFS(dir))
	for _, s := range segs {
		os.Remove(filepath.Join(dir, s.name))
	}
	writeLog(t, dir, testID(1), 3, Options{Anchor: anchor})
	now, _, _ := anchor.LoadAnchor(context.Background(), testID(1).ID)
	rep, err := VerifyWith(dir, testID(1).Public, VerifyOptions{Anchor: &now})
	if err != nil || rep.Err() != nil {
		t.Fatalf("new log: %v %v", err, rep.Err())
	}
	if len(rep.Replaced) != 1 || rep.Replaced[0].Seq != 1 || rep.Replaced[0].Detail["replaced_seq"] != strconv.FormatUint(old.Seq, 10) {
		t.Errorf("replaced %+v; want seq 1 naming the old head seq %d", rep.Replaced, old.Seq)
	}
}

// TestUnsignedTailMACs: after an unclean stop the records after the last
// checkpoint are signed on open only if their MACs hold; forged ones (no
// MAC, a wrong MAC, or chained on a forged one) are moved to quarantine
// and recorded instead. A log from before MACs is signed as before.
func TestUnsignedTailMACs(t *testing.T) {
	garbageMAC := func(seq uint64, prev string) []byte {
		r := Record{Seq: seq, Time: time.Date(2026, 11, 28, 12, 0, 1, 0, time.UTC), Kind: KindRequest, Tenant: "intruder", Prev: prev,
			Mac: strings.Repeat("ab", 32)}
		r.Hash = r.ComputeHash()
		line, _ := encodeLine(&r)
		return line
	}
	for _, tc := range []struct {
		name   string
		premac bool // the log was written before MACs
		forge  func(seq uint64, prev string) []byte
		forged int // records expected in quarantine, besides the one chained on the first
		reason string
	}{
		{"genuine tail", false, nil, 0, ""},
		{"forged without a MAC", false, func(s uint64, p string) []byte { return forged(s, p, KindRequest) }, 1, "no MAC"},
		{"forged with a wrong MAC", false, garbageMAC, 1, "does not verify"},
		{"before MACs", true, nil, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			clk := newClock()
			l, err := Open(dir, testID(1), Options{Now: clk.Now, NoSync: true, SpoolInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			if tc.premac {
				l.mac = nil
			}
			l.Append(ctx, Record{Kind: KindRequest})
			l.Checkpoint(ctx)
			for range 5 {
				l.Append(ctx, Record{Kind: KindRequest})
			}
			seq, head := l.Head()
			crash(l)
			seg := filepath.Join(dir, segmentName(1))
			clean, _ := os.ReadFile(seg)
			data := clean
			if tc.forge != nil {
				first := tc.forge(seq+1, head)
				var r Record
				json.Unmarshal(first[:len(first)-1], &r)
				// and one more chained on it
				data = append(append(append([]byte(nil), clean...), first...), forged(seq+2, r.Hash, KindRequest)...)
				os.WriteFile(seg, data, 0o600)
				tc.forged++
			}
			var logs bytes.Buffer
			l, err = Open(dir, testID(1), Options{Now: clk.Now, NoSync: true, SpoolInterval: -1,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			rec := l.Recovery()
			switch {
			case rec == nil:
				t.Fatal("no recovery after an unclean stop")
			case tc.forge == nil && rec.Forged != nil:
				t.Errorf("genuine tail quarantined: %+v", rec.Forged)
			case tc.forge != nil && (rec.Forged == nil || rec.Forged.Records != tc.forged || rec.Forged.FirstSeq != seq+1 ||
				!strings.Contains(rec.Forged.Reason, tc.reason)):
				t.Errorf("forged %+v; want %d records from seq %d (%s)", rec.Forged, tc.forged, seq+1, tc.reason)
			}
			if tc.forge != nil {
				q, err := os.ReadFile(rec.Quarantine)
				if err != nil || !bytes.Equal(q, data[len(clean):]) {
					t.Errorf("quarantine %s holds %q (%v); want the forged lines", rec.Quarantine, q, err)
				}
				if !strings.Contains(logs.String(), "MAC") {
					t.Errorf("no log line about the MAC failure: %s", logs.String())
				}
			}
			l.Close()
			rep, err := VerifyWith(dir, testID(1).Public, VerifyOptions{MACKey: MACKey(testID(1))})
			if err != nil || rep.Err() != nil {
				t.Fatalf("after recovery: %v %v", err, rep.Err())
			}
			for _, r := range loadImage(t, dir).recs {
				if r.rec.Tenant == "intruder" {
					t.Errorf("forged record seq %d was signed into the log", r.rec.Seq)
				}
			}
			if tc.premac && rep.NoMAC < 7 {
				t.Errorf("no-MAC records %d; want the 7 written before MACs", rep.NoMAC)
			}
		})
	}
}
