package sched_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/sched"
	"github.com/hearth-ai/hearth/engine/synth"
)

// randomAdapter is synth.Adapter's adapter for m, its updates' scale
// times scale: 1 changes some of what the small test model generates, 3
// most of it.
func randomAdapter(tb testing.TB, m *model.Transformer, rank int, kinds []string, scale float32, seed uint64) *model.Adapter {
	tb.Helper()
	a, err := synth.Adapter(m, rank, kinds, seed)
	if err != nil {
		tb.Fatal(err)
	}
	ad, err := adapter.Build(m, adapter.Use{Adapter: a, Scale: scale})
	if err != nil {
		tb.Fatal(err)
	}
	return ad
}

var attention = []string{"q", "k", "v", "o"}

// TestAdaptersBatchedEqualsAlone runs many concurrent greedy requests with
// four different adapters and none, sharing batches, and checks that each
// gets exactly the tokens it gets alone with its adapter; and that every
// adapter changes what some request generates, so that a batch applying
// the wrong adapter, or none, would fail.
func TestAdaptersBatchedEqualsAlone(t *testing.T) {
	m := load(t)
	ads := []*model.Adapter{nil}
	for i := range 4 {
		ads = append(ads, randomAdapter(t, m.Net, []int{1, 4, 16, 32}[i], []string{"q", "k", "v", "o", "gate", "up", "down"}, 1, uint64(i)))
	}
	s := start(t, m, sched.Config{MaxSeqs: 8, BatchTokens: 32})
	ps := prompts(m)
	reqs := make([]engine.Request, 2*len(ps))
	want := make([]*engine.Result, len(reqs))
	for i := range reqs {
		reqs[i] = engine.Request{Prompt: ps[i%len(ps)], MaxTokens: 16 + i%7, Adapter: ads[i%len(ads)]}
		var err error
		if want[i], err = m.Generate(context.Background(), reqs[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	changed := map[*model.Adapter]bool{}
	for i, r := range reqs {
		if r.Adapter == nil {
			continue
		}
		plain := r
		plain.Adapter = nil
		base, err := m.Generate(context.Background(), plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(base.Tokens, want[i].Tokens) {
			changed[r.Adapter] = true
		}
	}
	if len(changed) != len(ads)-1 {
		t.Fatalf("only %d of %d adapters change any request's tokens; the test would prove nothing", len(changed), len(ads)-1)
	}
	got := make([]*engine.Result, len(reqs))
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			var err error
			if got[i], err = s.Generate(context.Background(), reqs[i], nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range want {
		if got[i] != nil && !slices.Equal(got[i].Tokens, want[i].Tokens) {
			t.Errorf("request %d (adapter %d): batched %v, alone %v", i, i%len(ads), got[i].Tokens, want[i].Tokens)
		}
	}
	if st := s.Stats(); st.Steps >= int64(len(reqs)*16) {
		t.Errorf("%d steps for %d requests of 16 or more tokens: they did not share steps", st.Steps, len(reqs))
	}
}

// TestPrefixNotSharedAcrossAdapters runs one prompt with two adapters in
// turn: the keys and values of the first are no prefix of the second's
// (they went through other projections), so the second reuses none of
// them and generates what it does alone; the first's prompt again, with
// the first adapter, does reuse them.
func TestPrefixNotSharedAcrossAdapters(t *testing.T) {
	m := load(t)
	a, b := randomAdapter(t, m.Net, 16, attention, 3, 1), randomAdapter(t, m.Net, 16, attention, 3, 2)
	s := start(t, m, sched.Config{MaxSeqs: 2})
	prompt := m.Tok.Encode("Once upon a time, there was a little girl named Lily. She loved to play", true, false)
	run := func(ad *model.Adapter) []int32 {
		t.Helper()
		req := engine.Request{Prompt: prompt, MaxTokens: 12, Adapter: ad}
		alone, err := m.Generate(context.Background(), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Generate(context.Background(), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Tokens, alone.Tokens) {
			t.Errorf("scheduled %v; alone %v", got.Tokens, alone.Tokens)
		}
		return got.Tokens
	}
	first := run(a)
	second := run(b)
	if slices.Equal(first, second) {
		t.Fatalf("both adapters generate %v: the test cannot tell them apart", first)
	}
	if st := s.Stats(); st.PrefixHits != 0 {
		t.Errorf("the second adapter reused %d prompt tokens of the first's cache", st.PrefixHits)
	}
	run(a)
	if st := s.Stats(); st.PrefixHits < int64(len(prompt)-1) {
		t.Errorf("the first adapter's prompt again reused %d of %d tokens; want %d", st.PrefixHits, len(prompt), len(prompt)-1)
	}
}
