package hostile

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// manyMessages is item 3's attack body: 200,000 one-letter messages,
// about 6.8 MB, well under the body limit.
func manyMessages(n int) string {
	var b strings.Builder
	b.WriteString(`{"model":"stories260k","max_tokens":4,"messages":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"role":"user","content":"a"}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

// TestHostileManyMessages: a body of 200,000 tiny messages is refused
// with a 400 naming the messages, and quickly, without templating and
// tokenizing it all.
func TestHostileManyMessages(t *testing.T) {
	n := Start(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	status, body, err := n.Post(ctx, "/v1/chat/completions", manyMessages(200_000))
	if err != nil {
		t.Fatal(err)
	}
	if status != 400 || !strings.Contains(body, "messages") {
		t.Fatalf("status %d, body %s; want a 400 naming the messages", status, body)
	}
	n.MustBeAlive()
}

// BenchmarkHostileManyMessagesRSS runs item 3's attack, six such bodies at
// once, against a fresh node and reports its peak RSS and what it still
// holds five seconds later, in MB. Run it with -benchtime 1x.
func BenchmarkHostileManyMessagesRSS(b *testing.B) {
	body := manyMessages(200_000)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		b.StopTimer()
		n := Start(b, "")
		base, _, err := n.PeakRSS()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				status, resp, err := n.Post(ctx, "/v1/chat/completions", body)
				if err != nil || status != 400 {
					b.Errorf("status %d err %v body %.200s", status, err, resp)
				}
			})
		}
		wg.Wait()
		b.StopTimer()
		peak, _, _ := n.PeakRSS()
		time.Sleep(5 * time.Second)
		_, held, _ := n.PeakRSS()
		b.ReportMetric(float64(base)/1e6, "idle-MB")
		b.ReportMetric(float64(peak)/1e6, "peak-MB")
		b.ReportMetric(float64(held)/1e6, "held-MB")
		n.Stop()
		b.StartTimer()
	}
}
