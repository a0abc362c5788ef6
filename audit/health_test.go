package audit

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// faultFS opens segment files that fail their writes or fsyncs while told
// to, as a full or read-only filesystem would.
type faultFS struct {
	failWrite, failSync atomic.Bool
	mu                  sync.Mutex
	opens               int
}

func (ff *faultFS) open(name string, flag int, perm os.FileMode) (segmentFile, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	ff.mu.Lock()
	ff.opens++
	ff.mu.Unlock()
	return &faultFile{File: f, ff: ff}, nil
}

type faultFile struct {
	*os.File
	ff *faultFS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if f.ff.failWrite.Load() {
		return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	if f.ff.failSync.Load() {
		return &os.PathError{Op: "fsync", Path: f.Name(), Err: syscall.EIO}
	}
	return f.File.Sync()
}

// TestFailClosedAndRecover: when a record cannot be written or synced the
// log refuses appends up front (Preflight, Append) with an error wrapping
// ErrUnavailable that names the log, says so in Healthy and Stats, reopens
// by itself once writes succeed again, and writes a gap record saying when
// it failed, when it recovered and how many operations it refused; the
// log then verifies, gap included.
func TestFailClosedAndRecover(t *testing.T) {
	for _, fault := range []string{"write", "fsync"} {
		t.Run(fault, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			ff := &faultFS{}
			l, err := Open(dir, testID(1), Options{openFile: ff.open, ProbeInterval: 5 * time.Millisecond, ProbeMax: 20 * time.Millisecond,
				SpoolInterval: -1, CheckpointInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for i := range 5 {
				if _, err := l.Append(ctx, Record{Kind: KindRequest, ResponseID: strconv.Itoa(i)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Healthy(); err != nil || !l.Stats().Healthy {
				t.Fatalf("healthy log: %v", err)
			}
			if fault == "write" {
				ff.failWrite.Store(true)
			} else {
				ff.failSync.Store(true)
			}
			_, err = l.Append(ctx, Record{Kind: KindAdmin, Reason: "key.create"})
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("append on a failing file: %v; want ErrUnavailable", err)
			}
			// Known failed: refused up front, and counted.
			for range 3 {
				if err := l.Preflight(); !errors.Is(err, ErrUnavailable) || !containsAll(err.Error(), dir, "audit log") {
					t.Fatalf("Preflight: %v; want ErrUnavailable naming %s", err, dir)
				}
			}
			if _, err := l.Append(ctx, Record{Kind: KindRequest}); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("append while failed: %v", err)
			}
			if err := l.Healthy(); err == nil {
				t.Fatal("Healthy is nil while failed")
			}
			st := l.Stats()
			if st.Healthy || st.AppendFailures != 2 {
				t.Errorf("stats %+v; want unhealthy with 2 append failures", st)
			}
			// Still failing: the probe keeps trying and the log stays failed.
			time.Sleep(50 * time.Millisecond)
			if l.Healthy() == nil {
				t.Fatal("the log recovered while writes still fail")
			}
			ff.failWrite.Store(false)
			ff.failSync.Store(false)
			deadline := time.Now().Add(5 * time.Second)
			for l.Healthy() != nil {
				if time.Now().After(deadline) {
					t.Fatalf("the log did not recover within 5s: %v", l.Healthy())
				}
				time.Sleep(5 * time.Millisecond)
			}
			if _, err := l.Append(ctx, Record{Kind: KindRequest, ResponseID: "after"}); err != nil {
				t.Fatalf("append after recovery: %v", err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			rep, err := VerifyWith(dir, testID(1).Public, VerifyOptions{MACKey: MACKey(testID(1))})
			if err != nil || rep.Err() != nil {
				t.Fatalf("verify after recovery: %v %v", err, rep.Err())
			}
			if len(rep.Gaps) != 1 {
				t.Fatalf("gaps %+v; want 1", rep.Gaps)
			}
			g := rep.Gaps[0].Detail
			if g["refused"] != "4" || g["failed_at"] == "" || g["recovered_at"] == "" || g["failed"] != "1" {
				t.Errorf("gap record %v; want 4 refused (3 preflights, 1 append), 1 failed, both times", g)
			}
			if fault == "fsync" && (g["unconfirmed_from"] != "6" || g["unconfirmed_to"] != "6") {
				// The key.create line reached the file; its caller was told it failed.
				t.Errorf("gap record %v; want seq 6 unconfirmed", g)
			}
		})
	}
}

// TestFailedWriteTornLineQuarantined: a write that failed half way leaves
// a partial line; the probe moves it aside before continuing the chain.
func TestFailedWriteTornLineQuarantined(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var fail atomic.Bool
	old := writeLine
	writeLine = func(f segmentFile, line []byte) (int, error) {
		if fail.Load() {
			n, _ := f.Write(line[:len(line)/2])
			return n, syscall.EIO
		}
		return f.Write(line)
	}
	defer func() { writeLine = old }()
	l, err := Open(dir, testID(1), Options{ProbeInterval: 5 * time.Millisecond, SpoolInterval: -1, CheckpointInterval: -1, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	l.Append(ctx, Record{Kind: KindRequest})
	fail.Store(true)
	if _, err := l.Append(ctx, Record{Kind: KindRequest}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("torn write: %v", err)
	}
	time.Sleep(30 * time.Millisecond) // probes fail on the half-written gap record too
	fail.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for l.Healthy() != nil {
		if time.Now().After(deadline) {
			t.Fatal("no recovery")
		}
		time.Sleep(5 * time.Millisecond)
	}
	l.Close()
	rep := mustVerify(t, dir)
	if len(rep.Gaps) == 0 || rep.Gaps[0].Detail["torn_bytes"] == "" {
		t.Errorf("gaps %+v; want one naming the torn bytes", rep.Gaps)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestFailClosedUnderLoad: concurrent appenders meet an fsync failure;
// every Append either succeeds before it or fails with ErrUnavailable, the
// log recovers, and the chain verifies.
func TestFailClosedUnderLoad(t *testing.T) {
	dir := t.TempDir()
	ff := &faultFS{}
	l, err := Open(dir, testID(1), Options{openFile: ff.open, ProbeInterval: 2 * time.Millisecond, SpoolInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var ok, refused atomic.Int64
	stop := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, err := l.Append(context.Background(), Record{Kind: KindRequest})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrUnavailable):
					refused.Add(1)
				default:
					t.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	ff.failSync.Store(true)
	time.Sleep(20 * time.Millisecond)
	ff.failSync.Store(false)
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep := mustVerify(t, dir)
	if rep.Err() != nil || len(rep.Gaps) == 0 || ok.Load() == 0 || refused.Load() == 0 {
		t.Fatalf("verify %v, gaps %d, appended %d, refused %d", rep.Err(), len(rep.Gaps), ok.Load(), refused.Load())
	}
}
