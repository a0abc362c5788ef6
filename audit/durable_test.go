package audit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestConcurrentAppends(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		t.Run(fmt.Sprintf("nosync=%v", noSync), func(t *testing.T) {
			dir := t.TempDir()
			l, err := Open(dir, testID(1), Options{NoSync: noSync, CheckpointEvery: 100, SegmentBytes: 64 << 10})
			if err != nil {
				t.Fatal(err)
			}
			const workers, each = 32, 100
			seqs := make([][]uint64, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						r, err := l.Append(context.Background(), Record{Kind: KindRequest, Tenant: fmt.Sprint("w", w), ResponseID: fmt.Sprint(i)})
						if err != nil {
							t.Error(err)
							return
						}
						seqs[w] = append(seqs[w], r.Seq)
					}
				})
			}
			wg.Wait()
			syncs := l.syncs.Load()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			seen := map[uint64]bool{}
			for w := range seqs {
				for i, s := range seqs[w] {
					if seen[s] {
						t.Fatalf("seq %d assigned twice", s)
					}
					seen[s] = true
					if i > 0 && s <= seqs[w][i-1] {
						t.Errorf("worker %d: seq %d after %d", w, s, seqs[w][i-1])
					}
				}
			}
			rep := mustVerify(t, dir)
			total := workers*each + workers*each/100
			if err := rep.Err(); err != nil || rep.Records != total || rep.LastSeq != uint64(total) {
				t.Fatalf("verify: %v, %d records up to %d; want clean, %d", err, rep.Records, rep.LastSeq, total)
			}
			// Every seq up to the end is a record: the chain check already
			// proved them contiguous; the appended ones are all there.
			if len(seen) != workers*each {
				t.Errorf("%d distinct seqs; want %d", len(seen), workers*each)
			}
			if !noSync {
				t.Logf("%d appends, %d fsyncs (group commit)", workers*each, syncs)
				if syncs >= int64(workers*each) {
					t.Errorf("%d fsyncs for %d concurrent appends: no group commit", syncs, workers*each)
				}
			}
		})
	}
}

func TestSyncInterval(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, testID(1), Options{SyncInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 200 {
		if _, err := l.Append(context.Background(), Record{Kind: KindRequest}); err != nil {
			t.Fatal(err)
		}
	}
	if n := l.syncs.Load(); n > 20 {
		t.Errorf("%d fsyncs during 200 appends with a 20 ms sync interval; want the appends not to wait for fsync", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for l.dur.failed() == nil {
		l.dur.mu.Lock()
		synced := l.dur.synced
		l.dur.mu.Unlock()
		if synced >= 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("background flush reached seq %d; want 200", synced)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := l.Sync(context.Background()); err != nil {
		t.Error(err)
	}
}

// The crash test re-executes the test binary as a child that appends in a
// loop, printing each acknowledged seq, and kills it with SIGKILL.
const crashEnv = "HEARTH_AUDIT_CRASH_CHILD"

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("only run as the crash test's child")
	}
	if os.Getenv(crashEnv+"_SPLIT") != "" {
		// Write each line in two parts with a pause between, so the kill
		// often lands mid-line.
		writeLine = func(f segmentFile, line []byte) (int, error) {
			n, err := f.Write(line[:len(line)/2])
			if err != nil {
				return n, err
			}
			time.Sleep(200 * time.Microsecond)
			m, err := f.Write(line[len(line)/2:])
			return n + m, err
		}
	}
	l, err := Open(dir, testID(1), Options{CheckpointEvery: 25, SegmentBytes: 32 << 10})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		r, err := l.Append(context.Background(), Record{Kind: KindRequest, Tenant: "crash", ResponseID: strconv.Itoa(i),
			Detail: map[string]string{"pad": fmt.Sprintf("%0*d", 200+i%300, i)}})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Fprintln(out, r.Seq)
		out.Flush()
	}
}

func TestCrashMidAppend(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	torn := 0
	for round := range 8 {
		split := round%2 == 1
		t.Run(fmt.Sprintf("round%d-split=%v", round, split), func(t *testing.T) {
			dir := t.TempDir()
			acked := uint64(0)
			// Two crashes in a row on the same log, then a clean run.
			for crash := range 2 {
				cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), crashEnv+"="+dir)
				if split {
					cmd.Env = append(cmd.Env, crashEnv+"_SPLIT=1")
				}
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				sc := bufio.NewScanner(stdout)
				target := acked + uint64(100+round*37+crash*11)
				for sc.Scan() {
					s, err := strconv.ParseUint(sc.Text(), 10, 64)
					if err != nil {
						t.Fatalf("child: %s", sc.Text())
					}
					acked = s
					if acked >= target {
						break
					}
				}
				cmd.Process.Signal(syscall.SIGKILL)
				// Acknowledgements printed before the kill landed count too.
				for sc.Scan() {
					if s, err := strconv.ParseUint(sc.Text(), 10, 64); err == nil {
						acked = s
					}
				}
				cmd.Wait()

				rep := mustVerify(t, dir)
				if rep.Problem != nil {
					t.Fatalf("crash %d: %v", crash, rep.Problem)
				}
				if rep.LastSeq < acked {
					t.Fatalf("crash %d: log ends at seq %d; seq %d was acknowledged", crash, rep.LastSeq, acked)
				}
				if rep.Torn != nil {
					torn++
					t.Logf("crash %d: verified up to seq %d, torn tail of %d bytes at %v", crash, rep.LastSeq, rep.Torn.Bytes, rep.Torn.At)
				}
				if rep.Err() == nil && rep.Unsigned == 0 && rep.Torn == nil {
					// Killed right after a checkpoint: possible, fine.
					t.Logf("crash %d: log ends on a checkpoint", crash)
				}
			}
			l, err := Open(dir, testID(1), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if rec := l.Recovery(); rec != nil && rec.Torn != nil {
				if _, err := os.Stat(rec.Quarantine); err != nil {
					t.Errorf("quarantine file: %v", err)
				}
			}
			r, err := l.Append(context.Background(), Record{Kind: KindRequest, Tenant: "after"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Seq <= acked {
				t.Errorf("append after the crashes got seq %d; acknowledged seqs go up to %d", r.Seq, acked)
			}
			l.Close()
			rep := mustVerify(t, dir)
			if err := rep.Err(); err != nil {
				t.Fatalf("after recovery: %v", err)
			}
			q, _ := filepath.Glob(filepath.Join(dir, "quarantine", "*"))
			t.Logf("final log: %d records, %d checkpoints, %d quarantined tails", rep.Records, rep.Checkpoints, len(q))
		})
	}
	t.Logf("%d of 16 kills left a torn tail", torn)
}
