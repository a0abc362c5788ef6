package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/internal/testclock"
)

// testID is a fixed node identity, so failures reproduce.
func testID(seed byte) *identity.Identity {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	return &identity.Identity{ID: identity.NodeID(pub), Public: pub, Private: priv}
}

// newClock returns a settable clock at a fixed time, so failures reproduce.
func newClock() *testclock.Clock {
	return testclock.New(time.Date(2026, 11, 28, 12, 0, 0, 123456789, time.UTC))
}

func hashText(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// sampleRecord is a plausible request or admin record.
func sampleRecord(rng *rand.Rand, i int) Record {
	r := Record{
		Kind:             KindRequest,
		Tenant:           fmt.Sprintf("tenant-%d", rng.IntN(7)),
		KeyID:            fmt.Sprintf("key-%04x", rng.IntN(1<<16)),
		Model:            []string{"llama3.2:1b", "qwen2.5:0.5b", "stories260k:latest"}[rng.IntN(3)],
		Jurisdiction:     []string{"KE", "KE-NBO", "EU", "DE"}[rng.IntN(4)],
		Decision:         "allow",
		ResponseID:       fmt.Sprintf("chatcmpl-%d", i),
		PromptTokens:     rng.IntN(4000),
		CompletionTokens: rng.IntN(1000),
		PromptHash:       hashText(fmt.Sprint("prompt", i)),
		OutputHash:       hashText(fmt.Sprint("output", i)),
	}
	switch rng.IntN(10) {
	case 0:
		r.Kind, r.Decision, r.Reason = KindAdmin, "", "create key"
		r.Detail = map[string]string{"action": "keys.create", "name": "ci <&> \"runner\"", "scopes": "inference,feedback"}
	case 1:
		r.Decision, r.Reason = "deny", "model not allowed for tenant"
	}
	return r
}

// writeLog appends n sample records to a new log in dir with NoSync.
func writeLog(t testing.TB, dir string, id *identity.Identity, n int, opts Options) {
	t.Helper()
	opts.NoSync = true
	if opts.Now == nil {
		clk := newClock()
		opts.Now = func() time.Time { clk.Add(time.Millisecond); return clk.Now() }
	}
	l, err := Open(dir, id, opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		if _, err := l.Append(context.Background(), sampleRecord(rng, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// logImage is a log held in memory, to tamper with and verify without
// touching the disk.
type logImage struct {
	names []string
	files [][]byte
	recs  []imgRec // in log order; recs[k-1] is seq k in the clean log
}

type imgRec struct {
	rec  Record
	file int   // index in names
	line int   // 1-based
	off  int64 // offset of the line
	len  int   // bytes including the newline
}

func loadImage(t testing.TB, dir string) *logImage {
	t.Helper()
	segs, err := listSegments(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	img := &logImage{}
	for fi, s := range segs {
		data, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil {
			t.Fatal(err)
		}
		img.names = append(img.names, s.name)
		img.files = append(img.files, data)
		off := 0
		for line := 1; off < len(data); line++ {
			n := bytes.IndexByte(data[off:], '\n') + 1
			r, err := decodeLine(data[off : off+n-1])
			if err != nil {
				t.Fatal(err)
			}
			img.recs = append(img.recs, imgRec{rec: r, file: fi, line: line, off: int64(off), len: n})
			off += n
		}
	}
	return img
}

// mapFS returns the image with some files replaced.
func (img *logImage) mapFS(replace map[int][]byte) fstest.MapFS {
	m := fstest.MapFS{}
	for i, name := range img.names {
		data := img.files[i]
		if r, ok := replace[i]; ok {
			data = r
		}
		if data == nil {
			continue
		}
		m[name] = &fstest.MapFile{Data: data, Mode: 0o600}
	}
	return m
}

func (img *logImage) pos(k int) Position { // k: index into recs
	r := img.recs[k]
	return Position{File: img.names[r.file], Line: r.line, Offset: r.off}
}

func (img *logImage) lineBytes(k int) []byte {
	r := img.recs[k]
	return img.files[r.file][r.off : r.off+int64(r.len)]
}

func splice(data []byte, off, cut int, insert []byte) []byte {
	out := make([]byte, 0, len(data)-cut+len(insert))
	out = append(out, data[:off]...)
	out = append(out, insert...)
	return append(out, data[off+cut:]...)
}

// forged is a record with a correct hash chained after prev, as someone
// without the node key could write.
func forged(seq uint64, prev string, kind string) []byte {
	r := Record{Seq: seq, Time: time.Date(2026, 11, 28, 12, 0, 1, 0, time.UTC), Kind: kind, Tenant: "intruder",
		Model: "llama3.2:1b", PromptTokens: 1, Prev: prev}
	if kind == KindCheckpoint {
		r.Sig = hex.EncodeToString(make([]byte, ed25519.SignatureSize))
	}
	r.Hash = r.ComputeHash()
	line, _ := encodeLine(&r)
	return line
}
