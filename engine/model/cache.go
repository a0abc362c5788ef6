package model

import "github.com/hearth-ai/hearth/engine/tensor"

// Cache is one sequence's key/value cache: the keys and values of every
// token it has seen, per layer, so each new token attends to them without
// recomputing them. They are kept as F32, or as F16 (half the memory, as
// llama.cpp keeps them by default) when the model's KVF16 is set.
type Cache struct {
	Pos int // tokens in the cache

	cap   int         // capacity in tokens
	kvDim int         // floats per token per layer
	k, v  [][]float32 // (layer)(cap, kvHeads*headDim), F32 caches
	k16   [][]uint16  // (layer)(cap, kvHeads*headDim), F16 caches
	v16   [][]uint16
}

// NewCache allocates a cache for capacity tokens; capacity <= 0 means the
// model's trained context length.
func (m *Transformer) NewCache(capacity int) *Cache {
	if capacity <= 0 {
		capacity = m.Context
	}
	kvDim := m.KVHeads * m.HeadDim
	c := &Cache{cap: capacity, kvDim: kvDim}
	if m.KVF16 {
		c.k16, c.v16 = make([][]uint16, m.Blocks), make([][]uint16, m.Blocks)
		for l := range c.k16 {
			c.k16[l] = make([]uint16, capacity*kvDim)
			c.v16[l] = make([]uint16, capacity*kvDim)
		}
		return c
	}
	c.k, c.v = make([][]float32, m.Blocks), make([][]float32, m.Blocks)
	for l := range c.k {
		c.k[l] = make([]float32, capacity*kvDim)
		c.v[l] = make([]float32, capacity*kvDim)
	}
	return c
}

// KVBytesPerToken is what one token's keys and values take in a cache of
// this model: every layer's, at the cache's precision.
func (m *Transformer) KVBytesPerToken() int {
	size := 4
	if m.KVF16 {
		size = 2
	}
	return m.Blocks * 2 * m.KVHeads * m.HeadDim * size
}

// Capacity is the number of tokens the cache holds.
func (c *Cache) Capacity() int { return c.cap }

// put stores layer l's key and value of the token at pos.
func (c *Cache) put(l, pos int, k, v []float32) {
	lo, hi := pos*c.kvDim, (pos+1)*c.kvDim
	if c.k16 != nil {
		kd, vd := c.k16[l][lo:hi], c.v16[l][lo:hi]
		for i := range kd {
			kd[i] = tensor.F32ToF16(k[i])
			vd[i] = tensor.F32ToF16(v[i])
		}
		return
	}
	copy(c.k[l][lo:hi], k)
	copy(c.v[l][lo:hi], v)
}

// Truncate drops cached tokens from position n on, keeping a shared prefix.
func (c *Cache) Truncate(n int) {
	if n >= 0 && n < c.Pos {
		c.Pos = n
	}
}

// CopyPrefix copies the first n cached tokens of src into c, so a new
// sequence can start from a prompt prefix another one already computed.
// Both caches belong to the same model, so they have the same precision.
func (c *Cache) CopyPrefix(src *Cache, n int) {
	n = min(n, src.Pos, c.cap)
	if n <= 0 || src.kvDim == 0 {
		c.Pos = 0
		return
	}
	end := n * src.kvDim
	for l := range c.k {
		copy(c.k[l][:end], src.k[l][:end])
		copy(c.v[l][:end], src.v[l][:end])
	}
	for l := range c.k16 {
		copy(c.k16[l][:end], src.k16[l][:end])
		copy(c.v16[l][:end], src.v16[l][:end])
	}
	c.Pos = n
}

// Bytes is the memory the cache holds.
func (c *Cache) Bytes() int64 {
	var n int64
	for l := range c.k {
		n += int64(len(c.k[l])+len(c.v[l])) * 4
	}
	for l := range c.k16 {
		n += int64(len(c.k16[l])+len(c.v16[l])) * 2
	}
	return n
}
