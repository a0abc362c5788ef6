package tensor

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// These tests build blocks element by element from the layouts documented in
// ggml-common.h and check that every element decodes to the value the
// layout says, so that a misplaced nibble or bit fails loudly.

// fixed-value blocks whose decoding can be read off by hand.
func TestDequantizeKnownBlocks(t *testing.T) {
	seq := func(f func(j int) float32) []float32 {
		v := make([]float32, 32)
		for j := range v {
			v[j] = f(j)
		}
		return v
	}
	nibbles := make([]byte, 16) // low nibble j, high nibble 15-j
	for j := range nibbles {
		nibbles[j] = byte(j) | byte(15-j)<<4
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	q8 := make([]byte, 32)
	for j := range q8 {
		q8[j] = byte(int8(8*j - 128))
	}
	tests := []struct {
		name  string
		typ   DType
		block []byte
		want  []float32
	}{
		{"Q4_0 d=1 nibbles 0..15 give -8..7", Q4_0, cat([]byte{0x00, 0x3c}, nibbles),
			seq(func(j int) float32 {
				if j < 16 {
					return float32(j - 8)
				}
				return float32(7 - (j - 16))
			})},
		{"Q4_1 d=0.5 m=-1", Q4_1, cat([]byte{0x00, 0x38, 0x00, 0xbc}, nibbles),
			seq(func(j int) float32 {
				if j < 16 {
					return float32(j)*0.5 - 1
				}
				return float32(15-(j-16))*0.5 - 1
			})},
		// qh = 0xffff0000: the fifth bit is set for elements 16..31 only.
		{"Q5_0 d=2 fifth bit on the high half", Q5_0, cat([]byte{0x00, 0x40, 0x00, 0x00, 0xff, 0xff}, nibbles),
			seq(func(j int) float32 {
				if j < 16 {
					return 2 * float32(j-16)
				}
				return 2 * float32(15-(j-16))
			})},
		// qh = 0x0000ffff: set for elements 0..15 only.
		{"Q5_1 d=1 m=0.5 fifth bit on the low half", Q5_1, cat([]byte{0x00, 0x3c, 0x00, 0x38, 0xff, 0xff, 0x00, 0x00}, nibbles),
			seq(func(j int) float32 {
				if j < 16 {
					return float32(j+16) + 0.5
				}
				return float32(15-(j-16)) + 0.5
			})},
		{"Q8_0 d=0.25", Q8_0, cat([]byte{0x00, 0x34}, q8),
			seq(func(j int) float32 { return float32(8*j-128) * 0.25 })},
	}
	for _, tt := range tests {
		got := make([]float32, len(tt.want))
		if err := Dequantize(tt.typ, tt.block, got); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for j := range got {
			if got[j] != tt.want[j] {
				t.Errorf("%s: element %d = %g, want %g", tt.name, j, got[j], tt.want[j])
			}
		}
	}
}

// kBlock is one super-block described element by element: levels q, the
// per-sub-block scales and mins, and the super-block scales.
type kBlock struct {
	q       [QK_K]int
	sc, mn  [16]int
	d, dmin float32 // exact halves (Q8_K: any float32)
}

// value is what element i must decode to.
func (k *kBlock) value(t DType, i int) float64 {
	switch t {
	case Q2_K, Q3_K, Q6_K:
		s := i / 16
		return float64(k.d)*float64(k.sc[s])*float64(k.q[i]) - float64(k.dmin)*float64(k.mn[s])
	case Q4_K, Q5_K:
		s := i / 32
		return float64(k.d)*float64(k.sc[s])*float64(k.q[i]) - float64(k.dmin)*float64(k.mn[s])
	case Q8_K:
		return float64(k.d) * float64(k.q[i])
	}
	panic("no k-quant " + t.String())
}

func put16(b []byte, f float32) { binary.LittleEndian.PutUint16(b, F32ToF16(f)) }

// encode lays the block out as ggml-common.h and dequantize_row_* describe.
func (k *kBlock) encode(t DType) []byte {
	b := make([]byte, t.TypeSize())
	switch t {
	case Q2_K: // scales[16] qs[64] d dmin
		for s := 0; s < 16; s++ {
			b[s] = byte(k.sc[s] | k.mn[s]<<4)
		}
		for i, q := range k.q {
			// 128-element halves; in each, byte l of 32 holds elements
			// l, l+32, l+64, l+96 at bit 0, 2, 4, 6.
			b[16+32*(i/128)+i%32] |= byte(q) << (2 * uint(i%128/32))
		}
		put16(b[80:], k.d)
		put16(b[82:], k.dmin)
	case Q3_K: // hmask[32] qs[64] scales[12] d
		for i, q := range k.q {
			u := q + 4
			b[32+32*(i/128)+i%32] |= byte(u&3) << (2 * uint(i%128/32))
			if u&4 != 0 {
				b[i%32] |= 1 << uint(i/32)
			}
		}
		for s := 0; s < 16; s++ {
			u := k.sc[s] + 32
			b[96+s%8] |= byte(u&0xf) << (4 * uint(s/8))
			b[96+8+s%4] |= byte(u>>4) << (2 * uint(s/4))
		}
		put16(b[108:], k.d)
	case Q4_K, Q5_K: // d dmin scales[12] (qh[32]) qs[128]
		put16(b, k.d)
		put16(b[2:], k.dmin)
		sb := b[4:16]
		for s := 0; s < 8; s++ {
			if s < 4 {
				sb[s] |= byte(k.sc[s])
				sb[s+4] |= byte(k.mn[s])
			} else {
				sb[s+4] = byte(k.sc[s]&0xf | (k.mn[s]&0xf)<<4)
				sb[s-4] |= byte(k.sc[s]>>4) << 6
				sb[s] |= byte(k.mn[s]>>4) << 6
			}
		}
		qs := b[16:]
		if t == Q5_K {
			qs = b[48:]
		}
		for i, q := range k.q {
			// 64-element chunks; byte l of 32 holds element l in its low
			// nibble and l+32 in its high nibble.
			qs[32*(i/64)+i%32] |= byte(q&0xf) << (4 * uint(i%64/32))
			if t == Q5_K && q&16 != 0 {
				b[16+i%32] |= 1 << uint(i/32)
			}
		}
	case Q6_K: // ql[128] qh[64] scales[16] d
		for i, q := range k.q {
			u := q + 32
			n, r := i/128, i%128
			b[64*n+r%64] |= byte(u&0xf) << (4 * uint(r/64))
			b[128+32*n+r%32] |= byte(u>>4) << (2 * uint(r/32))
		}
		for s := 0; s < 16; s++ {
			b[192+s] = byte(int8(k.sc[s]))
		}
		put16(b[208:], k.d)
	case Q8_K: // d (f32) qs[256] bsums[16]
		binary.LittleEndian.PutUint32(b, math.Float32bits(k.d))
		for i, q := range k.q {
			b[4+i] = byte(int8(q))
		}
	}
	return b
}

// randomKBlock draws levels and scales over each type's whole range.
func randomKBlock(t DType, r *rand.Rand) *kBlock {
	k := &kBlock{}
	half := func() float32 { return F16ToF32(F32ToF16(float32(r.Float64()*2 + 0.01))) }
	k.d, k.dmin = half(), half()
	var qlo, qhi, slo, shi, mhi int
	switch t {
	case Q2_K:
		qlo, qhi, slo, shi, mhi = 0, 3, 0, 15, 15
	case Q3_K:
		qlo, qhi, slo, shi = -4, 3, -32, 31
	case Q4_K:
		qlo, qhi, slo, shi, mhi = 0, 15, 0, 63, 63
	case Q5_K:
		qlo, qhi, slo, shi, mhi = 0, 31, 0, 63, 63
	case Q6_K:
		qlo, qhi, slo, shi = -32, 31, -128, 127
	case Q8_K:
		qlo, qhi = -128, 127
	}
	for i := range k.q {
		k.q[i] = qlo + r.IntN(qhi-qlo+1)
	}
	for s := range k.sc {
		k.sc[s] = slo + r.IntN(shi-slo+1)
		k.mn[s] = r.IntN(mhi + 1)
	}
	if t == Q4_K || t == Q5_K {
		for s := 8; s < 16; s++ {
			k.sc[s], k.mn[s] = 0, 0
		}
	}
	if mhi == 0 {
		k.dmin = 0
	}
	return k
}

func TestDequantizeKQuantLayouts(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, typ := range []DType{Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K} {
		for trial := 0; trial < 20; trial++ {
			k := randomKBlock(typ, r)
			// Extremes too, so every bit of every field gets exercised.
			if trial == 0 {
				for i := range k.q {
					k.q[i] = []int{0, 3}[i%2]
					if typ == Q3_K {
						k.q[i] = []int{-4, 3}[i%2]
					}
				}
			}
			got := make([]float32, QK_K)
			if err := Dequantize(typ, k.encode(typ), got); err != nil {
				t.Fatal(err)
			}
			for i := range got {
				want := k.value(typ, i)
				// float32 rounding of the two terms, at most a few ulps
				tol := 1e-6 * (math.Abs(want) + float64(k.dmin)*63 + 1)
				if math.Abs(float64(got[i])-want) > tol {
					t.Fatalf("%s trial %d: element %d = %g, want %g (q=%d)", typ, trial, i, got[i], want, k.q[i])
				}
			}
		}
	}
}

// TestKnownQ4_K is a Q4_K block that can be checked by eye: d=1, dmin=0.5,
// sub-block s has scale s+1 and min s, every nibble equals 3.
func TestKnownQ4_K(t *testing.T) {
	k := &kBlock{d: 1, dmin: 0.5}
	for s := 0; s < 8; s++ {
		k.sc[s], k.mn[s] = s+1, s
	}
	for i := range k.q {
		k.q[i] = 3
	}
	b := k.encode(Q4_K)
	if b[16] != 0x33 || b[4] != 1 || b[8] != 0 {
		t.Fatalf("encoded block starts % x", b[:20])
	}
	got := make([]float32, QK_K)
	if err := Dequantize(Q4_K, b, got); err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		s := i / 32
		if want := float32(3*(s+1)) - 0.5*float32(s); v != want {
			t.Errorf("element %d = %g, want %g", i, v, want)
		}
	}
}
