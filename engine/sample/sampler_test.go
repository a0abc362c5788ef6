package sample

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomLogits returns n logits drawn from a fixed generator.
func randomLogits(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	l := make([]float32, n)
	for i := range l {
		l[i] = float32(r.NormFloat64() * 3)
	}
	return l
}

func mustNew(t testing.TB, p Params, vocab int) *Sampler {
	t.Helper()
	s, err := New(p, vocab)
	if err != nil {
		t.Fatalf("New(%+v, %d): %v", p, vocab, err)
	}
	return s
}

func TestGreedyPicksArgmax(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name   string
		logits []float32
		want   int32
	}{
		{"single", []float32{0.5}, 0},
		{"max in middle", []float32{1, 5, 2}, 1},
		{"max last", []float32{-3, -2, -1}, 2},
		{"tie goes to lowest id", []float32{1, 7, 3, 7}, 1},
		{"NaN ignored", []float32{nan, 2, nan, 1}, 1},
		{"all -Inf", []float32{float32(math.Inf(-1)), float32(math.Inf(-1))}, 0},
	}
	for _, temp := range []float32{0, 1e-7} {
		for _, tc := range tests {
			s := mustNew(t, Params{Temperature: temp, TopK: 40, TopP: 0.9}, len(tc.logits))
			if got := s.Sample(tc.logits, nil); got != tc.want {
				t.Errorf("temp %g, %s: Sample(%v) = %d, want %d", temp, tc.name, tc.logits, got, tc.want)
			}
		}
	}
}

func TestGreedyAppliesPenalties(t *testing.T) {
	// Token 0 leads by 1, but a repetition penalty of 4 on it (2/4 = 0.5)
	// lets token 1 win.
	s := mustNew(t, Params{RepeatPenalty: 4}, 3)
	if got := s.Sample([]float32{2, 1, 0}, []int32{0}); got != 1 {
		t.Errorf("penalized greedy = %d, want 1", got)
	}
	if got := s.Sample([]float32{2, 1, 0}, []int32{2}); got != 0 {
		t.Errorf("greedy with unrelated history = %d, want 0", got)
	}
}

func TestEmptyLogits(t *testing.T) {
	s := mustNew(t, DefaultParams(), 4)
	if got := s.Sample(nil, nil); got != -1 {
		t.Errorf("Sample(nil) = %d, want -1", got)
	}
}

func TestTopKOneIsGreedy(t *testing.T) {
	for seed := range uint64(20) {
		logits := randomLogits(500, seed)
		want := argmax(toCands(logits))
		for _, temp := range []float32{0.2, 1, 5, 100} {
			s := mustNew(t, Params{Temperature: temp, TopK: 1, Seed: seed}, len(logits))
			for range 5 {
				if got := s.Sample(logits, nil); got != want {
					t.Fatalf("seed %d temp %g: top_k=1 sampled %d, want argmax %d", seed, temp, got, want)
				}
			}
		}
	}
}

func toCands(l []float32) []candidate {
	c := make([]candidate, len(l))
	for i, x := range l {
		c[i] = candidate{int32(i), x}
	}
	return c
}

func drawMany(s *Sampler, logits []float32, n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = s.Sample(logits, nil)
	}
	return out
}

func TestSeedReproducible(t *testing.T) {
	logits := randomLogits(1000, 7)
	// Flatten so that many tokens are plausible and different seeds show.
	for i := range logits {
		logits[i] /= 4
	}
	p := DefaultParams()
	p.TopK, p.TopP, p.MinP = 0, 0, 0
	p.Seed = 42
	a := drawMany(mustNew(t, p, 1000), logits, 200)
	b := drawMany(mustNew(t, p, 1000), logits, 200)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed gave different sequences:\n%v\n%v", a, b)
	}
	p.Seed = 43
	c := drawMany(mustNew(t, p, 1000), logits, 200)
	if slices.Equal(a, c) {
		t.Fatalf("seeds 42 and 43 gave the same 200 tokens")
	}
	// Reseed restarts the stream.
	s := mustNew(t, p, 1000)
	drawMany(s, logits, 17)
	s.Reseed(42)
	if d := drawMany(s, logits, 200); !slices.Equal(a, d) {
		t.Fatalf("Reseed(42) did not restart the seed-42 sequence")
	}
}

// TestFrequenciesMatchSoftmax draws many tokens and compares the counts
// with softmax(logits/T) using Pearson's chi-square statistic. The seed is
// fixed, so the test is deterministic; the bound is the 0.999 quantile, so
// a correct sampler would fail it for only 1 seed in 1000, while a wrong
// temperature or an off-by-one in the draw moves the statistic into the
// thousands.
func TestFrequenciesMatchSoftmax(t *testing.T) {
	logits := []float32{1.0, 2.0, 0.5, -1.0, 1.5, 0.0}
	const draws = 200000
	const chi2Crit = 20.52 // chi-square, 5 degrees of freedom, p = 0.001
	for _, temp := range []float32{0.5, 1, 2} {
		s := mustNew(t, Params{Temperature: temp, Seed: 1234}, len(logits))
		counts := make([]float64, len(logits))
		for range draws {
			counts[s.Sample(logits, nil)]++
		}
		want := softmax(logits, float64(temp))
		chi2 := 0.0
		for i := range counts {
			e := want[i] * draws
			chi2 += (counts[i] - e) * (counts[i] - e) / e
		}
		if chi2 > chi2Crit {
			t.Errorf("temp %g: chi-square %.1f > %.2f; counts %v, want probabilities %v", temp, chi2, chi2Crit, counts, want)
		}
	}
}

func softmax(l []float32, temp float64) []float64 {
	p := make([]float64, len(l))
	sum := 0.0
	for i, x := range l {
		p[i] = math.Exp(float64(x) / temp)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// logitsOf returns logits whose softmax is probs.
func logitsOf(probs ...float64) []float32 {
	l := make([]float32, len(probs))
	for i, p := range probs {
		l[i] = float32(math.Log(p))
	}
	return l
}

// support returns the sorted set of ids drawn in n samples.
func support(s *Sampler, logits []float32, n int) []int32 {
	seen := map[int32]bool{}
	for range n {
		seen[s.Sample(logits, nil)] = true
	}
	var ids []int32
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func TestTopPAndMinPExclude(t *testing.T) {
	// Probabilities 0.05, 0.5, 0.15, 0.3 (ids 1, 3, 2, 0 by rank).
	logits := logitsOf(0.05, 0.5, 0.15, 0.3)
	tests := []struct {
		name string
		p    Params
		want []int32
	}{
		{"no filter", Params{}, []int32{0, 1, 2, 3}},
		{"top_p 0.4 keeps the top token", Params{TopP: 0.4}, []int32{1}},
		{"top_p 0.75 keeps two", Params{TopP: 0.75}, []int32{1, 3}},
		{"top_p 0.9 keeps three", Params{TopP: 0.9}, []int32{1, 2, 3}},
		{"top_p 0.99 keeps all", Params{TopP: 0.99}, []int32{0, 1, 2, 3}},
		{"min_p 0.05 keeps all", Params{MinP: 0.05}, []int32{0, 1, 2, 3}},
		{"min_p 0.2 drops 0.05", Params{MinP: 0.2}, []int32{1, 2, 3}},
		{"min_p 0.5 keeps 0.5 and 0.3", Params{MinP: 0.5}, []int32{1, 3}},
		{"min_p 0.7 keeps the top", Params{MinP: 0.7}, []int32{1}},
		{"top_k 2", Params{TopK: 2}, []int32{1, 3}},
		{"top_k 3 then min_p 0.35", Params{TopK: 3, MinP: 0.35}, []int32{1, 3}},
		{"top_p 0.9 then min_p 0.5", Params{TopP: 0.9, MinP: 0.5}, []int32{1, 3}},
	}
	for _, tc := range tests {
		p := tc.p
		p.Temperature = 1
		s := mustNew(t, p, len(logits))
		if got := support(s, logits, 3000); !slices.Equal(got, tc.want) {
			t.Errorf("%s: drew ids %v, want exactly %v", tc.name, got, tc.want)
		}
	}
}

// TestTruncationUnits checks the filters directly on sorted candidates,
// including the boundary cases the sampling test cannot see.
func TestTruncationUnits(t *testing.T) {
	sorted := func(probs ...float64) []candidate {
		c := toCands(logitsOf(probs...))
		sortDesc(c)
		return c
	}
	ids := func(c []candidate) []int32 {
		var r []int32
		for _, x := range c {
			r = append(r, x.id)
		}
		return r
	}
	// 0.5, 0.25, 0.125, 0.125 are exact in binary, so cumulative sums are
	// exact and the ">=" boundary is visible.
	c := sorted(0.125, 0.5, 0.125, 0.25)
	for _, tc := range []struct {
		p    float64
		want []int32
	}{
		{0.5, []int32{1}},
		{0.5000001, []int32{1, 3}},
		{0.75, []int32{1, 3}},
		{0.8, []int32{1, 3, 0}},
		{1, []int32{1, 3, 0, 2}},
	} {
		if got := ids(topP(slices.Clone(c), tc.p, true)); !slices.Equal(got, tc.want) {
			t.Errorf("topP(%v, sorted) = %v, want %v", tc.p, got, tc.want)
		}
		if got := ids(topP(toCands(logitsOf(0.125, 0.5, 0.125, 0.25)), tc.p, false)); !slices.Equal(got, tc.want) {
			t.Errorf("topP(%v, unsorted) = %v, want %v", tc.p, got, tc.want)
		}
	}
	for _, tc := range []struct {
		p    float64
		want []int32
	}{
		{0.24, []int32{1, 3, 0, 2}},
		{0.26, []int32{1, 3}},
		{0.49, []int32{1, 3}},
		{0.51, []int32{1}},
		{1, []int32{1}},
	} {
		if got := ids(minP(slices.Clone(c), tc.p, true)); !slices.Equal(got, tc.want) {
			t.Errorf("minP(%v, sorted) = %v, want %v", tc.p, got, tc.want)
		}
		u := toCands(logitsOf(0.125, 0.5, 0.125, 0.25))
		got := ids(minP(u, tc.p, false))
		slices.Sort(got)
		want := slices.Sorted(slices.Values(tc.want))
		if !slices.Equal(got, want) {
			t.Errorf("minP(%v, unsorted) = %v, want %v", tc.p, got, want)
		}
	}
	// topK against a full sort, on random data with ties.
	r := rand.New(rand.NewPCG(3, 3))
	for trial := range 50 {
		n := 1 + r.IntN(300)
		l := make([]float32, n)
		for i := range l {
			l[i] = float32(r.IntN(20)) // many ties
		}
		k := 1 + r.IntN(n)
		full := toCands(l)
		sortDesc(full)
		got := topK(toCands(l), k)
		if !slices.Equal(got, full[:k]) {
			t.Fatalf("trial %d: topK(n=%d, k=%d) = %v, want %v", trial, n, k, got, full[:k])
		}
	}
}

// TestTopPLargeMatchesFullSort checks the staged selection in topP against
// sorting everything, for nuclei smaller and larger than each stage.
func TestTopPLargeMatchesFullSort(t *testing.T) {
	for _, scale := range []float64{0.1, 1, 3, 10} {
		for _, p := range []float64{0.1, 0.5, 0.9, 0.99} {
			l := randomLogits(5000, 77)
			for i := range l {
				l[i] = float32(float64(l[i]) * scale)
			}
			full := toCands(l)
			sortDesc(full)
			top := full[0].logit
			sum := 0.0
			for _, x := range full {
				sum += math.Exp(float64(x.logit) - float64(top))
			}
			want := nucleus(full, top, p*sum)
			got := topP(toCands(l), p, false)
			if !slices.Equal(got, want) {
				t.Errorf("scale %v p %v: staged topP kept %d, full sort kept %d", scale, p, len(got), len(want))
			}
		}
	}
}

func TestPenalties(t *testing.T) {
	tests := []struct {
		name    string
		p       Params
		logits  []float32
		history []int32
		want    []float32
	}{
		{
			name:    "repetition divides positive, multiplies negative",
			p:       Params{RepeatPenalty: 2},
			logits:  []float32{2, -1, 0.5, 3},
			history: []int32{0, 1, 1},
			want:    []float32{1, -2, 0.5, 3},
		},
		{
			name:    "zero logit stays zero",
			p:       Params{RepeatPenalty: 1.5},
			logits:  []float32{0, 1},
			history: []int32{0},
			want:    []float32{0, 1},
		},
		{
			name:    "presence once, frequency per occurrence",
			p:       Params{PresencePenalty: 0.5, FrequencyPenalty: 0.25},
			logits:  []float32{1, 1, 1},
			history: []int32{0, 1, 1, 1},
			want:    []float32{1 - 0.25 - 0.5, 1 - 0.75 - 0.5, 1},
		},
		{
			name:    "all three, llama.cpp order",
			p:       Params{RepeatPenalty: 2, PresencePenalty: 0.3, FrequencyPenalty: 0.1},
			logits:  []float32{2, -1, 0.5, 3},
			history: []int32{0, 1, 1, 9, -4}, // 9 and -4 are outside the vocabulary
			want:    []float32{2.0/2 - 0.1 - 0.3, -1*2 - 0.2 - 0.3, 0.5, 3},
		},
		{
			name:    "window of 2 sees only the last two tokens",
			p:       Params{PresencePenalty: 1, RepeatLastN: 2},
			logits:  []float32{0, 0, 0},
			history: []int32{0, 0, 1, 2},
			want:    []float32{0, -1, -1},
		},
		{
			name:    "window 0 means 64",
			p:       Params{FrequencyPenalty: 1},
			logits:  []float32{0, 0},
			history: append(slices.Repeat([]int32{1}, 10), slices.Repeat([]int32{0}, 64)...),
			want:    []float32{-64, 0},
		},
		{
			name:    "window -1 means everything",
			p:       Params{FrequencyPenalty: 1, RepeatLastN: -1},
			logits:  []float32{0, 0},
			history: append(slices.Repeat([]int32{1}, 10), slices.Repeat([]int32{0}, 64)...),
			want:    []float32{-64, -10},
		},
		{
			name:    "negative penalties encourage",
			p:       Params{PresencePenalty: -1},
			logits:  []float32{0, 0},
			history: []int32{1},
			want:    []float32{0, 1},
		},
	}
	for _, tc := range tests {
		s := mustNew(t, tc.p, len(tc.logits))
		// Run twice: the per-id counts must be cleared between calls.
		for round := range 2 {
			c := toCands(tc.logits)
			s.penalize(c, tc.history)
			for i, x := range c {
				if math.Abs(float64(x.logit-tc.want[i])) > 1e-6 {
					t.Errorf("%s (round %d): logit[%d] = %v, want %v", tc.name, round, i, x.logit, tc.want[i])
				}
			}
		}
	}
}

func TestSampleLeavesInputsAlone(t *testing.T) {
	logits := randomLogits(2000, 5)
	history := []int32{1, 2, 3, 3, 1999}
	l0, h0 := slices.Clone(logits), slices.Clone(history)
	p := DefaultParams()
	p.RepeatPenalty, p.PresencePenalty, p.FrequencyPenalty = 1.3, 0.2, 0.1
	for _, topK := range []int{0, 40} {
		p.TopK = topK
		s := mustNew(t, p, len(logits))
		for range 10 {
			s.Sample(logits, history)
		}
		if !slices.Equal(logits, l0) || !slices.Equal(history, h0) {
			t.Fatalf("top_k %d: Sample modified its inputs", topK)
		}
	}
}

func TestSampleOtherVocabSize(t *testing.T) {
	// A logits slice longer than announced grows the scratch instead of
	// failing; history ids past it are ignored.
	s := mustNew(t, Params{RepeatPenalty: 2}, 2)
	if got := s.Sample([]float32{0, 1, 5}, []int32{7}); got != 2 {
		t.Errorf("Sample on 3 logits = %d, want 2", got)
	}
}

func TestZeroAllocs(t *testing.T) {
	const vocab = 32000
	logits := randomLogits(vocab, 11)
	history := make([]int32, 300)
	for i := range history {
		history[i] = int32(i * 97 % vocab)
	}
	full := DefaultParams()
	full.RepeatPenalty, full.PresencePenalty, full.FrequencyPenalty = 1.1, 0.1, 0.1
	topPOnly := Params{Temperature: 0.7, TopP: 0.9, RepeatLastN: -1, RepeatPenalty: 1.1}
	for name, p := range map[string]Params{
		"default": DefaultParams(), "all penalties": full, "top-p only": topPOnly, "greedy": {},
	} {
		s := mustNew(t, p, vocab)
		s.Sample(logits, history)
		if a := testing.AllocsPerRun(50, func() { s.Sample(logits, history) }); a != 0 {
			t.Errorf("%s: Sample allocates %v times per call, want 0", name, a)
		}
	}
	out := make([]TokenLogProb, 0, 20)
	if a := testing.AllocsPerRun(50, func() { out = LogProbs(logits, 20, out) }); a != 0 {
		t.Errorf("LogProbs allocates %v times per call, want 0", a)
	}
}

func TestValidate(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		p    Params
		want string // substring of the error; "" for valid
	}{
		{Params{}, ""},
		{DefaultParams(), ""},
		{Params{TopP: 1, MinP: 1, RepeatPenalty: 0, RepeatLastN: -1}, ""},
		{Params{Temperature: -0.1}, "temperature"},
		{Params{Temperature: nan}, "temperature"},
		{Params{TopK: -1}, "top_k"},
		{Params{TopP: -0.5}, "top_p"},
		{Params{TopP: 1.5}, "top_p"},
		{Params{MinP: 2}, "min_p"},
		{Params{RepeatPenalty: -1}, "repeat_penalty"},
		{Params{RepeatLastN: -2}, "repeat_last_n"},
		{Params{PresencePenalty: float32(math.Inf(1))}, "presence_penalty"},
		{Params{FrequencyPenalty: nan}, "frequency_penalty"},
	}
	for _, tc := range tests {
		_, err := New(tc.p, 10)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("New(%+v) = %v, want no error", tc.p, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("New(%+v) = %v, want an error about %s", tc.p, err, tc.want)
		}
	}
	if _, err := New(Params{}, 0); err == nil {
		t.Errorf("New with vocabulary 0 succeeded, want an error")
	}
}

func BenchmarkSample32000(b *testing.B) {
	logits := randomLogits(32000, 1)
	history := make([]int32, 64)
	for i := range history {
		history[i] = int32(i * 31)
	}
	cases := []struct {
		name string
		p    Params
	}{
		{"default", DefaultParams()},
		{"top_p_only", Params{Temperature: 0.8, TopP: 0.95}},
		{"no_filters", Params{Temperature: 0.8}},
		{"greedy", Params{}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			s := mustNew(b, c.p, len(logits))
			b.ReportAllocs()
			for b.Loop() {
				s.Sample(logits, history)
			}
		})
	}
}
