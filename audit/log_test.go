package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustVerify(t *testing.T, dir string) *Report {
	t.Helper()
	rep, err := Verify(dir, testID(1).Public, 0)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestAppendAssignsChainFields(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	l, err := Open(dir, testID(1), Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := l.Append(ctx, Record{Kind: KindRequest, Tenant: "t1", Model: "m", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("EAT", 3*3600))})
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Append(ctx, Record{Kind: KindAdmin, Detail: map[string]string{"action": "tenants.create", "bad\xffutf8": "x\xfe"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Seq != 1 || a.Prev != "" || a.Hash != a.ComputeHash() || a.Node != testID(1).ID {
		t.Errorf("first record %+v: want seq 1, empty prev, own hash, node %s", a, testID(1).ID)
	}
	if a.Time.Location() != time.UTC || !a.Time.Equal(time.Date(2026, 1, 2, 0, 4, 5, 6, time.UTC)) {
		t.Errorf("time %v; want the given instant in UTC", a.Time)
	}
	if b.Seq != 2 || b.Prev != a.Hash || !b.Time.Equal(clk.Now()) {
		t.Errorf("second record seq %d prev %.8s time %v; want 2, %.8s, %v", b.Seq, b.Prev, b.Time, a.Hash, clk.Now())
	}
	if b.Detail["bad\uFFFDutf8"] != "x\uFFFD" {
		t.Errorf("detail %q; want invalid UTF-8 replaced", b.Detail)
	}
	if seq, head := l.Head(); seq != 2 || head != b.Hash {
		t.Errorf("Head() = %d, %.8s; want 2, %.8s", seq, head, b.Hash)
	}
	for _, bad := range []Record{{}, {Kind: KindCheckpoint}, {Kind: KindRecovery}, {Kind: KindRequest, Sig: "00"},
		{Kind: KindRequest, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		if _, err := l.Append(ctx, bad); err == nil {
			t.Errorf("Append(%+v) succeeded; want an error", bad)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.Append(cancelled, Record{Kind: KindRequest}); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.Append(ctx, Record{Kind: KindRequest}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v; want ErrClosed", err)
	}
	rep := mustVerify(t, dir)
	if err := rep.Err(); err != nil || rep.Records != 3 || rep.Checkpoints != 1 {
		t.Errorf("verify: %v, %d records, %d checkpoints; want clean, 3, 1 (the close checkpoint)", err, rep.Records, rep.Checkpoints)
	}
}

func TestCheckpointsByCountIntervalAndClose(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	ctx := context.Background()
	l, err := Open(dir, testID(1), Options{Now: clk.Now, CheckpointEvery: 5, CheckpointInterval: time.Hour, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	kinds := func() string {
		var sb strings.Builder
		var buf bytes.Buffer
		if _, err := Export(dir, &buf, 0, 0); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			r, err := decodeLine([]byte(line))
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind == KindCheckpoint {
				sb.WriteString("C(" + r.Reason + ")")
			} else {
				sb.WriteString("r")
			}
		}
		return sb.String()
	}
	for range 7 {
		if _, err := l.Append(ctx, Record{Kind: KindRequest}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := kinds(), "rrrrrC(count)rr"; got != want {
		t.Errorf("after 7 records: %s; want %s", got, want)
	}
	// Idle time does nothing until the interval has passed.
	clk.Add(59 * time.Minute)
	if err := l.CheckpointIfDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(), "rrrrrC(count)rr"; got != want {
		t.Errorf("before the interval: %s; want %s", got, want)
	}
	clk.Add(time.Minute)
	if err := l.CheckpointIfDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(), "rrrrrC(count)rrC(interval)"; got != want {
		t.Errorf("after the interval: %s; want %s", got, want)
	}
	// No new records: no new checkpoint, however long it waits.
	clk.Add(5 * time.Hour)
	if err := l.CheckpointIfDue(ctx); err != nil {
		t.Fatal(err)
	}
	// An append after the interval is followed by a checkpoint at once.
	if _, err := l.Append(ctx, Record{Kind: KindRequest}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(), "rrrrrC(count)rrC(interval)rC(interval)"; got != want {
		t.Errorf("after close: %s; want %s", got, want)
	}
	l, err = Open(dir, testID(1), Options{Now: clk.Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if l.Recovery() != nil {
		t.Errorf("reopening a cleanly closed log: recovery %+v", l.Recovery())
	}
	l.Append(ctx, Record{Kind: KindRequest})
	l.Close()
	if got, want := kinds(), "rrrrrC(count)rrC(interval)rC(interval)rC(close)"; got != want {
		t.Errorf("after reopen and close: %s; want %s", got, want)
	}
	if err := mustVerify(t, dir).Err(); err != nil {
		t.Error(err)
	}
}

func TestBackgroundIntervalCheckpoint(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, testID(1), Options{CheckpointInterval: 20 * time.Millisecond, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(context.Background(), Record{Kind: KindRequest}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if rep := mustVerify(t, dir); rep.Unsigned == 0 && rep.Checkpoints == 1 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("no interval checkpoint was written by the idle log")
}

func TestSegmentsAndReopen(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, testID(1), 300, Options{SegmentBytes: 16 << 10, CheckpointEvery: 50})
	writeLog(t, dir, testID(1), 300, Options{SegmentBytes: 16 << 10, CheckpointEvery: 50})
	segs, _ := listSegments(os.DirFS(dir))
	if len(segs) < 5 {
		t.Errorf("%d segments; want the 16 KiB limit to start several", len(segs))
	}
	for _, s := range segs {
		fi, err := os.Stat(filepath.Join(dir, s.name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 16<<10 {
			t.Errorf("%s is %d bytes; limit 16 KiB", s.name, fi.Size())
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v; want 0600", s.name, fi.Mode().Perm())
		}
	}
	rep := mustVerify(t, dir)
	if err := rep.Err(); err != nil || rep.Records != 600+12 {
		t.Errorf("verify: %v, %d records; want clean, 612", err, rep.Records)
	}
}

func TestOpenIsExclusive(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, testID(1), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, testID(1), Options{NoSync: true}); err == nil || !strings.Contains(err.Error(), "another writer") {
		t.Errorf("second Open: %v; want a lock error", err)
	}
	l.Close()
	l, err = Open(dir, testID(1), Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	l.Close()
	if _, err := Open(dir, nil, Options{}); err == nil {
		t.Error("Open without identity succeeded")
	}
}

func TestOpenRefusesAlteredTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(data []byte) []byte
		want   string
	}{
		{"flipped byte", func(d []byte) []byte { d[len(d)/2] ^= 1; return d }, "refusing to append"},
		{"deleted line", func(d []byte) []byte {
			i := bytes.IndexByte(d, '\n') + 1
			j := i + bytes.IndexByte(d[i:], '\n') + 1
			return append(d[:i:i], d[j:]...)
		}, "does not follow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeLog(t, dir, testID(1), 20, Options{})
			seg := filepath.Join(dir, segmentName(1))
			data, _ := os.ReadFile(seg)
			os.WriteFile(seg, tc.tamper(data), 0o600)
			after, _ := os.ReadFile(seg)
			_, err := Open(dir, testID(1), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v; want an error containing %q", err, tc.want)
			}
			if now, _ := os.ReadFile(seg); !bytes.Equal(now, after) {
				t.Error("Open changed the altered segment")
			}
		})
	}
	// Another node's key cannot continue the log.
	dir := t.TempDir()
	writeLog(t, dir, testID(1), 20, Options{})
	if _, err := Open(dir, testID(2), Options{}); err == nil || !strings.Contains(err.Error(), "not signed by this node") {
		t.Errorf("Open with another key: %v", err)
	}
}

func TestRecoverTornTail(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, testID(1), 30, Options{CheckpointEvery: 10})
	seg := filepath.Join(dir, segmentName(1))
	clean, _ := os.ReadFile(seg)
	torn := []byte(`{"seq":34,"time":"2026-11-28T12:00:00Z","kind":"requ`)
	if err := os.WriteFile(seg, append(append([]byte(nil), clean...), torn...), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, dir)
	if rep.Problem != nil || rep.Torn == nil || rep.Torn.Bytes != int64(len(torn)) || rep.Torn.At.Offset != int64(len(clean)) ||
		rep.LastSeq != 33 || !errors.Is(rep.Err(), ErrTornTail) {
		t.Fatalf("before recovery: problem %v torn %+v last %d err %v", rep.Problem, rep.Torn, rep.LastSeq, rep.Err())
	}

	l, err := Open(dir, testID(1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := l.Recovery()
	if rec == nil || rec.Torn == nil || rec.Torn.Bytes != int64(len(torn)) {
		t.Fatalf("Recovery() = %+v; want the torn tail", rec)
	}
	q, err := os.ReadFile(rec.Quarantine)
	if err != nil || !bytes.Equal(q, torn) {
		t.Errorf("quarantine %s holds %q, %v; want the torn bytes", rec.Quarantine, q, err)
	}
	r, err := l.Append(context.Background(), Record{Kind: KindRequest})
	if err != nil {
		t.Fatal(err)
	}
	if r.Seq != 36 { // 33, then recovery 34 and its checkpoint 35
		t.Errorf("first append after recovery has seq %d; want 36", r.Seq)
	}
	l.Close()
	rep = mustVerify(t, dir)
	if err := rep.Err(); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	var buf bytes.Buffer
	Export(dir, &buf, 34, 34)
	got, err := decodeLine(bytes.TrimSpace(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != KindRecovery || got.Detail["torn_bytes"] != "52" || got.Detail["torn_sha256"] != hashText(string(torn)) ||
		got.Detail["quarantine"] != filepath.Join("quarantine", filepath.Base(rec.Quarantine)) {
		t.Errorf("recovery record %+v", got)
	}
}

func TestRecoverUnsignedTail(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	l, err := Open(dir, testID(1), Options{Now: clk.Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		l.Append(context.Background(), Record{Kind: KindRequest})
	}
	// Simulate a crash: drop the log without Close.
	l.stopOnce.Do(func() { close(l.stop) })
	l.bg.Wait()
	l.seg.f.Close()
	l.unlock()
	rep := mustVerify(t, dir)
	if rep.Unsigned != 5 || !errors.Is(rep.Err(), ErrUnsigned) {
		t.Fatalf("after crash: unsigned %d err %v; want 5 unsigned", rep.Unsigned, rep.Err())
	}
	l, err = Open(dir, testID(1), Options{Now: clk.Now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if rec := l.Recovery(); rec == nil || rec.Unsigned != 5 || rec.Torn != nil {
		t.Errorf("Recovery() = %+v; want 5 unsigned, no torn tail", rec)
	}
	if rep := mustVerify(t, dir); rep.Err() != nil || rep.Records != 7 {
		t.Errorf("after recovery: %v, %d records; want clean, 7", rep.Err(), rep.Records)
	}
	l.Close()
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, testID(1), 50, Options{SegmentBytes: 8 << 10, CheckpointEvery: 10})
	var buf bytes.Buffer
	n, err := Export(dir, &buf, 20, 30)
	if err != nil || n != 11 {
		t.Fatalf("Export(20, 30) = %d, %v; want 11", n, err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	for i, line := range lines {
		r, err := decodeLine([]byte(line))
		if err != nil || r.Seq != uint64(20+i) || r.Hash != r.ComputeHash() {
			t.Errorf("line %d: seq %d err %v; want seq %d with a valid hash", i, r.Seq, err, 20+i)
		}
	}
	buf.Reset()
	if n, err := Export(dir, &buf, 0, 0); err != nil || n != 55 {
		t.Errorf("Export(all) = %d, %v; want 55", n, err)
	}
	if _, err := Export(t.TempDir(), &buf, 0, 0); err == nil {
		t.Error("Export of an empty directory succeeded")
	}
}

func TestDecodeLineRequiresCanonicalForm(t *testing.T) {
	r := Record{Seq: 7, Time: time.Date(2026, 11, 28, 12, 0, 0, 5000, time.UTC), Kind: KindAdmin, Reason: "a <b> & c",
		Detail: map[string]string{"z": "1", "a": "2"}}
	r.Hash = r.ComputeHash()
	line, err := encodeLine(&r)
	if err != nil {
		t.Fatal(err)
	}
	good := string(line[:len(line)-1])
	if got, err := decodeLine([]byte(good)); err != nil || got.Hash != got.ComputeHash() {
		t.Fatalf("decode of the canonical line: %v", err)
	}
	// Each variant decodes to the same values (so the hash still matches)
	// but is not the canonical encoding.
	for _, tc := range []struct{ old, new string }{
		{`"seq":7`, `"seq":7.0`},
		{`"seq":7`, `"seq": 7`},
		{`"kind":"admin"`, `"kind":"\u0061dmin"`},
		{`"kind":"admin"`, `"KIND":"admin"`},
		{`"time":"2026-11-28T12:00:00.000005Z"`, `"time":"2026-11-28T13:00:00.000005+01:00"`},
		{`"detail":{"a":"2","z":"1"}`, `"detail":{"z":"1","a":"2"}`},
		{`"prev":""`, `"prev":"","extra":1`},
		{`\u003cb\u003e`, `<b>`},
	} {
		bad := strings.Replace(good, tc.old, tc.new, 1)
		if bad == good {
			t.Fatalf("variant %q not applied to %s", tc.new, good)
		}
		if _, err := decodeLine([]byte(bad)); err == nil {
			t.Errorf("decodeLine accepted %s", bad)
		}
	}
}
