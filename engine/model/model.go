// Package model runs the forward pass of decoder-only transformer models read
// from GGUF files. Each architecture is one file that reads its
// hyperparameters and binds its tensors by name; the forward pass they share
// is in transformer.go.
package model

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/hearth-ai/hearth/engine/gguf"
)

// ErrUnsupported is wrapped by errors for models Hearth cannot run.
var ErrUnsupported = errors.New("model: unsupported")

// Builder reads an architecture's hyperparameters and tensors from a GGUF
// file.
type Builder func(f *gguf.File) (*Transformer, error)

var (
	regMu    sync.RWMutex
	registry = map[string]Builder{}
)

// Register makes an architecture available under its general.architecture
// name. It panics on an empty or duplicate name, as it runs at init time.
func Register(arch string, b Builder) {
	regMu.Lock()
	defer regMu.Unlock()
	if arch == "" || b == nil {
		panic("model: Register with empty name or nil builder")
	}
	if _, dup := registry[arch]; dup {
		panic("model: Register called twice for " + arch)
	}
	registry[arch] = b
}

// Architectures lists the registered architecture names, sorted.
func Architectures() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Load builds the model described by an open GGUF file. The model refers to
// the file's memory-mapped tensor data: keep the file open while it is used.
func Load(f *gguf.File) (*Transformer, error) {
	arch := f.Architecture()
	if arch == "" {
		return nil, fmt.Errorf("model: file has no general.architecture")
	}
	regMu.RLock()
	b, ok := registry[arch]
	regMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: architecture %q (supported: %v)", ErrUnsupported, arch, Architectures())
	}
	m, err := b(f)
	if err != nil {
		return nil, fmt.Errorf("model: load %s: %w", arch, err)
	}
	return m, nil
}
