package fabric

import (
	"context"
	"crypto/ed25519"
	"io"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/identity"
)

// BenchmarkInferRoundTrip measures one remote request over the fabric on
// loopback, gateway to serving node through two clustered NATS servers:
// sign, send, verify, a head, one chunk, the end. It reports p50 and p99
// besides the mean.
func BenchmarkInferRoundTrip(b *testing.B) {
	h := func(ctx context.Context, req *InferRequest, w InferWriter) error {
		_, err := w.Write([]byte("token"))
		return err
	}
	nodes := benchCluster(b, h)
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		at := time.Now()
		s, err := nodes[0].Infer(ctx, nodes[1].ID(), testRequest())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadAll(s); err != nil {
			b.Fatal(err)
		}
		s.Close()
		lat = append(lat, time.Since(at))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// benchCluster is inferCluster for benchmarks: two clustered nodes, the
// second serving h.
func benchCluster(b *testing.B, h InferHandler) []*Node {
	b.Helper()
	_, op, err := ed25519.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var nodes []*Node
	for i, j := range []string{"KE", "NG"} {
		id, err := identity.LoadOrCreate(filepath.Join(b.TempDir(), "data"))
		if err != nil {
			b.Fatal(err)
		}
		cert, err := Certify(op, id.Public, "site", j, time.Hour, time.Now().Add(-time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		cfg := Config{Identity: id, Site: "site", Jurisdiction: j, Cert: cert, OperatorKey: op.Public().(ed25519.PublicKey), ClusterListen: "127.0.0.1:0"}
		if i > 0 {
			cfg.Join = []string{nodes[0].ClusterURL()}
		}
		n, err := New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		if i == 1 {
			if err := n.HandleInfer(h); err != nil {
				b.Fatal(err)
			}
		}
		if err := n.Start(ctx); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Shutdown(context.Background()) })
		nodes = append(nodes, n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, ok := nodes[0].Peer(nodes[1].ID())
		q, ok2 := nodes[1].Peer(nodes[0].ID())
		if ok && ok2 && p.Certified && q.Certified {
			s, err := nodes[0].Infer(ctx, nodes[1].ID(), testRequest())
			if err == nil {
				_, err = io.ReadAll(s)
				s.Close()
				if err == nil {
					return nodes
				}
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("cluster not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
