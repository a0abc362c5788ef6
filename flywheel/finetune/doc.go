// Package finetune trains a LoRA adapter on a tenant's dataset, on the
// node: it turns dataset examples into token sequences with the base
// model's chat template (the loss only on what the assistant says), packs
// them, and runs engine/train over them for a number of epochs in a
// seeded order, with a JSON log of every step, checkpoints written
// atomically every few steps, a resume from the newest after a crash, a
// held-out loss at the end and the adapter written in llama.cpp's LoRA
// GGUF layout.
//
// A run lives in one directory:
//
//	DIR/steps.jsonl               one JSON object per optimizer step
//	DIR/checkpoints/step-NNNNNN.ckpt  the last few checkpoints
//	DIR/adapter.gguf              the adapter, written once the run is done
//
// A checkpoint holds a header naming the run it belongs to (digests of the
// base file, the examples and the hyper-parameters) and the trainer's
// whole state, and ends with a SHA-256 of everything before it, so a torn
// or damaged file is told from a good one. Since the data order of every
// epoch is a function of the seed and the epoch alone, a resumed run takes
// the same steps as one that was never interrupted and ends with the same
// adapter, byte for byte.
package finetune
