package finetune

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/tensor"
	"github.com/hearth-ai/hearth/internal/atomicfile"
)

// writeAdapter writes the trained updates as a llama.cpp LoRA adapter,
// atomically, so a file at path is always a whole adapter: general.type
// "adapter", the base's architecture, adapter.type "lora" with its alpha,
// and per projection "<weight>.lora_a" of ggml shape [in, rank] and
// ".lora_b" of [rank, out], F32, in the order of the forward pass.
//
// It stands in for engine/adapter's writer until that package exists.
func writeAdapter(path string, net *model.Transformer, alpha float64, set map[string]*model.LoRA) error {
	w := gguf.NewWriter()
	w.SetKV("general.architecture", net.Arch)
	w.SetKV("general.type", "adapter")
	w.SetKV("adapter.type", "lora")
	w.SetKV("adapter.lora.alpha", float32(alpha))
	n := 0
	for _, p := range net.Projections() {
		l := set[p.Name]
		if l == nil {
			continue
		}
		in, out := int64(p.W.Cols), int64(p.W.Rows)
		if err := w.AddTensor(p.Name+".lora_a", tensor.F32, []int64{in, int64(l.Rank)}, f32Bytes(l.A)); err != nil {
			return err
		}
		if err := w.AddTensor(p.Name+".lora_b", tensor.F32, []int64{int64(l.Rank), out}, f32Bytes(l.B)); err != nil {
			return err
		}
		n++
	}
	if n != len(set) {
		return fmt.Errorf("finetune: %d of the %d trained updates match no projection of the base", len(set)-n, len(set))
	}
	return atomicfile.WriteFunc(path, 0o600, func(f io.Writer) error {
		if _, err := w.WriteTo(f); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	})
}

// f32Bytes is v little-endian, as GGUF stores F32.
func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}
