package adapter_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/synth"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// base writes a small F32 synth model and loads it; the file stays
// mapped until the test ends.
func base(t *testing.T, spec synth.Spec) (string, *model.Transformer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "base.gguf")
	if err := synth.Write(path, spec); err != nil {
		t.Fatal(err)
	}
	return path, load(t, path)
}

func load(t *testing.T, path string) *model.Transformer {
	t.Helper()
	m, err := engine.Load(path, engine.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m.Net
}

// random makes an adapter with seeded N(0, std) A and B on the projections
// of the given kinds.
func random(m *model.Transformer, kinds string, rank int, alpha float32, std float64, seed uint64) *adapter.Adapter {
	rng := rand.New(rand.NewPCG(seed, 1))
	a := &adapter.Adapter{Arch: m.Arch, Alpha: alpha, LoRA: map[string]*model.LoRA{}}
	for _, p := range m.Projections() {
		if !strings.Contains(","+kinds+",", ","+model.Kind(p.Name)+",") {
			continue
		}
		l := &model.LoRA{Rank: rank, Scale: adapter.Scale(alpha, rank),
			A: make([]float32, rank*p.W.Cols), B: make([]float32, p.W.Rows*rank)}
		for i := range l.A {
			l.A[i] = float32(rng.NormFloat64() * std)
		}
		for i := range l.B {
			l.B[i] = float32(rng.NormFloat64() * std)
		}
		a.LoRA[p.Name] = l
	}
	return a
}

// merge writes a copy of the F32 model at path with each adapted weight
// replaced by W + sum of scale * B A, computed in float64.
func merge(t *testing.T, path string, uses ...adapter.Use) string {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := gguf.NewWriter()
	for _, kv := range f.KV {
		w.SetKV(kv.Key, kv.Value)
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if ti.Type != tensor.F32 {
			t.Fatalf("merge needs an F32 model; %s is %s", ti.Name, ti.Type)
		}
		vals := make([]float32, ti.Elements())
		if err := tensor.Dequantize(ti.Type, f.TensorData(ti), vals); err != nil {
			t.Fatal(err)
		}
		in := int(ti.Shape[0])
		for _, u := range uses {
			l := u.LoRA[ti.Name]
			if l == nil {
				continue
			}
			s := float64(l.Scale) * float64(u.Scale)
			out := len(vals) / in
			for o := 0; o < out; o++ {
				for c := 0; c < in; c++ {
					var d float64
					for k := 0; k < l.Rank; k++ {
						d += float64(l.B[o*l.Rank+k]) * float64(l.A[k*in+c])
					}
					vals[o*in+c] = float32(float64(vals[o*in+c]) + s*d)
				}
			}
		}
		data := make([]byte, 4*len(vals))
		if err := tensor.Quantize(tensor.F32, vals, data); err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(ti.Name, ti.Type, ti.Shape, data); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "merged.gguf")
	if err := w.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	return out
}

var prompt = []int32{1, 300, 301, 302, 303, 260, 261, 305, 40, 41, 42}

// logits runs the prompt and returns the logits after every token.
func logits(t *testing.T, m *model.Transformer) [][]float32 {
	t.Helper()
	s := m.NewState(0)
	var all [][]float32
	for _, tok := range prompt {
		l, err := m.Forward(context.Background(), s, []int32{tok})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, append([]float32(nil), l...))
	}
	return all
}

func maxDiff(a, b [][]float32) float64 {
	var worst float64
	for i := range a {
		for j := range a[i] {
			worst = math.Max(worst, math.Abs(float64(a[i][j])-float64(b[i][j])))
		}
	}
	return worst
}

// TestAttachMatchesMergedWeights checks the update against its definition:
// the adapted model's logits equal those of a model whose weights are
// W + s B A, for one adapter and for two summed on the same projections,
// at user scales other than 1, on both architectures.
func TestAttachMatchesMergedWeights(t *testing.T) {
	for _, arch := range []string{"llama", "qwen2"} {
		t.Run(arch, func(t *testing.T) {
			path, m := base(t, synth.Spec{Arch: arch, Std: 0.08, Seed: 3})
			a1 := random(m, "q,k,v,o,gate,up,down", 4, 8, 0.1, 1)
			a2 := random(m, "q,v,down", 2, 0, 0.1, 2) // no alpha: scale is the user's alone
			base := logits(t, m)
			for _, tc := range []struct {
				name string
				uses []adapter.Use
			}{
				{"one", []adapter.Use{{Adapter: a1, Scale: 1}}},
				{"one scaled", []adapter.Use{{Adapter: a1, Scale: 0.5}}},
				{"two summed", []adapter.Use{{Adapter: a1, Scale: 0.75}, {Adapter: a2, Scale: 1.5}}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					got, err := adapter.Attach(m, tc.uses...)
					if err != nil {
						t.Fatal(err)
					}
					want := load(t, merge(t, path, tc.uses...))
					gl, wl := logits(t, got), logits(t, want)
					d := maxDiff(gl, wl)
					moved := maxDiff(gl, base)
					t.Logf("adapted vs merged: largest logit difference %.2g; the adapter moves logits by up to %.2g", d, moved)
					// float32 rounding of two summation orders (measured 1.1e-6),
					// against an update that moves logits by more than 1.
					if d > 1e-5 {
						t.Errorf("adapted and merged logits differ by %.2g", d)
					}
					if moved < 0.05 {
						t.Errorf("the adapter moves logits by only %.2g: the test shows nothing", moved)
					}
				})
			}
			// The base is untouched by attaching.
			if d := maxDiff(logits(t, m), base); d != 0 {
				t.Errorf("attaching changed the base model's logits by %.2g", d)
			}
		})
	}
}

// TestZeroBChangesNothing: a freshly initialised adapter (B = 0, as
// training starts) leaves the logits exactly as they were.
func TestZeroBChangesNothing(t *testing.T) {
	_, m := base(t, synth.Spec{Seed: 4})
	a := random(m, "q,k,v,o,gate,up,down", 8, 16, 0.1, 5)
	for _, l := range a.LoRA {
		clear(l.B)
	}
	got, err := adapter.Attach(m, adapter.Use{Adapter: a, Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(logits(t, got), logits(t, m)) {
		t.Error("an adapter with B = 0 changed the logits")
	}
}

// TestScaleZeroAttachesNothing: --lora-scaled FILE 0 turns an adapter off.
func TestScaleZeroAttachesNothing(t *testing.T) {
	_, m := base(t, synth.Spec{Seed: 4})
	got, err := adapter.Attach(m, adapter.Use{Adapter: random(m, "q", 2, 4, 0.1, 5), Scale: 0})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range got.Projections() {
		if p.LoRA != nil {
			t.Errorf("%s has an update at scale 0", p.Name)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	_, m := base(t, synth.Spec{Seed: 6})
	for _, alpha := range []float32{0, 16, -2.5} {
		a := random(m, "q,k,v,o,gate,up,down", 3, alpha, 0.3, 7)
		a.Meta = []gguf.KV{{Key: "general.name", Value: "test adapter"}, {Key: "hearth.dataset", Value: "support@3"}, {Key: "hearth.steps", Value: uint32(120)}}
		var buf bytes.Buffer
		if err := a.Write(&buf); err != nil {
			t.Fatal(err)
		}
		got, err := adapter.Parse(buf.Bytes(), "buffer")
		if err != nil {
			t.Fatal(err)
		}
		a.Source = "buffer"
		if !reflect.DeepEqual(got, a) {
			t.Errorf("alpha %g: read back a different adapter", alpha)
		}
		// And through a file, written atomically.
		path := filepath.Join(t.TempDir(), "a.gguf")
		if err := a.WriteFile(path); err != nil {
			t.Fatal(err)
		}
		got, err = adapter.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		a.Source = path
		if !reflect.DeepEqual(got, a) {
			t.Errorf("alpha %g: file read back different", alpha)
		}
	}
}

// rawTensor is a tensor for rawFile, its values quantized to typ.
type rawTensor struct {
	name  string
	typ   tensor.DType
	shape []int64
	vals  []float32
}

// rawFile builds an adapter GGUF by hand: llama.cpp's keys, overridden
// by kv (a nil value leaves the key out), then the tensors.
func rawFile(t *testing.T, kv map[string]any, tensors ...rawTensor) []byte {
	t.Helper()
	w := gguf.NewWriter()
	defaults := []gguf.KV{{Key: "general.type", Value: "adapter"}, {Key: "general.architecture", Value: "llama"},
		{Key: "adapter.type", Value: "lora"}, {Key: "adapter.lora.alpha", Value: float32(8)}}
	set := map[string]bool{}
	for _, d := range defaults {
		set[d.Key] = true
		v, ok := kv[d.Key]
		if !ok {
			v = d.Value
		}
		if v != nil {
			w.SetKV(d.Key, v)
		}
	}
	for k, v := range kv {
		if !set[k] {
			w.SetKV(k, v)
		}
	}
	for _, rt := range tensors {
		size, err := rt.typ.RowSize(int64(len(rt.vals)))
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, size)
		if err := tensor.Quantize(rt.typ, rt.vals, data); err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(rt.name, rt.typ, rt.shape, data); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func seq(n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = scale * float32(i%17-8)
	}
	return v
}

// TestReadTypes reads A and B stored as each type llama.cpp's converter
// writes, and checks them against the type's own dequantization.
func TestReadTypes(t *testing.T) {
	const in, rank, out = 64, 32, 64 // Q8_0 rows need multiples of 32
	for _, typ := range []tensor.DType{tensor.F32, tensor.F16, tensor.BF16, tensor.Q8_0} {
		t.Run(typ.String(), func(t *testing.T) {
			av, bv := seq(rank*in, 0.01), seq(out*rank, 0.02)
			data := rawFile(t, nil,
				rawTensor{"blk.0.attn_q.weight.lora_a", typ, []int64{in, rank}, av},
				rawTensor{"blk.0.attn_q.weight.lora_b", typ, []int64{rank, out}, bv},
				rawTensor{"blk.0.attn_norm.weight", tensor.F32, []int64{in}, seq(in, 1)}, // skipped, as llama.cpp does
			)
			a, err := adapter.Parse(data, "x.gguf")
			if err != nil {
				t.Fatal(err)
			}
			l := a.LoRA["blk.0.attn_q.weight"]
			if len(a.LoRA) != 1 || l == nil || l.Rank != rank || l.Scale != 8.0/rank {
				t.Fatalf("read %d updates; q: %+v", len(a.LoRA), l)
			}
			for _, c := range []struct {
				got, src []float32
			}{{l.A, av}, {l.B, bv}} {
				want := roundTo(t, typ, c.src)
				if !reflect.DeepEqual(c.got, want) {
					t.Errorf("values differ from %s's dequantization", typ)
				}
			}
		})
	}
}

func roundTo(t *testing.T, typ tensor.DType, v []float32) []float32 {
	t.Helper()
	size, _ := typ.RowSize(int64(len(v)))
	b := make([]byte, size)
	if err := tensor.Quantize(typ, v, b); err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(v))
	if err := tensor.Dequantize(typ, b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestBadAdapters: each kind of bad file or misfit is a clear error that
// names the file and the tensor or key.
func TestBadAdapters(t *testing.T) {
	path, m := base(t, synth.Spec{Seed: 8}) // llama, dim 64, kv dim 32, ffn 192
	dim := int64(m.Dim)
	qa := rawTensor{"blk.0.attn_q.weight.lora_a", tensor.F32, []int64{dim, 2}, seq(int(2*dim), 0.01)}
	qb := rawTensor{"blk.0.attn_q.weight.lora_b", tensor.F32, []int64{2, dim}, seq(int(2*dim), 0.01)}
	nan := seq(int(2*dim), 0.01)
	nan[5] = float32(math.NaN())
	inf := seq(int(2*dim), 0.01)
	inf[7] = float32(math.Inf(-1))
	model, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		data   []byte
		read   []string // in Parse's error; nil: Parse succeeds
		attach []string // in Attach's error
		fits   bool     // Attach's error wraps ErrMismatch
	}{
		{"model file", model, []string{"f.gguf", "not an adapter file", "looks like a model"}, nil, false},
		{"not gguf", []byte("hello, this is not a GGUF file at all"), []string{"f.gguf", "not a GGUF file"}, nil, false},
		{"no general.type", rawFile(t, map[string]any{"general.type": nil}, qa, qb), []string{"f.gguf", "general.type"}, nil, false},
		{"control vector", rawFile(t, map[string]any{"adapter.type": "control_vector"}, qa, qb), []string{"f.gguf", "adapter.type", "control_vector"}, nil, false},
		{"aLoRA", rawFile(t, map[string]any{"adapter.alora.invocation_tokens": []uint32{5, 6}}, qa, qb), []string{"f.gguf", "activated LoRA"}, nil, false},
		{"no architecture", rawFile(t, map[string]any{"general.architecture": nil}, qa, qb), []string{"f.gguf", "general.architecture"}, nil, false},
		{"NaN alpha", rawFile(t, map[string]any{"adapter.lora.alpha": float32(math.NaN())}, qa, qb), []string{"f.gguf", "adapter.lora.alpha"}, nil, false},
		{"string alpha", rawFile(t, map[string]any{"adapter.lora.alpha": "16"}, qa, qb), []string{"f.gguf", "adapter.lora.alpha"}, nil, false},
		{"no tensors", rawFile(t, nil), []string{"f.gguf", "no LoRA tensors"}, nil, false},
		{"unexpected tensor", rawFile(t, nil, qa, qb, rawTensor{"blk.0.attn_q.weight", tensor.F32, []int64{dim}, seq(int(dim), 1)}),
			[]string{"f.gguf", `"blk.0.attn_q.weight"`, ".lora_a or .lora_b"}, nil, false},
		{"missing lora_b", rawFile(t, nil, qa), []string{"f.gguf", "blk.0.attn_q.weight.lora_a has no blk.0.attn_q.weight.lora_b"}, nil, false},
		{"missing lora_a", rawFile(t, nil, qb), []string{"f.gguf", "blk.0.attn_q.weight.lora_b has no blk.0.attn_q.weight.lora_a"}, nil, false},
		{"rank mismatch", rawFile(t, nil, qa, rawTensor{qb.name, tensor.F32, []int64{4, dim / 2}, qb.vals}),
			[]string{"f.gguf", "blk.0.attn_q.weight", "lora_a has rank 2, lora_b rank 4"}, nil, false},
		{"3-D tensor", rawFile(t, nil, qa, rawTensor{qb.name, tensor.F32, []int64{2, dim / 2, 2}, qb.vals}),
			[]string{"f.gguf", "blk.0.attn_q.weight", "want [in, rank] and [rank, out]"}, nil, false},
		{"NaN", rawFile(t, nil, rawTensor{qa.name, tensor.F32, qa.shape, nan}, qb), []string{"f.gguf", "blk.0.attn_q.weight.lora_a", "element 5 is NaN"}, nil, false},
		{"Inf", rawFile(t, nil, qa, rawTensor{qb.name, tensor.F32, qb.shape, inf}), []string{"f.gguf", "blk.0.attn_q.weight.lora_b", "element 7 is -Inf"}, nil, false},
		{"Q4_0 tensors", rawFile(t, nil, rawTensor{qa.name, tensor.Q4_0, qa.shape, qa.vals}, qb), []string{"f.gguf", "blk.0.attn_q.weight.lora_a", "type Q4_0"}, nil, false},
		{"other architecture", rawFile(t, map[string]any{"general.architecture": "qwen2"}, qa, qb), nil,
			[]string{"f.gguf", `architecture "qwen2"`, `base is "llama"`}, true},
		{"weight the base lacks", rawFile(t, nil,
			rawTensor{"blk.7.attn_q.weight.lora_a", tensor.F32, qa.shape, qa.vals}, rawTensor{"blk.7.attn_q.weight.lora_b", tensor.F32, qb.shape, qb.vals}),
			nil, []string{"f.gguf", "blk.7.attn_q.weight", "no weight"}, true},
		{"input width", rawFile(t, nil, rawTensor{qa.name, tensor.F32, []int64{dim / 2, 4}, qa.vals}, rawTensor{qb.name, tensor.F32, []int64{4, dim / 2}, qb.vals}),
			nil, []string{"f.gguf", "blk.0.attn_q.weight", "lora_a [32, 4] and lora_b [4, 32], the base weight is [64, 64]"}, true},
		{"output width", rawFile(t, nil,
			rawTensor{"blk.1.attn_k.weight.lora_a", tensor.F32, qa.shape, qa.vals}, rawTensor{"blk.1.attn_k.weight.lora_b", tensor.F32, qb.shape, qb.vals}),
			nil, []string{"f.gguf", "blk.1.attn_k.weight", "the base weight is [64, 32]"}, true},
		{"token_embd", rawFile(t, nil,
			rawTensor{"token_embd.weight.lora_a", tensor.F32, []int64{2, int64(m.Vocab)}, seq(2*m.Vocab, 0.01)}, rawTensor{"token_embd.weight.lora_b", tensor.F32, []int64{2, dim}, qb.vals}),
			[]string{"f.gguf", "token_embd.weight", "not supported"}, nil, false},
		{"output", rawFile(t, nil,
			rawTensor{"output.weight.lora_a", tensor.F32, []int64{dim, 2}, qa.vals}, rawTensor{"output.weight.lora_b", tensor.F32, []int64{2, int64(m.Vocab)}, seq(2*m.Vocab, 0.01)}),
			nil, []string{"f.gguf", "output.weight", "not supported"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := adapter.Parse(tc.data, "f.gguf")
			if tc.read != nil {
				wantErr(t, err, tc.read)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = adapter.Attach(m, adapter.Use{Adapter: a, Scale: 1})
			wantErr(t, err, tc.attach)
			if errors.Is(err, adapter.ErrMismatch) != tc.fits {
				t.Errorf("errors.Is(err, ErrMismatch) = %v, want %v", !tc.fits, tc.fits)
			}
		})
	}
}

func wantErr(t *testing.T, err error, parts []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestWriteRefuses(t *testing.T) {
	good := func() *adapter.Adapter {
		return &adapter.Adapter{Arch: "llama", Alpha: 4, LoRA: map[string]*model.LoRA{
			"blk.0.attn_q.weight": {Rank: 2, A: seq(8, 0.1), B: seq(6, 0.1), Scale: 2}}}
	}
	cases := []struct {
		name   string
		change func(*adapter.Adapter)
		want   string
	}{
		{"no arch", func(a *adapter.Adapter) { a.Arch = "" }, "no base architecture"},
		{"no tensors", func(a *adapter.Adapter) { a.LoRA = nil }, "no LoRA tensors"},
		{"scaled", func(a *adapter.Adapter) { a.LoRA["blk.0.attn_q.weight"].Scale = 1 }, "scale 1 is not alpha 4 / rank 2"},
		{"ragged A", func(a *adapter.Adapter) { a.LoRA["blk.0.attn_q.weight"].A = seq(7, 1) }, "malformed"},
		{"NaN", func(a *adapter.Adapter) { a.LoRA["blk.0.attn_q.weight"].B[3] = float32(math.NaN()) }, "lora_b: element 3 is NaN"},
		{"Inf alpha", func(a *adapter.Adapter) { a.Alpha = float32(math.Inf(1)) }, "alpha is +Inf"},
	}
	if err := good().Write(&bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := good()
			tc.change(a)
			wantErr(t, a.Write(&bytes.Buffer{}), []string{tc.want})
		})
	}
}

// FuzzParse feeds the reader mutations of small adapter files (the seed
// corpus in testdata/fuzz/FuzzParse): it must return an adapter or an
// error, never panic, and what it returns must write back and read again
// the same.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := adapter.Parse(data, "fuzz")
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := a.Write(&buf); err != nil {
			t.Fatalf("writing what Parse read: %v", err)
		}
		b, err := adapter.Parse(buf.Bytes(), "fuzz")
		if err != nil {
			t.Fatalf("re-reading what Write wrote: %v", err)
		}
		b.Source = a.Source
		if !reflect.DeepEqual(a, b) {
			t.Fatal("write and read changed the adapter")
		}
	})
}
