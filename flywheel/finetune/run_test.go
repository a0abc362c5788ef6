package finetune

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/synth"
	"github.com/hearth-ai/hearth/flywheel/dataset"
)

// synthModel writes a small random llama to a temporary file.
func synthModel(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "base.gguf")
	if err := synth.Write(path, synth.Spec{Dim: 32, Heads: 4, Blocks: 2, Context: 256, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	return path
}

// examples are n short conversations, each answered after its question.
func examples(n int) []dataset.Example {
	out := make([]dataset.Example, n)
	for i := range out {
		out[i] = dataset.Example{ResponseID: fmt.Sprintf("resp_%d", i), Messages: msgs(
			"user", fmt.Sprintf("What is %d plus one?", i),
			"assistant", fmt.Sprintf("It is %d.", i+1))}
	}
	return out
}

func testSpec(t *testing.T, base string) Spec {
	return Spec{
		BasePath: base, Train: examples(10), Eval: examples(3)[1:],
		Hyper:   Hyper{Rank: 4, Epochs: 2, Batch: 2, Seq: 200, CheckpointEvery: 2, Seed: 7, Targets: []string{"q", "v", "down"}},
		Threads: 2, Dir: filepath.Join(t.TempDir(), "run"),
	}
}

func readAdapter(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, AdapterFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cancelAt is a progress callback that cancels the run after step k.
func cancelAt(k int, cancel context.CancelFunc, first *int) func(Progress) {
	return func(p Progress) {
		if *first == 0 {
			*first = p.Step
		}
		if p.Step == k {
			cancel()
		}
	}
}

func TestRunResumesToTheSameAdapter(t *testing.T) {
	base := synthModel(t)
	whole := testSpec(t, base)
	var steps []Progress
	res, err := Run(context.Background(), whole, func(p Progress) { steps = append(steps, p) })
	if err != nil {
		t.Fatal(err)
	}
	// 10 examples of a few dozen tokens pack two to a sequence of 64: 5
	// sequences, 3 steps of 2 per epoch.
	if res.TrainReport.Sequences != 5 || res.Steps != 6 || len(steps) != 6 {
		t.Fatalf("train report %+v, %d steps, %d reported", res.TrainReport, res.Steps, len(steps))
	}
	for i, p := range steps {
		if p.Step != i+1 || p.Steps != 6 || p.Checkpoint != (p.Step%2 == 0) || p.Tokens <= 0 {
			t.Errorf("progress %d: %+v", i, p)
		}
	}
	if res.EvalReport.Examples != 2 || res.EvalLoss <= 0 || res.TrainLoss <= 0 || res.Tokens != steps[5].Tokens {
		t.Errorf("result %+v", res)
	}
	want := readAdapter(t, whole.Dir)

	s := whole
	s.Dir = filepath.Join(t.TempDir(), "interrupted")
	ctx, cancel := context.WithCancel(context.Background())
	var first int
	if _, err := Run(ctx, s, cancelAt(3, cancel, &first)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, AdapterFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an interrupted run left an adapter: %v", err)
	}
	cps, err := Checkpoints(s.Dir)
	if err != nil || len(cps) != 1 || cps[0].Step != 2 {
		t.Fatalf("checkpoints after the cancel: %+v, %v", cps, err)
	}
	first = 0
	res2, err := Run(context.Background(), s, cancelAt(-1, nil, &first))
	if err != nil {
		t.Fatal(err)
	}
	if first != 3 {
		t.Errorf("the resumed run began at step %d, want 3", first)
	}
	if got := readAdapter(t, s.Dir); !bytes.Equal(got, want) {
		t.Errorf("the resumed run's adapter differs from the uninterrupted run's")
	}
	if res2.TrainLoss != res.TrainLoss || res2.EvalLoss != res.EvalLoss || res2.Tokens != res.Tokens {
		t.Errorf("resumed %+v\nwhole %+v", res2, res)
	}
	checkStepLog(t, s.Dir, 6)
	// Three checkpoints are kept: steps 2, 4 and 6 of 2, 4, 6.
	cps, _ = Checkpoints(s.Dir)
	if got := stepsOf(cps); !slices.Equal(got, []int{2, 4, 6}) {
		t.Errorf("checkpoints %v", got)
	}

	// A finished run run again trains nothing and writes the same adapter.
	first = 0
	if _, err := Run(context.Background(), s, cancelAt(-1, nil, &first)); err != nil || first != 0 {
		t.Errorf("rerun of a finished run: %v, began at step %d", err, first)
	}
	if got := readAdapter(t, s.Dir); !bytes.Equal(got, want) {
		t.Errorf("the rerun's adapter differs")
	}
}

func stepsOf(cps []Checkpoint) []int {
	var out []int
	for _, c := range cps {
		out = append(out, c.Step)
	}
	return out
}

// checkStepLog checks that the log has one line per step, in order, as if
// the run had never stopped.
func checkStepLog(t *testing.T, dir string, steps int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, StepsFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != steps {
		t.Fatalf("%d log lines, want %d:\n%s", len(lines), steps, b)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, fmt.Sprintf(`{"step":%d,"epoch":`, i+1)) || !strings.Contains(l, `"grad_norm":`) || !strings.Contains(l, `"tokens_per_sec":`) {
			t.Errorf("line %d: %s", i+1, l)
		}
	}
}

func TestRunPassesOverDamagedCheckpoints(t *testing.T) {
	base := synthModel(t)
	whole := testSpec(t, base)
	if _, err := Run(context.Background(), whole, nil); err != nil {
		t.Fatal(err)
	}
	want := readAdapter(t, whole.Dir)

	s := whole
	s.Dir = filepath.Join(t.TempDir(), "damaged")
	var logs bytes.Buffer
	s.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	var first int
	if _, err := Run(ctx, s, cancelAt(5, cancel, &first)); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	newest := checkpointPath(s.Dir, 4)
	damage(t, newest)
	first = 0
	if _, err := Run(context.Background(), s, cancelAt(-1, nil, &first)); err != nil {
		t.Fatal(err)
	}
	if first != 3 || !strings.Contains(logs.String(), "checkpoint damaged") || !strings.Contains(logs.String(), "step-000004.ckpt") {
		t.Errorf("resumed at step %d; log:\n%s", first, logs.String())
	}
	if !bytes.Equal(readAdapter(t, s.Dir), want) {
		t.Errorf("adapter differs after resuming from the older checkpoint")
	}

	// With every checkpoint damaged the run fails naming them, and writes
	// nothing.
	s.Dir = filepath.Join(t.TempDir(), "all-damaged")
	ctx, cancel = context.WithCancel(context.Background())
	if _, err := Run(ctx, s, cancelAt(5, cancel, &first)); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	damage(t, checkpointPath(s.Dir, 2))
	if err := os.Truncate(checkpointPath(s.Dir, 4), 100); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), s, nil)
	if err == nil || !strings.Contains(err.Error(), "step-000002.ckpt: checksum mismatch") || !strings.Contains(err.Error(), "step-000004.ckpt") {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, AdapterFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("adapter written: %v", err)
	}
}

// damage flips a byte in the middle of a file.
func damage(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRunRefusesAnotherRunsCheckpoint(t *testing.T) {
	base := synthModel(t)
	s := testSpec(t, base)
	ctx, cancel := context.WithCancel(context.Background())
	var first int
	if _, err := Run(ctx, s, cancelAt(2, cancel, &first)); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"hyper", func(s *Spec) { s.Hyper.LR = 1e-3 }, "the hyper-parameters differ"},
		{"examples", func(s *Spec) { s.Train = examples(11) }, "the examples differ"},
		{"base", func(s *Spec) { s.BasePath = otherBase(t) }, "the base model files differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := s
			tc.edit(&o)
			_, err := Run(context.Background(), o, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "step-000002.ckpt") {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
	// Threads and the checkpoint interval are not part of a run: others
	// resume it.
	s.Threads, s.Hyper.CheckpointEvery = 1, 3
	if _, err := Run(context.Background(), s, nil); err != nil {
		t.Errorf("resume with another thread count: %v", err)
	}
}

func otherBase(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "other.gguf")
	if err := synth.Write(path, synth.Spec{Dim: 32, Heads: 4, Blocks: 2, Context: 256, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunBadInput(t *testing.T) {
	base := synthModel(t)
	for _, tc := range []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"no examples", func(s *Spec) { s.Train = nil }, "no usable training examples: the dataset's train split is empty"},
		{"no assistant", func(s *Spec) { s.Train = []dataset.Example{{Messages: msgs("user", "hi")}} }, "1 with no assistant token"},
		{"unknown target", func(s *Spec) { s.Hyper.Targets = []string{"q", "qkv"} }, `target "qkv": not a projection kind`},
		{"repeated target", func(s *Spec) { s.Hyper.Targets = []string{"q", "q"} }, `target "q" given twice`},
		{"dropout", func(s *Spec) { s.Hyper.Dropout = 1 }, "dropout 1"},
		{"lr", func(s *Spec) { s.Hyper.LR = -1 }, "lr -1"},
		{"unsupported base", func(s *Spec) {
			s.BasePath = filepath.Join("..", "..", "..", "shared", "testdata", "models", "ggml-vocab-gpt-2.gguf")
		}, "unsupported"},
		{"missing base", func(s *Spec) { s.BasePath = filepath.Join(t.TempDir(), "none.gguf") }, "no such file"},
		{"no dir", func(s *Spec) { s.Dir = "" }, "no run directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec(t, base)
			tc.edit(&s)
			_, err := Run(context.Background(), s, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if s.Dir == "" {
				return
			}
			if _, err := os.Stat(filepath.Join(s.Dir, AdapterFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("adapter written: %v", err)
			}
			if _, err := os.Stat(s.Dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the run's directory was made: %v", err)
			}
		})
	}
}

// The adapter is llama.cpp's LoRA layout, and the model code takes it.
func TestAdapterFile(t *testing.T) {
	base := synthModel(t)
	s := testSpec(t, base)
	res, err := Run(context.Background(), s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(res.Adapter); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("adapter %v, %v", st, err)
	}
	f, err := gguf.Open(res.Adapter)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for k, want := range map[string]string{"general.type": "adapter", "general.architecture": "llama", "adapter.type": "lora"} {
		if got, _ := f.String(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if a, _ := f.Float("adapter.lora.alpha"); a != DefaultAlpha {
		t.Errorf("alpha %v", a)
	}
	bf, err := gguf.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	net, err := model.Load(bf)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]*model.LoRA{}
	for _, p := range net.Projections() {
		if !slices.Contains(s.Hyper.Targets, model.Kind(p.Name)) {
			if _, ok := f.Tensor(p.Name + ".lora_a"); ok {
				t.Errorf("%s is not a target but has an update", p.Name)
			}
			continue
		}
		a, okA := f.Tensor(p.Name + ".lora_a")
		b, okB := f.Tensor(p.Name + ".lora_b")
		if !okA || !okB {
			t.Fatalf("%s: no lora_a or lora_b", p.Name)
		}
		if !slices.Equal(a.Shape, []int64{int64(p.W.Cols), 4}) || !slices.Equal(b.Shape, []int64{4, int64(p.W.Rows)}) {
			t.Errorf("%s: shapes %v, %v", p.Name, a.Shape, b.Shape)
		}
		set[p.Name] = &model.LoRA{Rank: 4, A: floats(f.TensorData(a)), B: floats(f.TensorData(b)), Scale: DefaultAlpha / 4}
	}
	if len(set) != 2*3 {
		t.Errorf("%d updates, want 3 targets in 2 blocks", len(set))
	}
	if _, err := net.WithLoRA(set); err != nil {
		t.Error(err)
	}
}

func floats(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = float32frombits(b[4*i:])
	}
	return out
}

func float32frombits(b []byte) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(b))
}
