package store

import (
	"fmt"
	"slices"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// modelInfo is what the manifest records from a file's GGUF header.
type modelInfo struct {
	arch   string
	params int64
	quant  string
}

// inspect opens path as GGUF and summarises it, refusing files that are not
// GGUF or hold no tensors (a vocabulary-only file is not a model).
func inspect(path string) (modelInfo, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return modelInfo{}, fmt.Errorf("not a GGUF model: %w", err)
	}
	defer f.Close()
	if len(f.Tensors) == 0 {
		return modelInfo{}, fmt.Errorf("not a model: the GGUF file has no tensors (vocabulary only?)")
	}
	info := modelInfo{arch: f.Architecture(), quant: dominantType(f.Tensors)}
	for i := range f.Tensors {
		info.params += f.Tensors[i].Elements()
	}
	return info, nil
}

// dominantType names the type holding the most weights. Only matrices
// count when there are any: norms and biases stay F32 in every quantized
// model and say nothing about its quantization.
func dominantType(ts []gguf.TensorInfo) string {
	count := map[tensor.DType]int64{}
	for _, t := range ts {
		if len(t.Shape) >= 2 {
			count[t.Type] += t.Elements()
		}
	}
	if len(count) == 0 {
		for _, t := range ts {
			count[t.Type] += t.Elements()
		}
	}
	types := make([]tensor.DType, 0, len(count))
	for t := range count {
		types = append(types, t)
	}
	slices.Sort(types) // ties go to the lowest type id, so the answer is stable
	best := types[0]
	for _, t := range types[1:] {
		if count[t] > count[best] {
			best = t
		}
	}
	return best.String()
}
