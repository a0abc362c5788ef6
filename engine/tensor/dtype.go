// Package tensor holds the ggml tensor data types (their block layouts,
// dequantization, reference dot products and quantizers) and the kernels
// of the forward pass.
//
// Matrix products follow llama.cpp: Acts converts activations once per
// product to the type ggml pairs with the weights (Q8_0/Q8_1 blocks for
// the 32-element quants, Q8_K for the k-quants, halves for F16), and
// MatMul multiplies quants by quants in integers, applying both scales once
// per block. Rows are walked in L1-sized tiles while every token passes, so
// a batch reads each weight from memory once; tile kernels multiply 2
// weight rows by 4 tokens in registers, row kernels one by one.
//
// Every kernel has a portable Go version, which runs everywhere and which
// the tests compare the vector ones against. On amd64 the vector kernels
// are Go assembly (dot_amd64.s, tile_amd64.s, convert_amd64.s) chosen at
// start-up by CPU feature detection: LevelAVX2 (AVX2, FMA, F16C) and
// LevelAVX512 (AVX-512 F/BW/VL and VNNI, Z registers). SetLevel caps the
// level, for tests and benchmarks. Other architectures get the portable
// kernels; simd_other.go is the seam for arm64 NEON.
//
// vec.go adds the vector primitives of attention and the feed-forward
// activation: Attend (one head over an F32 or F16 cache), ExpF32, SwiGLU,
// DotF32, AxpyF32.
package tensor

import "fmt"

// DType is a ggml tensor type, numbered as in ggml.h and the GGUF format.
type DType uint32

// The ggml types. Gaps are ids that ggml has retired.
const (
	F32     DType = 0
	F16     DType = 1
	Q4_0    DType = 2
	Q4_1    DType = 3
	Q5_0    DType = 6
	Q5_1    DType = 7
	Q8_0    DType = 8
	Q8_1    DType = 9
	Q2_K    DType = 10
	Q3_K    DType = 11
	Q4_K    DType = 12
	Q5_K    DType = 13
	Q6_K    DType = 14
	Q8_K    DType = 15
	IQ2_XXS DType = 16
	IQ2_XS  DType = 17
	IQ3_XXS DType = 18
	IQ1_S   DType = 19
	IQ4_NL  DType = 20
	IQ3_S   DType = 21
	IQ2_S   DType = 22
	IQ4_XS  DType = 23
	I8      DType = 24
	I16     DType = 25
	I32     DType = 26
	I64     DType = 27
	F64     DType = 28
	IQ1_M   DType = 29
	BF16    DType = 30
	TQ1_0   DType = 34
	TQ2_0   DType = 35
	MXFP4   DType = 39
)

// QK_K is the super-block size of the k-quants.
const QK_K = 256

type layout struct {
	name      string
	blockSize int // elements per block
	typeSize  int // bytes per block
}

// layouts lists every type a GGUF file may hold, so that files with types
// Hearth cannot compute with still parse and can be inspected.
var layouts = map[DType]layout{
	F32:     {"F32", 1, 4},
	F16:     {"F16", 1, 2},
	Q4_0:    {"Q4_0", 32, 2 + 16},
	Q4_1:    {"Q4_1", 32, 2 + 2 + 16},
	Q5_0:    {"Q5_0", 32, 2 + 4 + 16},
	Q5_1:    {"Q5_1", 32, 2 + 2 + 4 + 16},
	Q8_0:    {"Q8_0", 32, 2 + 32},
	Q8_1:    {"Q8_1", 32, 4 + 32},
	Q2_K:    {"Q2_K", QK_K, QK_K/16 + QK_K/4 + 2 + 2},
	Q3_K:    {"Q3_K", QK_K, QK_K/8 + QK_K/4 + 12 + 2},
	Q4_K:    {"Q4_K", QK_K, 2 + 2 + 12 + QK_K/2},
	Q5_K:    {"Q5_K", QK_K, 2 + 2 + 12 + QK_K/8 + QK_K/2},
	Q6_K:    {"Q6_K", QK_K, QK_K/2 + QK_K/4 + QK_K/16 + 2},
	Q8_K:    {"Q8_K", QK_K, 4 + QK_K + QK_K/16*2},
	IQ2_XXS: {"IQ2_XXS", QK_K, 2 + QK_K/8*2},
	IQ2_XS:  {"IQ2_XS", QK_K, 2 + QK_K/8*2 + QK_K/32},
	IQ3_XXS: {"IQ3_XXS", QK_K, 2 + 3*QK_K/8},
	IQ1_S:   {"IQ1_S", QK_K, 2 + QK_K/8 + QK_K/16},
	IQ4_NL:  {"IQ4_NL", 32, 2 + 16},
	IQ3_S:   {"IQ3_S", QK_K, 2 + QK_K/4 + QK_K/8 + QK_K/32 + 4},
	IQ2_S:   {"IQ2_S", QK_K, 2 + QK_K/4 + QK_K/16},
	IQ4_XS:  {"IQ4_XS", QK_K, 2 + 2 + QK_K/64 + QK_K/2},
	I8:      {"I8", 1, 1},
	I16:     {"I16", 1, 2},
	I32:     {"I32", 1, 4},
	I64:     {"I64", 1, 8},
	F64:     {"F64", 1, 8},
	IQ1_M:   {"IQ1_M", QK_K, QK_K/8 + QK_K/16 + QK_K/32},
	BF16:    {"BF16", 1, 2},
	TQ1_0:   {"TQ1_0", QK_K, 2 + 4*13},
	TQ2_0:   {"TQ2_0", QK_K, 2 + 64},
	MXFP4:   {"MXFP4", 32, 1 + 16},
}

// Known reports whether t is a type a GGUF file may hold.
func (t DType) Known() bool { _, ok := layouts[t]; return ok }

// String returns ggml's name for the type, such as "Q4_K".
func (t DType) String() string {
	if l, ok := layouts[t]; ok {
		return l.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize is the number of elements in one block of the type (1 for
// plain types). It is 0 for unknown types.
func (t DType) BlockSize() int { return layouts[t].blockSize }

// TypeSize is the number of bytes in one block of the type. It is 0 for
// unknown types.
func (t DType) TypeSize() int { return layouts[t].typeSize }

// RowSize returns the bytes taken by n elements of type t, and an error if
// t is unknown or n is not a whole number of blocks.
func (t DType) RowSize(n int64) (int64, error) {
	l, ok := layouts[t]
	if !ok {
		return 0, fmt.Errorf("tensor: unknown type %d", uint32(t))
	}
	if n < 0 || n%int64(l.blockSize) != 0 {
		return 0, fmt.Errorf("tensor: %d elements is not a multiple of the %s block size %d", n, l.name, l.blockSize)
	}
	return n / int64(l.blockSize) * int64(l.typeSize), nil
}

// ParseDType returns the type with ggml's name s (case-insensitive).
func ParseDType(s string) (DType, error) {
	for t, l := range layouts {
		if equalFold(l.name, s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("tensor: unknown type name %q", s)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
