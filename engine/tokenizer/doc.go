// Package tokenizer turns text into token ids and back for the vocabularies
// stored in GGUF files, behaving like llama.cpp (src/llama-vocab.cpp) and the
// Hugging Face tokenizers the vocabularies came from.
//
// Two tokenizer models are supported:
//
//   - "llama": SentencePiece-style. Spaces become U+2581, a space is put in
//     front of the text (add_space_prefix), adjacent pieces are merged by best
//     score, and characters no piece covers fall back to <0xXX> byte tokens.
//   - "gpt2": byte-level BPE. The text is first cut into words by the
//     pre-tokenizer named by tokenizer.ggml.pre, every byte is mapped to a
//     printable character (the GPT-2 bytes-to-unicode table) and merges are
//     applied by rank.
//
// Special tokens (control and user-defined) are matched in the text before
// either model runs, the way llama.cpp's tokenizer_st_partition does.
//
// Unknown pre-tokenizer names do not fail: the tokenizer falls back to the
// "default" pre-tokenizer, as llama.cpp does for a missing name, and reports
// it through Warnings and PreTokenizerKnown so a caller can refuse the model
// or log it.
//
// A Tokenizer is immutable after New and safe for concurrent use.
package tokenizer
