package api

import (
	"encoding/json"
	"math/rand/v2"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/sample"
)

// ollamaOptions are the Modelfile parameters Hearth honours. Others
// (mirostat, num_gpu, ...) are ignored, as unknown fields are everywhere.
type ollamaOptions struct {
	Temperature      *float64        `json:"temperature"`
	TopK             *int            `json:"top_k"`
	TopP             *float64        `json:"top_p"`
	MinP             *float64        `json:"min_p"`
	Seed             *int64          `json:"seed"`
	NumPredict       *int            `json:"num_predict"`
	Stop             json.RawMessage `json:"stop"`
	RepeatPenalty    *float64        `json:"repeat_penalty"`
	RepeatLastN      *int            `json:"repeat_last_n"`
	PresencePenalty  *float64        `json:"presence_penalty"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	// NumCtx is ignored: the context size is the node's, fixed at load.
	NumCtx *int `json:"num_ctx"`
}

// request turns options into an engine request, starting from Ollama's
// defaults (temperature 0.8, top_k 40, top_p 0.9, repeat_penalty 1.1 over
// the last 64 tokens, a random seed, no length limit but the server's).
func (o *ollamaOptions) request(defaultMax int) (engine.Request, error) {
	req := engine.Request{MaxTokens: defaultMax, Sampling: sample.Params{
		Temperature: 0.8, TopK: 40, TopP: 0.9, RepeatPenalty: 1.1, RepeatLastN: 64, Seed: rand.Uint64(),
	}}
	if o == nil {
		return req, nil
	}
	sp := &req.Sampling
	if v := o.Temperature; v != nil {
		if !(*v >= 0 && *v <= 100) {
			return req, badRequest("options.temperature", "option temperature must be 0 or more, got %v", *v)
		}
		sp.Temperature = float32(*v)
	}
	if v := o.TopK; v != nil {
		if *v < 0 {
			return req, badRequest("options.top_k", "option top_k must be 0 or more, got %d", *v)
		}
		sp.TopK = *v
	}
	for _, f := range []struct {
		name string
		v    *float64
		dst  *float32
		lo   float64
		hi   float64
	}{
		{"top_p", o.TopP, &sp.TopP, 0, 1},
		{"min_p", o.MinP, &sp.MinP, 0, 1},
		{"repeat_penalty", o.RepeatPenalty, &sp.RepeatPenalty, 0, 100},
		{"presence_penalty", o.PresencePenalty, &sp.PresencePenalty, -100, 100},
		{"frequency_penalty", o.FrequencyPenalty, &sp.FrequencyPenalty, -100, 100},
	} {
		if f.v == nil {
			continue
		}
		if !(*f.v >= f.lo && *f.v <= f.hi) {
			return req, badRequest("options."+f.name, "option %s must be between %v and %v, got %v", f.name, f.lo, f.hi, *f.v)
		}
		*f.dst = float32(*f.v)
	}
	if v := o.RepeatLastN; v != nil {
		if *v < -1 {
			return req, badRequest("options.repeat_last_n", "option repeat_last_n must be -1 (whole context) or more, got %d", *v)
		}
		sp.RepeatLastN = *v
		if *v == 0 {
			// Ollama's 0 disables the penalties' window; the engine's 0
			// means its default, so switch the penalties off instead.
			sp.RepeatPenalty, sp.PresencePenalty, sp.FrequencyPenalty = 1, 0, 0
		}
	}
	if v := o.Seed; v != nil && *v >= 0 {
		sp.Seed = uint64(*v) // -1 keeps the random seed, as in Ollama
	}
	if v := o.NumPredict; v != nil {
		switch {
		case *v < 0:
			req.MaxTokens = 0 // -1: no limit, -2: fill the context
		case *v > 0:
			req.MaxTokens = *v
		}
	}
	stops, err := stringOrStrings(o.Stop, "options.stop")
	if err != nil {
		return req, err
	}
	if err := checkStops(stops, maxOllamaStops, "options.stop"); err != nil {
		return req, err
	}
	for _, s := range stops {
		if s != "" {
			req.Stop = append(req.Stop, s)
		}
	}
	if err := sp.Validate(); err != nil {
		return req, badRequest("options", "%v", err)
	}
	return req, nil
}
