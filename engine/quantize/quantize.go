// Package quantize converts the weights of a GGUF model to another tensor
// type, keeping everything else.
package quantize

import (
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// Options configures File.
type Options struct {
	Type    tensor.DType // target type of the 2-D weight matrices
	Threads int          // 0 means one per core
	// Progress, if set, is called after each tensor.
	Progress func(done, total int, name string)
}

// Report says what File did.
type Report struct {
	Converted   int                     // tensors converted to Options.Type
	Fallback    map[string]tensor.DType // tensors stored in another type, and which
	Kept        int                     // tensors copied as they were (norms, biases)
	InBytes     int64
	OutBytes    int64
	Requantized bool // some source weights were already quantized
}

// File reads the model at in and writes it to out with its weight matrices
// in opts.Type. One-dimensional tensors (norm weights, biases) stay as they
// are. A matrix whose rows do not divide into the type's blocks falls back
// to Q8_0, or F16 if that does not divide either, as llama.cpp does.
func File(in, out string, opts Options) (*Report, error) {
	if !tensor.CanQuantize(opts.Type) {
		return nil, fmt.Errorf("quantize: cannot quantize to %s (supported: %s)", opts.Type, strings.Join(Targets(), ", "))
	}
	f, err := gguf.Open(in)
	if err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	defer f.Close()
	w := gguf.NewWriter()
	for _, kv := range f.KV {
		w.SetKV(kv.Key, kv.Value)
	}
	w.SetKV("general.quantization_version", uint32(2))
	if ft, ok := fileTypes[opts.Type]; ok {
		w.SetKV("general.file_type", ft)
	}
	rep := &Report{Fallback: map[string]tensor.DType{}}
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		src := f.TensorData(t)
		rep.InBytes += t.Size
		target := targetFor(t, opts.Type)
		if target == t.Type || len(t.Shape) < 2 {
			rep.Kept++
			rep.OutBytes += t.Size
			if err := w.AddTensor(t.Name, t.Type, t.Shape, src); err != nil {
				return nil, fmt.Errorf("quantize: %w", err)
			}
		} else {
			if !tensor.Supported(t.Type) {
				return nil, fmt.Errorf("quantize: tensor %s: cannot read type %s", t.Name, t.Type)
			}
			if t.Type != tensor.F32 && t.Type != tensor.F16 && t.Type != tensor.BF16 {
				rep.Requantized = true
			}
			data, err := convert(t, src, target, threads)
			if err != nil {
				return nil, fmt.Errorf("quantize: tensor %s: %w", t.Name, err)
			}
			if target == opts.Type {
				rep.Converted++
			} else {
				rep.Fallback[t.Name] = target
			}
			rep.OutBytes += int64(len(data))
			if err := w.AddTensor(t.Name, target, t.Shape, data); err != nil {
				return nil, fmt.Errorf("quantize: %w", err)
			}
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(f.Tensors), t.Name)
		}
	}
	if err := w.WriteFile(out); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	return rep, nil
}

// Targets lists the type names File accepts.
func Targets() []string {
	var out []string
	for _, t := range []tensor.DType{tensor.F32, tensor.F16, tensor.BF16, tensor.Q8_0, tensor.Q4_0, tensor.Q4_1,
		tensor.Q5_0, tensor.Q5_1, tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K} {
		if tensor.CanQuantize(t) {
			out = append(out, t.String())
		}
	}
	return out
}

// targetFor picks the type for one tensor.
func targetFor(t *gguf.TensorInfo, want tensor.DType) tensor.DType {
	if len(t.Shape) < 2 {
		return t.Type
	}
	cols := t.Shape[0]
	for _, c := range []tensor.DType{want, tensor.Q8_0, tensor.F16} {
		if cols%int64(c.BlockSize()) == 0 && tensor.CanQuantize(c) {
			return c
		}
	}
	return tensor.F32
}

// convert dequantizes each row to float32 and quantizes it to target, rows
// split across threads.
func convert(t *gguf.TensorInfo, src []byte, target tensor.DType, threads int) ([]byte, error) {
	cols := int(t.Shape[0])
	rows := int(t.Elements() / int64(cols))
	inRow, err := t.Type.RowSize(int64(cols))
	if err != nil {
		return nil, err
	}
	outRow, err := target.RowSize(int64(cols))
	if err != nil {
		return nil, err
	}
	out := make([]byte, int64(rows)*outRow)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	chunk := (rows + threads - 1) / threads
	for lo := 0; lo < rows; lo += chunk {
		hi := min(lo+chunk, rows)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			buf := make([]float32, cols)
			for r := lo; r < hi; r++ {
				err := tensor.Dequantize(t.Type, src[int64(r)*inRow:int64(r+1)*inRow], buf)
				if err == nil {
					err = tensor.Quantize(target, buf, out[int64(r)*outRow:int64(r+1)*outRow])
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("row %d: %w", r, err)
					}
					mu.Unlock()
					return
				}
			}
		}(lo, hi)
	}
	wg.Wait()
	return out, first
}

// fileTypes maps a target type to llama.cpp's general.file_type.
var fileTypes = map[tensor.DType]uint32{
	tensor.F32: 0, tensor.F16: 1, tensor.Q4_0: 2, tensor.Q4_1: 3, tensor.Q8_0: 7, tensor.Q5_0: 8,
	tensor.Q5_1: 9, tensor.Q2_K: 10, tensor.Q3_K: 12, tensor.Q4_K: 15, tensor.Q5_K: 17, tensor.Q6_K: 18,
	tensor.BF16: 32,
}
