package sched_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/sample"
	"github.com/hearth-ai/hearth/engine/sched"
	"github.com/hearth-ai/hearth/internal/testfixture"
)

const stories = "../../../shared/testdata/models/stories260K.gguf"

func load(t testing.TB) *engine.Model { t.Helper(); return loadKV(t, "") }

// loadKV loads the test model with a KV cache of type kv.
func loadKV(t testing.TB, kv string) *engine.Model {
	t.Helper()
	m, err := engine.Load(stories, engine.Options{Threads: 2, KVType: kv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func start(t testing.TB, m *engine.Model, cfg sched.Config) *sched.Scheduler {
	t.Helper()
	s, err := sched.New(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

func prompts(m *engine.Model) [][]int32 {
	texts := []string{"Once upon a time", "Lily", "The dog", "One day, a big", "Tom and Sam", "She saw a bird",
		"The sun was", "Mom said", "A little cat", "They went to the park", "He was sad", "The tree"}
	var out [][]int32
	for _, s := range texts {
		out = append(out, m.Tok.Encode(s, true, false))
	}
	return out
}

// TestBatchedEqualsAlone runs many concurrent requests, greedy and
// sampled, through the batch and checks each gets exactly the tokens it
// gets when run alone: batching changes throughput, never results, and
// no request is lost or gets another's tokens.
func TestBatchedEqualsAlone(t *testing.T) {
	m := load(t)
	s := start(t, m, sched.Config{MaxSeqs: 4, BatchTokens: 32})
	ps := prompts(m)
	reqs := make([]engine.Request, len(ps))
	want := make([]*engine.Result, len(ps))
	for i, p := range ps {
		reqs[i] = engine.Request{Prompt: p, MaxTokens: 20 + i*3}
		if i%2 == 1 {
			reqs[i].Sampling = sample.Params{Temperature: 0.8, TopK: 40, Seed: uint64(i)}
		}
		var err error
		if want[i], err = m.Generate(context.Background(), reqs[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]*engine.Result, len(ps))
	streamed := make([][]int32, len(ps))
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			got[i], err = s.Generate(context.Background(), reqs[i], func(tok engine.Token) error {
				if tok.ID >= 0 {
					streamed[i] = append(streamed[i], tok.ID)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range want {
		if got[i] == nil {
			continue
		}
		if !slices.Equal(got[i].Tokens, want[i].Tokens) || got[i].Text != want[i].Text || !slices.Equal(streamed[i], want[i].Tokens) {
			t.Errorf("request %d: batched %v %q, alone %v %q", i, got[i].Tokens, got[i].Text, want[i].Tokens, want[i].Text)
		}
	}
	st := s.Stats()
	if st.Completed != int64(len(ps)) || st.Active != 0 || st.KVLive != 0 {
		t.Errorf("stats after all finished: %+v", st)
	}
	// Twelve requests of 20-50 tokens in four slots must have shared steps.
	var total int
	for _, r := range want {
		total += len(r.Tokens)
	}
	if st.Steps >= int64(total) {
		t.Errorf("%d steps for %d tokens: requests did not share steps", st.Steps, total)
	}
}

func TestOverloaded(t *testing.T) {
	m := load(t)
	s := start(t, m, sched.Config{MaxSeqs: 1, MaxQueue: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	long := engine.Request{Prompt: []int32{1}, MaxTokens: 2000, IgnoreEOS: true}
	go s.Generate(ctx, long, func(engine.Token) error {
		select {
		case <-started:
		default:
			close(started)
		}
		return nil
	})
	<-started
	go s.Generate(ctx, long, nil) // waits in the queue
	testfixture.WaitFor(t, "a queued request", func() bool { return s.Stats().Queued == 1 })
	_, err := s.Generate(ctx, long, nil)
	if !errors.Is(err, sched.ErrOverloaded) {
		t.Fatalf("third request: %v; want ErrOverloaded", err)
	}
	var ra interface{ RetryAfter() time.Duration }
	if !errors.As(err, &ra) || ra.RetryAfter() <= 0 {
		t.Errorf("overload error has no retry delay: %v", err)
	}
}

// TestCancelFreesCache cancels a stream mid-way and checks that its KV
// cache goes back to the budget and the next request runs.
func TestCancelFreesCache(t *testing.T) {
	m := load(t)
	s := start(t, m, sched.Config{MaxSeqs: 1, KVTokens: 600, NoPrefixCache: true})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := s.Generate(ctx, engine.Request{Prompt: []int32{1}, MaxTokens: 500, IgnoreEOS: true}, func(engine.Token) error {
		if n++; n == 10 {
			if used := s.Stats().KVLive; used != 501 {
				t.Errorf("KV in use while generating: %d; want 501", used)
			}
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled stream returned %v", err)
	}
	testfixture.WaitFor(t, "the cache to be freed", func() bool { st := s.Stats(); return st.KVUsed == 0 && st.Active == 0 })
	// The whole budget is free again: a request needing most of it runs.
	res, err := s.Generate(context.Background(), engine.Request{Prompt: []int32{1}, MaxTokens: 550, IgnoreEOS: true}, nil)
	if err != nil || len(res.Tokens) != 550 {
		t.Fatalf("after cancel: %v, %v", res, err)
	}
	// An emit error also ends the request.
	boom := errors.New("client gone")
	if _, err := s.Generate(context.Background(), engine.Request{Prompt: []int32{1}, MaxTokens: 50}, func(engine.Token) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("emit error: %v", err)
	}
	if _, err := s.Generate(context.Background(), engine.Request{Prompt: []int32{1}, MaxTokens: 700}, nil); !errors.Is(err, sched.ErrTooLarge) {
		t.Errorf("request beyond the budget: %v; want ErrTooLarge", err)
	}
}

// TestPrefixReuse sends a chat-like sequence of requests sharing a long
// prefix and checks that the shared part is served from the cache and the
// outputs are unchanged.
func TestPrefixReuse(t *testing.T) {
	for _, kv := range []string{"f32", "f16"} {
		t.Run(kv, func(t *testing.T) { testPrefixReuse(t, kv) })
	}
}

// testPrefixReuse: prompts sharing a prefix reuse its cache (copied
// between sequences at the cache's precision) and generate what they
// would alone.
func testPrefixReuse(t *testing.T, kv string) {
	m := loadKV(t, kv)
	s := start(t, m, sched.Config{MaxSeqs: 2})
	system := m.Tok.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.", true, false)
	var prompts [][]int32
	for _, q := range []string{" One day", " Her mom", " The sun"} {
		prompts = append(prompts, append(slices.Clone(system), m.Tok.Encode(q, false, false)...))
	}
	for i, p := range prompts {
		req := engine.Request{Prompt: p, MaxTokens: 10}
		want, _ := m.Generate(context.Background(), req, nil)
		got, err := s.Generate(context.Background(), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Tokens, want.Tokens) {
			t.Errorf("prompt %d: with prefix reuse %v; alone %v", i, got.Tokens, want.Tokens)
		}
	}
	st := s.Stats()
	// The first request computes the shared part; the other two reuse it.
	if wantHits := int64(2 * len(system)); st.PrefixHits < wantHits {
		t.Errorf("prefix hits %d of %d prompt tokens; want at least %d", st.PrefixHits, st.PromptTokens, wantHits)
	}
	t.Logf("prefix cache: %d of %d prompt tokens reused (%.0f%%)", st.PrefixHits, st.PromptTokens, 100*float64(st.PrefixHits)/float64(st.PromptTokens))
}

func TestShutdown(t *testing.T) {
	m := load(t)
	s, err := sched.New(m, sched.Config{MaxSeqs: 2})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 2)
	started := make(chan struct{}, 2)
	for i := 0; i < 2; i++ {
		go func() {
			once := false
			res, err := s.Generate(context.Background(), engine.Request{Prompt: []int32{1}, MaxTokens: 100, IgnoreEOS: true}, func(engine.Token) error {
				if !once {
					once = true
					started <- struct{}{}
				}
				return nil
			})
			if err == nil && len(res.Tokens) != 100 {
				err = fmt.Errorf("%d tokens", len(res.Tokens))
			}
			results <- err
		}()
	}
	<-started
	<-started
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := <-results; err != nil {
			t.Errorf("in-flight request during graceful shutdown: %v", err)
		}
	}
	if _, err := s.Generate(context.Background(), engine.Request{Prompt: []int32{1}}, nil); !errors.Is(err, sched.ErrClosed) {
		t.Errorf("after shutdown: %v; want ErrClosed", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	m := load(t)
	s, _ := sched.New(m, sched.Config{MaxSeqs: 1})
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		_, err := s.Generate(context.Background(), engine.Request{Prompt: []int32{1}, IgnoreEOS: true}, func(engine.Token) error {
			select {
			case <-started:
			default:
				close(started)
			}
			return nil
		})
		done <- err
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown past its deadline: %v", err)
	}
	if err := <-done; !errors.Is(err, sched.ErrClosed) {
		t.Errorf("abandoned request: %v; want ErrClosed", err)
	}
}

// BenchmarkStreams measures aggregate generation throughput with 1, 4 and
// 16 concurrent streams, one slot per stream.
func BenchmarkStreams(b *testing.B) {
	m := load(b)
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			s, _ := sched.New(m, sched.Config{MaxSeqs: n, NoPrefixCache: true})
			defer s.Shutdown(context.Background())
			const perStream = 64
			for b.Loop() {
				var wg sync.WaitGroup
				for i := 0; i < n; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						s.Generate(context.Background(), engine.Request{Prompt: []int32{1, int32(10 + i)}, MaxTokens: perStream, IgnoreEOS: true}, nil)
					}()
				}
				wg.Wait()
			}
			b.ReportMetric(float64(n*perStream*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
