package engine_test

import "github.com/hearth-ai/hearth/engine/tokenizer"

func decodeCont() tokenizer.DecodeOptions { return tokenizer.DecodeOptions{Continuation: true} }
