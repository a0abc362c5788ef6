package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/hearth-ai/hearth/engine/tensor"
)

// Writer builds a GGUF v3 file: metadata in the order it was set, then the
// tensors in the order they were added, each aligned.
//
// The zero value is not usable; call NewWriter.
type Writer struct {
	kv      []KV
	kvIndex map[string]int
	tensors []wtensor
	names   map[string]bool
	err     error // first error from SetKV or AddTensor, reported by WriteTo
}

type wtensor struct {
	info TensorInfo
	data []byte
}

// NewWriter returns an empty writer.
func NewWriter() *Writer {
	return &Writer{kvIndex: map[string]int{}, names: map[string]bool{}}
}

// SetKV sets a metadata value, replacing an earlier value of the same key in
// place. v must be a scalar of a GGUF type (uint8..int64, float32, float64,
// bool, string), int (stored as int32 if it fits, else int64), or a slice of
// one of them. Errors are reported by WriteTo.
func (w *Writer) SetKV(key string, v any) {
	if v2, ok := v.(int); ok {
		if v2 >= math.MinInt32 && v2 <= math.MaxInt32 {
			v = int32(v2)
		} else {
			v = int64(v2)
		}
	}
	if vi, ok := v.([]int); ok {
		out := make([]int32, len(vi))
		for i, x := range vi {
			out[i] = int32(x)
		}
		v = out
	}
	if _, _, err := valueType(v); err != nil && w.err == nil {
		w.err = fmt.Errorf("gguf: metadata %q: %w", key, err)
		return
	}
	if i, ok := w.kvIndex[key]; ok {
		w.kv[i].Value = v
		return
	}
	w.kvIndex[key] = len(w.kv)
	w.kv = append(w.kv, KV{Key: key, Value: v})
}

// AddTensor appends a tensor. shape is in ggml order (shape[0] is the row
// length); data must hold exactly the bytes the type and shape need. data is
// not copied: keep it unchanged until WriteTo returns.
func (w *Writer) AddTensor(name string, t tensor.DType, shape []int64, data []byte) error {
	if name == "" {
		return fmt.Errorf("gguf: add tensor: empty name")
	}
	if w.names[name] {
		return fmt.Errorf("gguf: add tensor %q: duplicate name", name)
	}
	if len(shape) == 0 || len(shape) > MaxDims {
		return fmt.Errorf("gguf: add tensor %q: %d dimensions, want 1..%d", name, len(shape), MaxDims)
	}
	n := int64(1)
	for _, d := range shape {
		if d <= 0 {
			return fmt.Errorf("gguf: add tensor %q: bad shape %v", name, shape)
		}
		n *= d
	}
	if !t.Known() {
		return fmt.Errorf("gguf: add tensor %q: unknown type %d", name, uint32(t))
	}
	if shape[0]%int64(t.BlockSize()) != 0 {
		return fmt.Errorf("gguf: add tensor %q: row length %d is not a multiple of the %s block size %d", name, shape[0], t, t.BlockSize())
	}
	size, err := t.RowSize(n)
	if err != nil {
		return fmt.Errorf("gguf: add tensor %q: %w", name, err)
	}
	if int64(len(data)) != size {
		return fmt.Errorf("gguf: add tensor %q: %d bytes of data, %s %v needs %d", name, len(data), t, shape, size)
	}
	w.names[name] = true
	w.tensors = append(w.tensors, wtensor{
		info: TensorInfo{Name: name, Type: t, Shape: append([]int64(nil), shape...), Size: size},
		data: data,
	})
	return nil
}

func (w *Writer) alignment() int {
	if i, ok := w.kvIndex["general.alignment"]; ok {
		if a, ok := w.kv[i].Value.(uint32); ok && a != 0 && a&(a-1) == 0 {
			return int(a)
		}
	}
	return DefaultAlignment
}

// WriteTo writes the file.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	if i, ok := w.kvIndex["general.alignment"]; ok {
		if a, ok := w.kv[i].Value.(uint32); !ok || a == 0 || a&(a-1) != 0 {
			return 0, fmt.Errorf("gguf: general.alignment must be a uint32 power of two, got %v", w.kv[i].Value)
		}
	}
	align := uint64(w.alignment())
	cw := &countWriter{w: bufio.NewWriterSize(out, 1<<20)}
	e := &encoder{w: cw}
	e.raw([]byte(Magic))
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(w.kv)))
	for _, kv := range w.kv {
		e.str(kv.Key)
		e.value(kv.Value)
	}
	var off uint64
	for i := range w.tensors {
		t := &w.tensors[i].info
		t.Offset = off
		e.str(t.Name)
		e.u32(uint32(len(t.Shape)))
		for _, d := range t.Shape {
			e.u64(uint64(d))
		}
		e.u32(uint32(t.Type))
		e.u64(t.Offset)
		off = (off + uint64(t.Size) + align - 1) / align * align
	}
	pad := func() {
		for cw.n%int64(align) != 0 {
			e.raw([]byte{0})
		}
	}
	pad()
	for _, t := range w.tensors {
		e.raw(t.data)
		pad()
	}
	if e.err == nil {
		e.err = cw.w.(*bufio.Writer).Flush()
	}
	return cw.n, e.err
}

// WriteFile writes the file to path atomically: to a temporary file in the
// same directory, renamed into place once complete.
func (w *Writer) WriteFile(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gguf-*")
	if err != nil {
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := w.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	// CreateTemp makes the file private; a model is ordinary data.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("gguf: write %s: %w", path, err)
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes little-endian values and remembers the first error.
type encoder struct {
	w   io.Writer
	err error
	b   [8]byte
}

func (e *encoder) raw(p []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(p)
	}
}

func (e *encoder) u32(v uint32) { binary.LittleEndian.PutUint32(e.b[:4], v); e.raw(e.b[:4]) }
func (e *encoder) u64(v uint64) { binary.LittleEndian.PutUint64(e.b[:8], v); e.raw(e.b[:8]) }
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.raw([]byte(s)) }

// valueType maps a Go value to its GGUF type and, for arrays, element type.
func valueType(v any) (ValueType, ValueType, error) {
	switch v.(type) {
	case uint8:
		return TypeUint8, 0, nil
	case int8:
		return TypeInt8, 0, nil
	case uint16:
		return TypeUint16, 0, nil
	case int16:
		return TypeInt16, 0, nil
	case uint32:
		return TypeUint32, 0, nil
	case int32:
		return TypeInt32, 0, nil
	case float32:
		return TypeFloat32, 0, nil
	case bool:
		return TypeBool, 0, nil
	case string:
		return TypeString, 0, nil
	case uint64:
		return TypeUint64, 0, nil
	case int64:
		return TypeInt64, 0, nil
	case float64:
		return TypeFloat64, 0, nil
	case []uint8:
		return TypeArray, TypeUint8, nil
	case []int8:
		return TypeArray, TypeInt8, nil
	case []uint16:
		return TypeArray, TypeUint16, nil
	case []int16:
		return TypeArray, TypeInt16, nil
	case []uint32:
		return TypeArray, TypeUint32, nil
	case []int32:
		return TypeArray, TypeInt32, nil
	case []float32:
		return TypeArray, TypeFloat32, nil
	case []bool:
		return TypeArray, TypeBool, nil
	case []string:
		return TypeArray, TypeString, nil
	case []uint64:
		return TypeArray, TypeUint64, nil
	case []int64:
		return TypeArray, TypeInt64, nil
	case []float64:
		return TypeArray, TypeFloat64, nil
	case []any:
		return TypeArray, TypeArray, nil
	}
	return 0, 0, fmt.Errorf("unsupported value type %T", v)
}

func (e *encoder) value(v any) {
	t, et, err := valueType(v)
	if err != nil {
		if e.err == nil {
			e.err = err
		}
		return
	}
	e.u32(uint32(t))
	if t == TypeArray {
		e.u32(uint32(et))
	}
	e.payload(v)
}

// payload writes a value without its type tag.
func (e *encoder) payload(v any) {
	le := binary.LittleEndian
	switch x := v.(type) {
	case uint8:
		e.raw([]byte{x})
	case int8:
		e.raw([]byte{byte(x)})
	case bool:
		if x {
			e.raw([]byte{1})
		} else {
			e.raw([]byte{0})
		}
	case uint16:
		le.PutUint16(e.b[:2], x)
		e.raw(e.b[:2])
	case int16:
		le.PutUint16(e.b[:2], uint16(x))
		e.raw(e.b[:2])
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case string:
		e.str(x)
	case []any:
		e.u64(uint64(len(x)))
		for _, el := range x {
			// Every element of an array of arrays carries its own element type.
			_, et, err := valueType(el)
			if err != nil || et == 0 && !isArray(el) {
				if e.err == nil {
					e.err = fmt.Errorf("array of arrays holds %T", el)
				}
				return
			}
			e.u32(uint32(et))
			e.payload(el)
		}
	default:
		e.slice(v)
	}
}

func isArray(v any) bool { t, _, _ := valueType(v); return t == TypeArray }

func (e *encoder) slice(v any) {
	switch x := v.(type) {
	case []uint8:
		e.u64(uint64(len(x)))
		e.raw(x)
	case []int8:
		writeSlice(e, x)
	case []bool:
		writeSlice(e, x)
	case []uint16:
		writeSlice(e, x)
	case []int16:
		writeSlice(e, x)
	case []uint32:
		writeSlice(e, x)
	case []int32:
		writeSlice(e, x)
	case []float32:
		writeSlice(e, x)
	case []uint64:
		writeSlice(e, x)
	case []int64:
		writeSlice(e, x)
	case []float64:
		writeSlice(e, x)
	case []string:
		writeSlice(e, x)
	}
}

func writeSlice[T any](e *encoder, s []T) {
	e.u64(uint64(len(s)))
	for _, v := range s {
		e.payload(v)
	}
}
