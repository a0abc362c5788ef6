package tenant

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// benchStore is a file-backed store with 10 tenants of 100 keys each.
func benchStore(b testing.TB) (*Store, []string) {
	s, _ := openFile(b, "", newClock())
	var secrets []string
	for i := range 10 {
		name := fmt.Sprintf("t%d", i)
		mustTenant(b, s, Tenant{Name: name, Policy: Policy{AllowedModels: []string{"llama3", "qwen"}, Jurisdictions: []string{"KE", "EU"}}})
		for range 100 {
			sec, _ := mustKey(b, s, name, KeyOptions{Scopes: []Scope{ScopeInference, ScopeFeedback}})
			secrets = append(secrets, sec)
		}
	}
	return s, secrets
}

// authLatencies times Authenticate on each of b's loop iterations, taking
// secrets in turn, and returns the times appended to lat, sorted.
func authLatencies(b *testing.B, s *Store, secrets []string, lat []time.Duration) []time.Duration {
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		if _, err := s.Authenticate(ctx, secrets[i%len(secrets)]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return lat
}

// BenchmarkAuthenticate measures one lookup of a valid key in a file
// database, reporting the median as p50-ns besides the mean ns/op.
func BenchmarkAuthenticate(b *testing.B) {
	s, secrets := benchStore(b)
	b.ReportAllocs()
	b.ResetTimer()
	lat := authLatencies(b, s, secrets, make([]time.Duration, 0, b.N))
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkAuthenticateParallel(b *testing.B) {
	s, secrets := benchStore(b)
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, err := s.Authenticate(ctx, secrets[i%len(secrets)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkAuthenticateMalformed(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	for b.Loop() {
		s.Authenticate(ctx, "hk_short")
	}
}

// BenchmarkAuthenticateLatency reports the median and 99th percentile of
// Authenticate over a database of many keys (the budget for the whole
// access path is 100 us at the median).
func BenchmarkAuthenticateLatency(b *testing.B) {
	s, secrets := benchStore(b)
	lat := authLatencies(b, s, secrets, nil)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "us-p50")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, "us-p99")
}
