package store

import (
	"fmt"

	"github.com/hearth-ai/hearth/engine/gguf"
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
	return modelInfo{arch: f.Architecture(), quant: f.WeightType(), params: f.Parameters()}, nil
}
