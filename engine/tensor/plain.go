package tensor

import (
	"encoding/binary"
	"math"
)

// Kernels for the unquantized types, all stored little-endian.

func dequantF32(src []byte, dst []float32) {
	src = src[:4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i : 4*i+4]))
	}
}

func dotF32(row []byte, x []float32) float32 {
	row = row[:4*len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		r := row[4*i : 4*i+16 : 4*i+16]
		xs := x[i : i+4 : i+4]
		s0 += math.Float32frombits(binary.LittleEndian.Uint32(r[0:])) * xs[0]
		s1 += math.Float32frombits(binary.LittleEndian.Uint32(r[4:])) * xs[1]
		s2 += math.Float32frombits(binary.LittleEndian.Uint32(r[8:])) * xs[2]
		s3 += math.Float32frombits(binary.LittleEndian.Uint32(r[12:])) * xs[3]
	}
	for ; i < len(x); i++ {
		s0 += math.Float32frombits(binary.LittleEndian.Uint32(row[4*i:])) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dequantF16(src []byte, dst []float32) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = f16Table[binary.LittleEndian.Uint16(src[2*i:])]
	}
}

func dotF16(row []byte, x []float32) float32 {
	row = row[:2*len(x)]
	t := f16Table
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		r := row[2*i : 2*i+8 : 2*i+8]
		xs := x[i : i+4 : i+4]
		s0 += t[binary.LittleEndian.Uint16(r[0:])] * xs[0]
		s1 += t[binary.LittleEndian.Uint16(r[2:])] * xs[1]
		s2 += t[binary.LittleEndian.Uint16(r[4:])] * xs[2]
		s3 += t[binary.LittleEndian.Uint16(r[6:])] * xs[3]
	}
	for ; i < len(x); i++ {
		s0 += t[binary.LittleEndian.Uint16(row[2*i:])] * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func dequantBF16(src []byte, dst []float32) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

func dotBF16(row []byte, x []float32) float32 {
	row = row[:2*len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		r := row[2*i : 2*i+8 : 2*i+8]
		xs := x[i : i+4 : i+4]
		s0 += BF16ToF32(binary.LittleEndian.Uint16(r[0:])) * xs[0]
		s1 += BF16ToF32(binary.LittleEndian.Uint16(r[2:])) * xs[1]
		s2 += BF16ToF32(binary.LittleEndian.Uint16(r[4:])) * xs[2]
		s3 += BF16ToF32(binary.LittleEndian.Uint16(r[6:])) * xs[3]
	}
	for ; i < len(x); i++ {
		s0 += BF16ToF32(binary.LittleEndian.Uint16(row[2*i:])) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func quantF32(src []float32, dst []byte) {
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func quantF16(src []float32, dst []byte) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
	}
}

func quantBF16(src []float32, dst []byte) {
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
	}
}
