package audit

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkAppend measures one Append of a typical request record: with
// fsync per record (sequential callers), with fsync shared by concurrent
// callers (group commit), and without fsync.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name     string
		noSync   bool
		parallel bool
		interval time.Duration
	}{
		{"fsync", false, false, 0},
		{"fsync-parallel", false, true, 0},
		{"syncinterval-10ms", false, false, 10 * time.Millisecond},
		{"nosync", true, false, 0},
		{"nosync-parallel", true, true, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			l, err := Open(dir, testID(1), Options{NoSync: bc.noSync, SyncInterval: bc.interval})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			rec := sampleRecord(rand.New(rand.NewPCG(1, 1)), 1)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			if bc.parallel {
				b.SetParallelism(16)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := l.Append(ctx, rec); err != nil {
							b.Error(err)
							return
						}
					}
				})
			} else {
				for b.Loop() {
					if _, err := l.Append(ctx, rec); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(l.syncs.Load())/float64(b.N), "fsyncs/op")
		})
	}
}

// BenchmarkVerify measures verification speed per record.
func BenchmarkVerify(b *testing.B) {
	dir := b.TempDir()
	writeLog(b, dir, testID(1), 5000, Options{})
	pub := testID(1).Public
	b.ResetTimer()
	for b.Loop() {
		rep, err := Verify(dir, pub, 0)
		if err != nil || rep.Err() != nil {
			b.Fatal(err, rep.Err())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/5005, "ns/record")
}
