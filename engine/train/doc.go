// Package train fine-tunes LoRA adapters of a frozen model on the node
// that serves it.
//
// The base weights stay as the file stores them (Q8_0, Q4_K, F16, ...):
// the forward pass is engine/model's own (Linear.Forward, RMSNorm, Rope,
// SwiGLU), run over a whole sequence with causal attention inside each
// packed segment, and gradients reach the inputs of a frozen projection
// through tensor.MatMulTAdd, which reads the stored blocks a tile at a
// time. Over a quantized base that product runs the forward pass's Q8_0
// integer kernels, gradients rounded to 8-bit blocks as activations are
// forward (about 0.75% rms error in an input gradient); float bases are
// exact float32. Only the low-rank A and B matrices of the chosen
// projections learn, so the optimizer state is a few megabytes whatever
// the base.
//
// Memory is bounded by activation checkpointing per block: the forward
// pass keeps each block's input residual (tokens x dim floats per block),
// and the backward pass recomputes one block at a time with all its
// activations before carrying the gradient through it. Attention
// probabilities are never stored: the backward pass recomputes each
// query's scores. A step thus costs about two forward passes plus the
// backward products, and holds layers*T*dim floats, one block's
// activations and the logits of the target tokens.
//
// Everything a step does is a function of the weights, the sequences and
// (seed, step, sequence index): dropout masks are drawn from a generator
// seeded by those, and every sum runs in an order that does not depend on
// the number of threads. A run saved with Save and continued after Load
// ends bit for bit where an uninterrupted run ends.
package train
