package metering

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/tenant"
)

// benchMeter opens a meter on a database file, as a node runs it.
func benchMeter(b *testing.B) *Meter {
	d, err := db.Open(filepath.Join(b.TempDir(), "hearth.db"))
	if err != nil {
		b.Fatal(err)
	}
	m, err := Open(context.Background(), d, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := m.Close(); err != nil {
			b.Error(err)
		}
		d.Close()
	})
	return m
}

// benchLimits are set on tenant and key so every check runs, high enough
// that none refuses.
var benchLimits = tenant.Limits{RequestsPerMinute: 1 << 30, TokensPerMinute: 1 << 30, MonthlyTokens: 1 << 60}

// BenchmarkAdmitDone is the per-request cost of metering: Admit, then Done
// queueing the usage row (written by the background writer, whose cost
// shows up here only through back-pressure). It reports p50 and p99 of one
// Admit+Done.
func BenchmarkAdmitDone(b *testing.B) {
	m := benchMeter(b)
	ctx := context.Background()
	p := principal("tenant-1", benchLimits, "key-1", benchLimits)
	u := Usage{Model: "llama3.2:1b", Node: "node-1", Jurisdiction: "KE", PromptTokens: 120, CompletionTokens: 200, Compute: 40 * time.Millisecond}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		tk, err := m.Admit(ctx, p, 600)
		if err != nil {
			b.Fatal(err)
		}
		if err := tk.Done(u); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, lat)
	if err := m.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAdmitDoneParallel runs Admit+Done from GOMAXPROCS goroutines
// over 16 tenants with 4 keys each.
func BenchmarkAdmitDoneParallel(b *testing.B) {
	m := benchMeter(b)
	ctx := context.Background()
	var ps []*tenant.Principal
	for i := range 64 {
		ps = append(ps, principal(string(rune('a'+i/4)), benchLimits, string(rune('A'+i)), benchLimits))
	}
	u := Usage{Model: "m", Node: "n", Jurisdiction: "KE", PromptTokens: 120, CompletionTokens: 200}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			tk, err := m.Admit(ctx, ps[i%len(ps)], 600)
			if err != nil {
				b.Error(err)
				return
			}
			if err := tk.Done(u); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
