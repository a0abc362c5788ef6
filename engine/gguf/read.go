package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"os"

	"github.com/hearth-ai/hearth/engine/tensor"
)

// maxArrayDepth bounds nested arrays so a hostile file cannot recurse
// without end.
const maxArrayDepth = 8

// maxNameLen bounds keys and tensor names; ggml itself allows 64 bytes for
// tensor names, we are more lenient but stop absurd values early.
const maxNameLen = 1 << 16

// Limits past any real file's, which bound what a header's counts can make
// the reader allocate. count checks a count against the bytes left, but a
// sparse file has gigabytes of zeros, and each tensor info, key or string
// costs the heap several times the bytes it takes in the file: a 2 GB file
// claiming 89 million tensors made a node allocate 9 GB.
const (
	maxTensors = 1 << 16 // the largest models have a few thousand
	maxKVs     = 1 << 16 // real files have under a hundred
	maxElems   = 1 << 24 // strings and nested values of all arrays: a vocabulary and its merges are about a million
)

// Open memory-maps and parses the GGUF file at path.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("gguf: open %s: is a directory", path)
	}
	data, unmap, err := mapFile(fd, st.Size())
	if err != nil {
		return nil, fmt.Errorf("gguf: map %s: %w", path, err)
	}
	f, err := Parse(data)
	if err != nil {
		unmap()
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	f.unmap = unmap
	return f, nil
}

// Parse parses a GGUF file held in memory. The File refers to data; it does
// not copy tensor bytes.
func Parse(data []byte) (*File, error) {
	r := &reader{buf: data}
	f, err := r.file()
	if err != nil {
		return nil, err
	}
	f.data = data
	return f, nil
}

// reader walks the buffer; every read checks the bytes remaining.
type reader struct {
	buf   []byte
	off   int
	elems int // strings and nested values read in arrays so far (maxElems)
}

func (r *reader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrFormat, r.off, fmt.Sprintf(format, args...))
}

func (r *reader) need(n int, what string) error {
	if n < 0 || len(r.buf)-r.off < n {
		return r.errorf("truncated: %s needs %d bytes, %d left", what, n, len(r.buf)-r.off)
	}
	return nil
}

func (r *reader) u8(what string) (uint8, error) {
	if err := r.need(1, what); err != nil {
		return 0, err
	}
	v := r.buf[r.off]
	r.off++
	return v, nil
}

func (r *reader) u16(what string) (uint16, error) {
	if err := r.need(2, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint16(r.buf[r.off:])
	r.off += 2
	return v, nil
}

func (r *reader) u32(what string) (uint32, error) {
	if err := r.need(4, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(r.buf[r.off:])
	r.off += 4
	return v, nil
}

func (r *reader) u64(what string) (uint64, error) {
	if err := r.need(8, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(r.buf[r.off:])
	r.off += 8
	return v, nil
}

// count reads a uint64 element count and checks that count elements of at
// least minSize bytes each could fit in what is left, so no allocation is
// ever larger than the file.
func (r *reader) count(what string, minSize int) (int, error) {
	n, err := r.u64(what)
	if err != nil {
		return 0, err
	}
	left := uint64(len(r.buf) - r.off)
	if minSize > 0 && n > left/uint64(minSize) {
		return 0, r.errorf("%s %d is impossible: only %d bytes left", what, n, left)
	}
	if n > math.MaxInt32*8 {
		return 0, r.errorf("%s %d is too large", what, n)
	}
	return int(n), nil
}

func (r *reader) str(what string) (string, error) {
	n, err := r.count(what+" length", 1)
	if err != nil {
		return "", err
	}
	s := string(r.buf[r.off : r.off+n])
	r.off += n
	return s, nil
}

func (r *reader) file() (*File, error) {
	if err := r.need(4, "magic"); err != nil {
		return nil, fmt.Errorf("%w: not a GGUF file: %d bytes, too short for the header", ErrFormat, len(r.buf))
	}
	if string(r.buf[:4]) != Magic {
		return nil, fmt.Errorf("%w: not a GGUF file: magic %q, want %q", ErrFormat, r.buf[:4], Magic)
	}
	r.off = 4
	version, err := r.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return nil, fmt.Errorf("%w: GGUF version 1 is not supported (convert the file with a newer llama.cpp)", ErrFormat)
	case version&0xFFFF == 0 && bits.ReverseBytes32(version) <= 3:
		return nil, fmt.Errorf("%w: big-endian GGUF files are not supported", ErrFormat)
	default:
		return nil, fmt.Errorf("%w: unknown GGUF version %d (this reader knows 2 and 3)", ErrFormat, version)
	}
	f := &File{Version: version, Alignment: DefaultAlignment}
	// Each tensor info takes at least 8 (name) + 4 (dims) + 4 (type) + 8 (offset) bytes.
	nTensors, err := r.count("tensor count", 24)
	if err != nil {
		return nil, err
	}
	if nTensors > maxTensors {
		return nil, r.errorf("tensor count %d is more than %d", nTensors, maxTensors)
	}
	// Each KV takes at least 8 (key) + 4 (type) + 1 (value) bytes.
	nKV, err := r.count("metadata count", 13)
	if err != nil {
		return nil, err
	}
	if nKV > maxKVs {
		return nil, r.errorf("metadata count %d is more than %d", nKV, maxKVs)
	}

	f.KV = make([]KV, 0, nKV)
	f.kvIndex = make(map[string]int, nKV)
	for i := 0; i < nKV; i++ {
		key, err := r.str(fmt.Sprintf("metadata key %d", i))
		if err != nil {
			return nil, err
		}
		if key == "" || len(key) > maxNameLen {
			return nil, r.errorf("metadata key %d has invalid length %d", i, len(key))
		}
		if _, dup := f.kvIndex[key]; dup {
			return nil, r.errorf("duplicate metadata key %q", key)
		}
		t, err := r.u32("value type of " + key)
		if err != nil {
			return nil, err
		}
		v, err := r.value(ValueType(t), key, 0)
		if err != nil {
			return nil, err
		}
		f.kvIndex[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Value: v})
	}

	if v, ok := f.Get("general.alignment"); ok {
		a, ok := v.(uint32)
		if !ok {
			return nil, fmt.Errorf("%w: general.alignment has type %T, want uint32", ErrFormat, v)
		}
		if a == 0 || a&(a-1) != 0 || a > 1<<20 {
			return nil, fmt.Errorf("%w: general.alignment %d is not a power of two up to 1 MiB", ErrFormat, a)
		}
		f.Alignment = int(a)
	}

	f.Tensors = make([]TensorInfo, nTensors)
	f.tIndex = make(map[string]int, nTensors)
	for i := range f.Tensors {
		t, err := r.tensorInfo(i)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tIndex[t.Name]; dup {
			return nil, r.errorf("duplicate tensor name %q", t.Name)
		}
		f.tIndex[t.Name] = i
		f.Tensors[i] = t
	}

	// The data section starts at the next multiple of the alignment. A file
	// with no tensors may end right after the header.
	start := alignUp(int64(r.off), int64(f.Alignment))
	if nTensors == 0 && start > int64(len(r.buf)) {
		start = int64(len(r.buf))
	}
	if start > int64(len(r.buf)) {
		return nil, fmt.Errorf("%w: truncated: data section would start at byte %d, file has %d", ErrFormat, start, len(r.buf))
	}
	f.DataOffset = start
	dataLen := uint64(int64(len(r.buf)) - start)
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Offset%uint64(f.Alignment) != 0 {
			return nil, fmt.Errorf("%w: tensor %q: offset %d is not a multiple of the alignment %d", ErrFormat, t.Name, t.Offset, f.Alignment)
		}
		if t.Offset > dataLen || uint64(t.Size) > dataLen-t.Offset {
			return nil, fmt.Errorf("%w: truncated: tensor %q needs bytes %d..%d of the data section, which has %d", ErrFormat, t.Name, t.Offset, t.Offset+uint64(t.Size), dataLen)
		}
	}
	return f, nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }

func (r *reader) tensorInfo(i int) (TensorInfo, error) {
	var t TensorInfo
	name, err := r.str(fmt.Sprintf("tensor %d name", i))
	if err != nil {
		return t, err
	}
	if name == "" || len(name) > maxNameLen {
		return t, r.errorf("tensor %d has invalid name length %d", i, len(name))
	}
	t.Name = name
	nd, err := r.u32("dimension count of " + name)
	if err != nil {
		return t, err
	}
	if nd == 0 || nd > MaxDims {
		return t, r.errorf("tensor %q has %d dimensions, want 1..%d", name, nd, MaxDims)
	}
	t.Shape = make([]int64, nd)
	elems := uint64(1)
	for d := range t.Shape {
		n, err := r.u64("dimension of " + name)
		if err != nil {
			return t, err
		}
		if n == 0 || n > math.MaxInt64 {
			return t, r.errorf("tensor %q dimension %d is %d", name, d, n)
		}
		hi, lo := bits.Mul64(elems, n)
		if hi != 0 || lo > math.MaxInt64/8 {
			return t, r.errorf("tensor %q has too many elements", name)
		}
		elems = lo
		t.Shape[d] = int64(n)
	}
	typ, err := r.u32("type of " + name)
	if err != nil {
		return t, err
	}
	t.Type = tensor.DType(typ)
	if !t.Type.Known() {
		return t, r.errorf("tensor %q has unknown type %d", name, typ)
	}
	if t.Shape[0]%int64(t.Type.BlockSize()) != 0 {
		return t, r.errorf("tensor %q: row length %d is not a multiple of the %s block size %d", name, t.Shape[0], t.Type, t.Type.BlockSize())
	}
	size, err := t.Type.RowSize(int64(elems))
	if err != nil {
		return t, r.errorf("tensor %q: %v", name, err)
	}
	t.Size = size
	if t.Offset, err = r.u64("data offset of " + name); err != nil {
		return t, err
	}
	return t, nil
}

func (r *reader) value(t ValueType, key string, depth int) (any, error) {
	what := "value of " + key
	switch t {
	case TypeUint8:
		return r.u8(what)
	case TypeInt8:
		v, err := r.u8(what)
		return int8(v), err
	case TypeUint16:
		return r.u16(what)
	case TypeInt16:
		v, err := r.u16(what)
		return int16(v), err
	case TypeUint32:
		return r.u32(what)
	case TypeInt32:
		v, err := r.u32(what)
		return int32(v), err
	case TypeFloat32:
		v, err := r.u32(what)
		return math.Float32frombits(v), err
	case TypeBool:
		v, err := r.u8(what)
		if err != nil {
			return nil, err
		}
		if v > 1 {
			return nil, r.errorf("%s: bool byte is %d, want 0 or 1", what, v)
		}
		return v == 1, nil
	case TypeString:
		return r.str(what)
	case TypeUint64:
		return r.u64(what)
	case TypeInt64:
		v, err := r.u64(what)
		return int64(v), err
	case TypeFloat64:
		v, err := r.u64(what)
		return math.Float64frombits(v), err
	case TypeArray:
		if depth >= maxArrayDepth {
			return nil, r.errorf("%s: arrays nested deeper than %d", what, maxArrayDepth)
		}
		et, err := r.u32("array type of " + key)
		if err != nil {
			return nil, err
		}
		return r.array(ValueType(et), key, depth)
	}
	return nil, r.errorf("%s: unknown value type %d", what, uint32(t))
}

func (r *reader) array(et ValueType, key string, depth int) (any, error) {
	size := et.size()
	if size == 0 {
		return nil, r.errorf("array %s: unknown element type %d", key, uint32(et))
	}
	n, err := r.count("array length of "+key, size)
	if err != nil {
		return nil, err
	}
	if et == TypeString || et == TypeArray {
		if r.elems += n; r.elems > maxElems {
			return nil, r.errorf("array %s: more than %d strings and nested values in all", key, maxElems)
		}
	}
	switch et {
	case TypeString:
		out := make([]string, n)
		for i := range out {
			if out[i], err = r.str(key); err != nil {
				return nil, err
			}
		}
		return out, nil
	case TypeArray:
		out := make([]any, n)
		for i := range out {
			if out[i], err = r.value(TypeArray, key, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	// Fixed-size elements: the count check above guarantees the bytes exist.
	b := r.buf[r.off : r.off+n*size]
	r.off += n * size
	le := binary.LittleEndian
	switch et {
	case TypeUint8:
		return append([]uint8(nil), b...), nil
	case TypeInt8:
		return fill(n, func(i int) int8 { return int8(b[i]) }), nil
	case TypeBool:
		for i, v := range b {
			if v > 1 {
				return nil, r.errorf("array %s: element %d: bool byte is %d", key, i, v)
			}
		}
		return fill(n, func(i int) bool { return b[i] == 1 }), nil
	case TypeUint16:
		return fill(n, func(i int) uint16 { return le.Uint16(b[2*i:]) }), nil
	case TypeInt16:
		return fill(n, func(i int) int16 { return int16(le.Uint16(b[2*i:])) }), nil
	case TypeUint32:
		return fill(n, func(i int) uint32 { return le.Uint32(b[4*i:]) }), nil
	case TypeInt32:
		return fill(n, func(i int) int32 { return int32(le.Uint32(b[4*i:])) }), nil
	case TypeFloat32:
		return fill(n, func(i int) float32 { return math.Float32frombits(le.Uint32(b[4*i:])) }), nil
	case TypeUint64:
		return fill(n, func(i int) uint64 { return le.Uint64(b[8*i:]) }), nil
	case TypeInt64:
		return fill(n, func(i int) int64 { return int64(le.Uint64(b[8*i:])) }), nil
	case TypeFloat64:
		return fill(n, func(i int) float64 { return math.Float64frombits(le.Uint64(b[8*i:])) }), nil
	}
	return nil, r.errorf("array %s: unknown element type %d", key, uint32(et))
}

func fill[T any](n int, at func(int) T) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = at(i)
	}
	return out
}
