package sched_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/sched"
	"github.com/hearth-ai/hearth/internal/testfixture"
)

// TestPanicFailsOnlyItsBatch: a panic while running a batch fails the
// requests in it with ErrInternal, and the scheduler goes on serving the
// next requests (a panic on the loop's goroutine used to end the process).
func TestPanicFailsOnlyItsBatch(t *testing.T) {
	m := load(t)
	s := start(t, m, sched.Config{MaxSeqs: 2})
	var fire atomic.Bool
	fire.Store(true)
	sched.SetBatchHook(func(int) {
		if fire.CompareAndSwap(true, false) {
			panic("injected")
		}
	})
	defer sched.SetBatchHook(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := engine.Request{Prompt: m.Tok.Encode("Lily", true, false), MaxTokens: 8}
	_, err := s.Generate(ctx, req, func(engine.Token) error { return nil })
	if !errors.Is(err, sched.ErrInternal) {
		t.Fatalf("the request in the panicking batch got %v, want ErrInternal", err)
	}
	res, err := s.Generate(ctx, req, func(engine.Token) error { return nil })
	if err != nil || len(res.Tokens) != 8 {
		t.Fatalf("the next request: %v, %+v; want 8 tokens", err, res)
	}
	// The loop publishes its stats after it hands the result over.
	testfixture.WaitFor(t, "no KV cache held by live sequences once both ended", func() bool { return s.Stats().KVLive == 0 })
}
