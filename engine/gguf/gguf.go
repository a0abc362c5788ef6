// Package gguf reads and writes GGUF files, the model format of ggml and
// llama.cpp: typed metadata, tensor descriptions and aligned tensor data.
//
// Files are memory-mapped and tensor data is handed out as zero-copy views.
// Every count, size and offset read from a file is checked against the bytes
// that are actually there before anything is allocated, so a truncated or
// hostile file gives an error naming the problem rather than a panic or a huge
// allocation.
package gguf

import (
	"errors"
	"fmt"
	"math"

	"github.com/hearth-ai/hearth/engine/tensor"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment applies when a file has no general.alignment key.
const DefaultAlignment = 32

// MaxDims is the largest number of dimensions a ggml tensor has.
const MaxDims = 4

// ErrFormat is wrapped by every error that describes a malformed file.
var ErrFormat = errors.New("gguf: malformed file")

// ValueType is the type tag of a metadata value.
type ValueType uint32

// Metadata value types, numbered as in the GGUF specification.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// size is the encoded size of a scalar of the type; strings and arrays
// return their smallest possible size (an empty one).
func (t ValueType) size() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64, TypeString:
		return 8
	case TypeArray:
		return 12
	}
	return 0
}

// KV is one metadata entry. Value holds a Go value of the matching type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64, float64, or a slice of one of them for arrays ([]any for arrays
// of arrays).
type KV struct {
	Key   string
	Value any
}

// TensorInfo describes one tensor.
type TensorInfo struct {
	Name string
	Type tensor.DType
	// Shape is in ggml order: Shape[0] is the number of elements in a row
	// (the fastest-varying dimension).
	Shape []int64
	// Offset is the start of the tensor's data relative to the data section.
	Offset uint64
	// Size is the number of bytes of data.
	Size int64
}

// Elements returns the number of elements in the tensor.
func (t *TensorInfo) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is a parsed GGUF file.
type File struct {
	Version   uint32
	KV        []KV
	Tensors   []TensorInfo
	Alignment int
	// DataOffset is the file offset of the tensor data section.
	DataOffset int64

	data    []byte // the whole file
	kvIndex map[string]int
	tIndex  map[string]int
	unmap   func() error
}

// Close releases the file's memory mapping. Views returned by TensorData
// must not be used afterwards.
func (f *File) Close() error {
	if f.unmap == nil {
		return nil
	}
	err := f.unmap()
	f.unmap = nil
	f.data = nil
	return err
}

// Size returns the number of bytes in the file.
func (f *File) Size() int64 { return int64(len(f.data)) }

// Get returns the raw metadata value for key.
func (f *File) Get(key string) (any, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return nil, false
	}
	return f.KV[i].Value, true
}

// String returns a string value.
func (f *File) String(key string) (string, bool) {
	v, _ := f.Get(key)
	s, ok := v.(string)
	return s, ok
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, bool) {
	v, _ := f.Get(key)
	b, ok := v.(bool)
	return b, ok
}

// Int returns any integer value as an int64. Unsigned values above
// math.MaxInt64 are reported as absent.
func (f *File) Int(key string) (int64, bool) {
	v, _ := f.Get(key)
	switch x := v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// Uint returns any non-negative integer value as a uint64.
func (f *File) Uint(key string) (uint64, bool) {
	v, _ := f.Get(key)
	if x, ok := v.(uint64); ok {
		return x, true
	}
	i, ok := f.Int(key)
	if !ok || i < 0 {
		return 0, false
	}
	return uint64(i), true
}

// Float returns a float or integer value as a float64.
func (f *File) Float(key string) (float64, bool) {
	v, _ := f.Get(key)
	switch x := v.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	if i, ok := f.Int(key); ok {
		return float64(i), true
	}
	return 0, false
}

// Strings returns a string array.
func (f *File) Strings(key string) ([]string, bool) {
	v, _ := f.Get(key)
	s, ok := v.([]string)
	return s, ok
}

// Float32s returns a float32 array.
func (f *File) Float32s(key string) ([]float32, bool) {
	v, _ := f.Get(key)
	s, ok := v.([]float32)
	return s, ok
}

// Int32s returns an int32 array; arrays of other integer types that fit
// are converted.
func (f *File) Int32s(key string) ([]int32, bool) {
	v, _ := f.Get(key)
	switch s := v.(type) {
	case []int32:
		return s, true
	case []uint32:
		out := make([]int32, len(s))
		for i, x := range s {
			if x > math.MaxInt32 {
				return nil, false
			}
			out[i] = int32(x)
		}
		return out, true
	case []int64:
		out := make([]int32, len(s))
		for i, x := range s {
			if x > math.MaxInt32 || x < math.MinInt32 {
				return nil, false
			}
			out[i] = int32(x)
		}
		return out, true
	case []uint8:
		out := make([]int32, len(s))
		for i, x := range s {
			out[i] = int32(x)
		}
		return out, true
	case []int8:
		out := make([]int32, len(s))
		for i, x := range s {
			out[i] = int32(x)
		}
		return out, true
	}
	return nil, false
}

// Tensor returns the tensor named name.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tIndex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorData returns a zero-copy view of a tensor's bytes. The view is valid
// until Close.
func (f *File) TensorData(t *TensorInfo) []byte {
	start := f.DataOffset + int64(t.Offset)
	return f.data[start : start+t.Size : start+t.Size]
}

// Architecture returns general.architecture, or "" if absent.
func (f *File) Architecture() string {
	s, _ := f.String("general.architecture")
	return s
}

// Parameters returns the number of elements of all tensors.
func (f *File) Parameters() int64 {
	var n int64
	for i := range f.Tensors {
		n += f.Tensors[i].Elements()
	}
	return n
}

// WeightType names the type holding the most weights: what a model is
// "quantized to". Only matrices count when there are any, since norms and
// biases stay F32 in every quantized model. Ties go to the lowest type id,
// so the answer is stable. It is "" for a file with no tensors.
func (f *File) WeightType() string {
	count := map[tensor.DType]int64{}
	for i := range f.Tensors {
		if t := &f.Tensors[i]; len(t.Shape) >= 2 {
			count[t.Type] += t.Elements()
		}
	}
	if len(count) == 0 {
		for i := range f.Tensors {
			count[f.Tensors[i].Type] += f.Tensors[i].Elements()
		}
	}
	best, found := tensor.DType(0), false
	for t, n := range count {
		if !found || n > count[best] || n == count[best] && t < best {
			best, found = t, true
		}
	}
	if !found {
		return ""
	}
	return best.String()
}
