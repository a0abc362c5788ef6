package tensor

import "fmt"

// kernel holds the row functions of one type. Each assumes its
// preconditions were checked: the float slice is a whole number of blocks
// and the byte slice holds exactly the matching number of blocks.
type kernel struct {
	dequant func(src []byte, dst []float32)
	dot     func(row []byte, x []float32) float32
	quant   func(src []float32, dst []byte) // nil if Hearth cannot quantize to the type
}

var kernels = map[DType]kernel{
	F32:  {dequantF32, dotF32, quantF32},
	F16:  {dequantF16, dotF16, quantF16},
	BF16: {dequantBF16, dotBF16, quantBF16},
	Q4_0: {dequantQ4_0, dotQ4_0, quantQ4_0},
	Q4_1: {dequantQ4_1, dotQ4_1, quantQ4_1},
	Q5_0: {dequantQ5_0, dotQ5_0, quantQ5_0},
	Q5_1: {dequantQ5_1, dotQ5_1, quantQ5_1},
	Q8_0: {dequantQ8_0, dotQ8_0, quantQ8_0},
	Q2_K: {dequantQ2_K, dotQ2_K, quantQ2_K},
	Q3_K: {dequantQ3_K, dotQ3_K, quantQ3_K},
	Q4_K: {dequantQ4_K, dotQ4_K, quantQ4_K},
	Q5_K: {dequantQ5_K, dotQ5_K, quantQ5_K},
	Q6_K: {dequantQ6_K, dotQ6_K, quantQ6_K},
	Q8_K: {dequantQ8_K, dotQ8_K, quantQ8_K},
}

// Supported reports whether Dequantize and the products handle type t.
func Supported(t DType) bool { _, ok := kernels[t]; return ok }

// CanQuantize reports whether Quantize can produce type t.
func CanQuantize(t DType) bool { return kernels[t].quant != nil }

// checkSizes returns an error unless n elements of t fill exactly nbytes.
func checkSizes(t DType, n, nbytes int) error {
	want, err := t.RowSize(int64(n))
	if err != nil {
		return err
	}
	if int64(nbytes) != want {
		return fmt.Errorf("%d elements of %s take %d bytes, got %d", n, t, want, nbytes)
	}
	return nil
}

// Dequantize decodes len(dst) elements of type t from src, which must hold
// exactly t.RowSize(len(dst)) bytes. The results are bit-identical to
// ggml's dequantize_row_* for the same data.
func Dequantize(t DType, src []byte, dst []float32) error {
	k, ok := kernels[t]
	if !ok {
		return fmt.Errorf("tensor: dequantize %s: unsupported type", t)
	}
	if err := checkSizes(t, len(dst), len(src)); err != nil {
		return fmt.Errorf("tensor: dequantize %s: %w", t, err)
	}
	k.dequant(src, dst)
	return nil
}

// Quantize encodes src as type t into dst, which must be exactly
// t.RowSize(len(src)) bytes long. It reproduces ggml's reference
// quantizers (quantize_row_*_ref, what llama-quantize does without an
// importance matrix) byte for byte.
func Quantize(t DType, src []float32, dst []byte) error {
	k := kernels[t]
	if k.quant == nil {
		return fmt.Errorf("tensor: quantize %s: unsupported type", t)
	}
	if err := checkSizes(t, len(src), len(dst)); err != nil {
		return fmt.Errorf("tensor: quantize %s: %w", t, err)
	}
	k.quant(src, dst)
	return nil
}
