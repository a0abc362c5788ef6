// Package adapter reads and writes LoRA adapters in llama.cpp's GGUF layout
// and attaches them to a loaded base model.
//
// An adapter file has general.type "adapter", the base's
// general.architecture, adapter.type "lora" and adapter.lora.alpha, and for
// each adapted weight W two tensors: "W.lora_a" of ggml shape [in, rank]
// and "W.lora_b" of shape [rank, out]. The update is scale * B (A x), with
// scale = user scale * alpha / rank, or the user scale alone when alpha is
// 0 or absent: llama.cpp's rule (llama_adapter_lora_weight::get_scale),
// with the rank taken per weight from lora_b.
//
// What Hearth applies: updates on the block projections (attn_q, attn_k,
// attn_v, attn_output, ffn_gate, ffn_up, ffn_down), with A and B stored as
// F32, F16, BF16 or Q8_0 (convert_lora_to_gguf.py's output types). An
// update on token_embd or output, which llama.cpp also applies, is refused
// (token_embd by Read, output by Attach) rather than silently dropped;
// "*_norm.weight" tensors, which llama.cpp skips, are skipped too.
// Activated LoRA (aLoRA), which applies only after invocation tokens, is
// refused.
package adapter

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// Metadata keys and tensor suffixes of llama.cpp's adapter files.
const (
	KeyType        = "general.type"
	KeyArch        = "general.architecture"
	KeyAdapterType = "adapter.type"
	KeyAlpha       = "adapter.lora.alpha"
	keyALoRA       = "adapter.alora.invocation_tokens"

	suffixA = ".lora_a"
	suffixB = ".lora_b"
)

// ErrMismatch is wrapped by Attach's errors for an adapter that does not
// fit the base: another architecture, a weight the base lacks, or a shape
// that differs.
var ErrMismatch = errors.New("adapter does not fit the base model")

// Adapter is a LoRA adapter: low-rank updates of a base model's weights.
type Adapter struct {
	// Arch is the general.architecture of the base it adapts.
	Arch string
	// Alpha is adapter.lora.alpha; 0 when the file has none, in which
	// case the updates are scaled by the user's scale alone.
	Alpha float32
	// LoRA holds the updates by base weight name ("blk.0.attn_q.weight").
	// Each Scale is the adapter's own, Alpha/Rank (1 when Alpha is 0);
	// Attach multiplies it by the user's scale.
	LoRA map[string]*model.LoRA
	// Meta is the file's other metadata (general.name, lineage, ...) in
	// file order. Write writes it back after the keys above.
	Meta []gguf.KV
	// Source says where the adapter was read from, for errors.
	Source string
}

// Scale is the factor an update of the given rank gets from alpha,
// llama.cpp's rule: alpha/rank, or 1 when alpha is 0.
func Scale(alpha float32, rank int) float32 {
	if alpha == 0 {
		return 1
	}
	return alpha / float32(rank)
}

// Read reads the adapter file at path. The tensors are copied out, so
// nothing stays mapped.
func Read(path string) (*Adapter, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("adapter: %w", err)
	}
	defer f.Close()
	return decode(f, path)
}

// Parse reads an adapter file held in memory (one a registry decrypted,
// say); source names it in errors.
func Parse(data []byte, source string) (*Adapter, error) {
	f, err := gguf.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("adapter: %s: %w", source, err)
	}
	return decode(f, source)
}

func decode(f *gguf.File, src string) (*Adapter, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("adapter: %s: %s", src, fmt.Sprintf(format, args...))
	}
	if typ, _ := f.String(KeyType); typ != "adapter" {
		hint := ""
		if _, ok := f.Tensor("token_embd.weight"); ok {
			hint = " (it looks like a model)"
		}
		return nil, fail("not an adapter file: %s is %q, want \"adapter\"%s", KeyType, typ, hint)
	}
	if typ, _ := f.String(KeyAdapterType); typ != "lora" {
		return nil, fail("%s is %q: only \"lora\" adapters are supported", KeyAdapterType, typ)
	}
	if _, ok := f.Get(keyALoRA); ok {
		return nil, fail("activated LoRA (%s) is not supported", keyALoRA)
	}
	a := &Adapter{Arch: f.Architecture(), LoRA: map[string]*model.LoRA{}, Source: src}
	if a.Arch == "" {
		return nil, fail("no %s: the adapter must name its base's architecture", KeyArch)
	}
	if _, ok := f.Get(KeyAlpha); ok {
		alpha, ok := f.Float(KeyAlpha)
		if !ok || math.IsNaN(alpha) || math.IsInf(alpha, 0) || math.Abs(alpha) > math.MaxFloat32 {
			v, _ := f.Get(KeyAlpha)
			return nil, fail("%s is %v, want a finite number", KeyAlpha, v)
		}
		a.Alpha = float32(alpha)
	}
	for _, kv := range f.KV {
		if !owned(kv.Key) {
			a.Meta = append(a.Meta, kv)
		}
	}

	type pair struct{ a, b *gguf.TensorInfo }
	pairs := map[string]*pair{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		base, isA := strings.CutSuffix(t.Name, suffixA)
		base, isB := strings.CutSuffix(base, suffixB)
		switch {
		case isA || isB:
		case strings.HasSuffix(t.Name, "_norm.weight"):
			continue // llama.cpp skips these too
		default:
			return nil, fail("tensor %q: want a name ending in %s or %s", t.Name, suffixA, suffixB)
		}
		p := pairs[base]
		if p == nil {
			p = &pair{}
			pairs[base] = p
		}
		if isA {
			p.a = t
		} else {
			p.b = t
		}
	}
	if len(pairs) == 0 {
		return nil, fail("no LoRA tensors")
	}
	for name, p := range pairs {
		if p.a == nil || p.b == nil {
			have, miss := suffixA, suffixB
			if p.a == nil {
				have, miss = miss, have
			}
			return nil, fail("tensor %s%s has no %s%s", name, have, name, miss)
		}
		if name == "token_embd.weight" {
			// llama.cpp lays this one out differently (A [rank, vocab]
			// gathered by token, B [rank, dim]) and adds it to the
			// embeddings; Hearth does not.
			return nil, fail("tensors %s: LoRA on the token embeddings is not supported (Hearth adapts the block projections only)", name)
		}
		if len(p.a.Shape) != 2 || len(p.b.Shape) != 2 {
			return nil, fail("tensors %s: shapes %v and %v, want [in, rank] and [rank, out]", name, p.a.Shape, p.b.Shape)
		}
		in, rank, out := p.a.Shape[0], p.a.Shape[1], p.b.Shape[1]
		if p.b.Shape[0] != rank {
			return nil, fail("tensors %s: lora_a has rank %d, lora_b rank %d (shapes %v and %v)", name, rank, p.b.Shape[0], p.a.Shape, p.b.Shape)
		}
		l := &model.LoRA{Rank: int(rank), Scale: Scale(a.Alpha, int(rank))}
		var err error
		if l.A, err = floats(f, p.a, int(rank*in)); err != nil {
			return nil, fail("%v", err)
		}
		if l.B, err = floats(f, p.b, int(out*rank)); err != nil {
			return nil, fail("%v", err)
		}
		a.LoRA[name] = l
	}
	return a, nil
}

// owned reports whether a metadata key is one Adapter keeps in a field of
// its own (or the writer sets), rather than in Meta.
func owned(key string) bool {
	switch key {
	case KeyType, KeyArch, KeyAdapterType, KeyAlpha, "general.alignment":
		return true
	}
	return false
}

// floats decodes a LoRA tensor to float32, refusing types llama.cpp's
// converter does not write and values that are not finite.
func floats(f *gguf.File, t *gguf.TensorInfo, n int) ([]float32, error) {
	switch t.Type {
	case tensor.F32, tensor.F16, tensor.BF16, tensor.Q8_0:
	default:
		return nil, fmt.Errorf("tensor %s: type %s; LoRA tensors must be F32, F16, BF16 or Q8_0", t.Name, t.Type)
	}
	out := make([]float32, n)
	if err := tensor.Dequantize(t.Type, f.TensorData(t), out); err != nil {
		return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
	}
	if i := nonFinite(out); i >= 0 {
		return nil, fmt.Errorf("tensor %s: element %d is %v", t.Name, i, out[i])
	}
	return out, nil
}

// nonFinite returns the index of the first NaN or infinity in v, or -1.
func nonFinite(v []float32) int {
	for i, x := range v {
		if x-x != 0 {
			return i
		}
	}
	return -1
}

// Write writes the adapter as a llama.cpp LoRA GGUF file, A and B as F32.
func (a *Adapter) Write(w io.Writer) error {
	gw, err := a.encode()
	if err != nil {
		return err
	}
	if _, err := gw.WriteTo(w); err != nil {
		return fmt.Errorf("adapter: write: %w", err)
	}
	return nil
}

// WriteFile writes the adapter to path atomically.
func (a *Adapter) WriteFile(path string) error {
	gw, err := a.encode()
	if err != nil {
		return err
	}
	if err := gw.WriteFile(path); err != nil {
		return fmt.Errorf("adapter: %w", err)
	}
	return nil
}

func (a *Adapter) encode() (*gguf.Writer, error) {
	if a.Arch == "" {
		return nil, fmt.Errorf("adapter: write: no base architecture")
	}
	if len(a.LoRA) == 0 {
		return nil, fmt.Errorf("adapter: write: no LoRA tensors")
	}
	if math.IsNaN(float64(a.Alpha)) || math.IsInf(float64(a.Alpha), 0) {
		return nil, fmt.Errorf("adapter: write: alpha is %v", a.Alpha)
	}
	w := gguf.NewWriter()
	w.SetKV(KeyType, "adapter")
	w.SetKV(KeyArch, a.Arch)
	w.SetKV(KeyAdapterType, "lora")
	w.SetKV(KeyAlpha, a.Alpha)
	for _, kv := range a.Meta {
		if !owned(kv.Key) {
			w.SetKV(kv.Key, kv.Value)
		}
	}
	for _, name := range sortedNames(a.LoRA) {
		l := a.LoRA[name]
		if l == nil {
			return nil, fmt.Errorf("adapter: write %s: no update", name)
		}
		if l.Rank <= 0 || len(l.A) == 0 || len(l.B) == 0 || len(l.A)%l.Rank != 0 || len(l.B)%l.Rank != 0 {
			return nil, fmt.Errorf("adapter: write %s: malformed update (rank %d, %d A and %d B elements)", name, l.Rank, len(l.A), len(l.B))
		}
		if want := Scale(a.Alpha, l.Rank); !closeTo(l.Scale, want) {
			return nil, fmt.Errorf("adapter: write %s: scale %g is not alpha %g / rank %d = %g; the file stores alpha, so the scale cannot be kept", name, l.Scale, a.Alpha, l.Rank, want)
		}
		for _, t := range []struct {
			suffix string
			v      []float32
		}{{suffixA, l.A}, {suffixB, l.B}} {
			if i := nonFinite(t.v); i >= 0 {
				return nil, fmt.Errorf("adapter: write %s%s: element %d is %v", name, t.suffix, i, t.v[i])
			}
			// A is (Rank, In): ggml [In, Rank]; B is (Out, Rank): ggml [Rank, Out].
			rows := len(t.v) / l.Rank
			shape := []int64{int64(rows), int64(l.Rank)}
			if t.suffix == suffixB {
				shape = []int64{int64(l.Rank), int64(rows)}
			}
			data := make([]byte, 4*len(t.v))
			if err := tensor.Quantize(tensor.F32, t.v, data); err != nil {
				return nil, fmt.Errorf("adapter: write %s%s: %w", name, t.suffix, err)
			}
			if err := w.AddTensor(name+t.suffix, tensor.F32, shape, data); err != nil {
				return nil, fmt.Errorf("adapter: write: %w", err)
			}
		}
	}
	return w, nil
}

// closeTo allows the rounding of a scale computed in float64 and stored as
// float32 by the trainer.
func closeTo(a, b float32) bool {
	return math.Abs(float64(a)-float64(b)) <= 1e-6*math.Abs(float64(b))
}

// sortedNames returns the set's weight names in order, so that files and
// errors come out the same every time.
func sortedNames(set map[string]*model.LoRA) []string {
	return slices.Sorted(maps.Keys(set))
}
