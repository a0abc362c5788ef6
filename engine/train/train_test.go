package train

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine/parallel"
)

// TestLearns trains on one fixed sequence and expects its loss to fall a
// long way: the whole machinery (gradients, AdamW, schedule) pointing
// downhill.
func TestLearns(t *testing.T) {
	m := synthModel(t, tinySpec("llama"))
	tr, err := New(m, Config{Targets: allKinds(), Rank: 8, Alpha: 16, LR: 1e-2, Warmup: 5, Steps: 150, Clip: 1, Seed: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seq := randomSeq(rand.New(rand.NewPCG(1, 1)), m.Vocab, 32, nil)
	ctx := context.Background()
	first, n, err := tr.Loss(ctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	for range 150 {
		if _, _, err := tr.Backward(ctx, seq); err != nil {
			t.Fatal(err)
		}
		tr.Update()
	}
	last, _, _ := tr.Loss(ctx, seq)
	if !(last < first/5) {
		t.Fatalf("mean loss went from %.3f to %.3f in 150 steps; want a fifth or less", first/float64(n), last/float64(n))
	}
}

// TestResumeIsExact runs N steps straight, and K steps then Save, Load
// into a fresh trainer and N-K more, with dropout, accumulation and two
// threads: the weights must be bit-identical.
func TestResumeIsExact(t *testing.T) {
	m := synthModel(t, tinySpec("qwen2"))
	cfg := Config{Targets: []string{"q", "v", "down"}, Rank: 4, Alpha: 8, Dropout: 0.1, LR: 5e-3, Warmup: 2, Steps: 8, Clip: 1, WeightDecay: 0.01, Seed: 9}
	rng := rand.New(rand.NewPCG(2, 2))
	data := []Sequence{randomSeq(rng, m.Vocab, 20, nil), randomSeq(rng, m.Vocab, 25, []int{10, 15})}
	pool := parallel.New(2)
	defer pool.Close()
	ctx := context.Background()
	steps := func(tr *Trainer, from, to int) {
		for s := from; s < to; s++ {
			for _, seq := range data { // two sequences accumulated per step
				if _, _, err := tr.Backward(ctx, seq); err != nil {
					t.Fatal(err)
				}
			}
			tr.Update()
		}
	}
	straight, _ := New(m, cfg, pool)
	steps(straight, 0, 8)

	first, _ := New(m, cfg, nil)
	steps(first, 0, 3)
	var buf bytes.Buffer
	if err := first.Save(&buf); err != nil {
		t.Fatal(err)
	}
	resumed, _ := New(m, cfg, pool)
	if err := resumed.Load(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if resumed.Step() != 3 {
		t.Fatalf("resumed at step %d, want 3", resumed.Step())
	}
	steps(resumed, 3, 8)
	a, b := straight.LoRA(), resumed.LoRA()
	for name, l := range a {
		if !slices.Equal(l.A, b[name].A) || !slices.Equal(l.B, b[name].B) {
			t.Fatalf("%s differs after a resume", name)
		}
	}
}

func TestLoadRefuses(t *testing.T) {
	m := synthModel(t, tinySpec("llama"))
	cfg := Config{Targets: []string{"q"}, Rank: 2, Alpha: 4, LR: 1e-3}
	tr, _ := New(m, cfg, nil)
	var buf bytes.Buffer
	if err := tr.Save(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flip := slices.Clone(good)
	flip[len(flip)-20] ^= 1
	other := cfg
	other.Rank = 3
	otherT, _ := New(m, other, nil)
	for _, tc := range []struct {
		name string
		into *Trainer
		data []byte
		want string
	}{
		{"empty", tr, nil, "not a Hearth training state"},
		{"truncated", tr, good[:len(good)-9], "truncated"},
		{"flipped bit", tr, flip, "checksum mismatch"},
		{"other settings", otherT, good, "settings"},
		{"garbage header", tr, append([]byte(stateMagic), 5, 0, 0, 0, '{', '{', '{', '{', '{'), "header"},
		{"absurd header", tr, append([]byte(stateMagic), 0xff, 0xff, 0xff, 0xff), "corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.into.Load(bytes.NewReader(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func FuzzLoad(f *testing.F) {
	m := synthModel(f, tinySpec("llama"))
	cfg := Config{Targets: []string{"k"}, Rank: 1, Alpha: 1, LR: 1e-3}
	tr, _ := New(m, cfg, nil)
	var buf bytes.Buffer
	tr.Save(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte(stateMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr.Load(bytes.NewReader(data)) // must not panic or allocate unboundedly
	})
}

func TestRefusals(t *testing.T) {
	m := synthModel(t, tinySpec("llama"))
	ok := Config{Targets: []string{"q"}, Rank: 2, Alpha: 4, LR: 1e-3}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no targets", func(c *Config) { c.Targets = nil }, "no target"},
		{"unknown target", func(c *Config) { c.Targets = []string{"qq"} }, `unknown target "qq"`},
		{"twice", func(c *Config) { c.Targets = []string{"q", "q"} }, "twice"},
		{"rank 0", func(c *Config) { c.Rank = 0 }, "rank 0"},
		{"rank too big", func(c *Config) { c.Rank = 33 }, "exceeds"},
		{"alpha", func(c *Config) { c.Alpha = 0 }, "alpha"},
		{"dropout", func(c *Config) { c.Dropout = 1 }, "dropout"},
		{"lr", func(c *Config) { c.LR = -1 }, "learning rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			if _, err := New(m, c, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want %q", err, tc.want)
			}
		})
	}
	other := *m
	other.Arch = "gemma3"
	if _, err := New(&other, ok, nil); err == nil || !strings.Contains(err.Error(), "gemma3") {
		t.Fatalf("New on gemma3: %v", err)
	}
	tr, _ := New(m, ok, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		seq  Sequence
		want string
	}{
		{"empty", Sequence{}, "at least 2"},
		{"flags", Sequence{Tokens: []int32{1, 2}, Loss: []bool{false}}, "loss flags"},
		{"vocab", Sequence{Tokens: []int32{1, 999}, Loss: []bool{false, true}}, "outside the vocabulary"},
		{"no targets", Sequence{Tokens: []int32{1, 2}, Loss: []bool{false, false}}, "no target"},
		{"first", Sequence{Tokens: []int32{1, 2}, Loss: []bool{true, true}}, "starts a segment"},
		{"segment start", Sequence{Tokens: []int32{1, 2, 3}, Loss: []bool{false, true, true}, Seg: []int32{0, 0, 1}}, "starts a segment"},
		{"too long", Sequence{Tokens: make([]int32, 65), Loss: make([]bool, 65)}, "context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := tr.Backward(ctx, tc.seq); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Backward: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSchedule(t *testing.T) {
	c := Config{LR: 1, MinLR: 0.1, Warmup: 10, Steps: 110}
	for _, tc := range []struct {
		step int
		want float64
	}{{1, 0.1}, {10, 1}, {60, 0.55}, {110, 0.1}, {500, 0.1}} {
		if got := c.lr(tc.step); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("lr(%d) = %v, want %v", tc.step, got, tc.want)
		}
	}
}

// TestActivationBudget checks that keeping blocks' activations instead of
// recomputing them changes nothing but speed: the same gradients, bit for
// bit, with no block kept, some, and all.
func TestActivationBudget(t *testing.T) {
	spec := tinySpec("llama")
	spec.Blocks = 4
	m := synthModel(t, spec)
	cfg := Config{Targets: allKinds(), Rank: 2, Alpha: 4, Dropout: 0.2, LR: 1e-2, Seed: 4}
	seq := randomSeq(rand.New(rand.NewPCG(8, 9)), m.Vocab, 30, []int{14, 16})
	var ref map[string][]float32
	for _, budget := range []int64{0, 1, 2 * 4 * int64((&Trainer{m: m, c: cfg}).tapeFloats(30)), 1 << 40} {
		tr, _ := New(m, cfg, nil)
		tr.SetActivationBudget(budget)
		for range 3 {
			if _, _, err := tr.Backward(context.Background(), seq); err != nil {
				t.Fatal(err)
			}
			tr.Update()
		}
		got := map[string][]float32{}
		for name, l := range tr.LoRA() {
			got[name] = append(l.A, l.B...)
		}
		if ref == nil {
			ref = got
			continue
		}
		for name := range ref {
			if !slices.Equal(ref[name], got[name]) {
				t.Fatalf("budget %d: %s differs from the all-recomputed run", budget, name)
			}
		}
	}
}

// TestUpdate checks accumulation, clipping and the first AdamW step: the
// stats average the two sequences' losses, the first moment holds (1 -
// beta1) times the averaged and clipped gradient, and, with bias
// correction, the step moves every parameter with a gradient by the
// learning rate against it, whatever the gradient's size.
func TestUpdate(t *testing.T) {
	m := synthModel(t, tinySpec("llama"))
	tr, err := New(m, Config{Targets: []string{"v"}, Rank: 2, Alpha: 2, LR: 1e-2, Clip: 1e-3, Seed: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := tr.Update(); st.Step != 0 {
		t.Fatalf("an Update with nothing accumulated took a step: %+v", st)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	la, na, err := tr.Backward(ctx, randomSeq(rng, m.Vocab, 10, nil))
	if err != nil {
		t.Fatal(err)
	}
	lb, nb, err := tr.Backward(ctx, randomSeq(rng, m.Vocab, 14, nil))
	if err != nil {
		t.Fatal(err)
	}
	p := tr.params[0]
	before, grad := slices.Clone(p.a), slices.Clone(p.ga)
	st := tr.Update()
	if st.Step != 1 || st.Targets != na+nb || math.Abs(st.Loss-(la+lb)/float64(na+nb)) > 1e-12 {
		t.Fatalf("stats %+v, want step 1, %d targets, loss %v", st, na+nb, (la+lb)/float64(na+nb))
	}
	if !(st.GradNorm > 1e-3) {
		t.Fatalf("grad norm %v: the clip did not bind", st.GradNorm)
	}
	clip := 1e-3 / st.GradNorm / float64(st.Targets)
	for i, g := range grad {
		if want := 0.1 * float64(g) * clip; math.Abs(float64(p.ma[i])-want) > 1e-5*math.Abs(want)+1e-12 {
			t.Fatalf("first moment of A[%d] %v, want %v", i, p.ma[i], want)
		}
		if g == 0 {
			continue
		}
		if d := float64(p.a[i] - before[i]); math.Abs(math.Abs(d)-1e-2) > 1e-4 || (d > 0) == (g > 0) {
			t.Fatalf("A[%d] moved by %v with gradient %v, want 1e-2 against it", i, d, g)
		}
	}
	for _, g := range p.ga {
		if g != 0 {
			t.Fatal("gradients not cleared by Update")
		}
	}
}
