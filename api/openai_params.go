package api

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"

	"github.com/hearth-ai/hearth/engine/sample"
)

// openAIParams are the request fields chat and text completions share.
type openAIParams struct {
	Model         string          `json:"model"`
	Stream        bool            `json:"stream"`
	StreamOptions *streamOptions  `json:"stream_options"`
	Stop          json.RawMessage `json:"stop"`
	MaxTokens     *int            `json:"max_tokens"`
	N             *int            `json:"n"`
	User          endUser         `json:"user"`

	Temperature      *float64 `json:"temperature"`
	TopP             *float64 `json:"top_p"`
	Seed             *int64   `json:"seed"`
	PresencePenalty  *float64 `json:"presence_penalty"`
	FrequencyPenalty *float64 `json:"frequency_penalty"`
	// Extensions that llama.cpp's and vLLM's OpenAI servers also accept.
	TopK          *int     `json:"top_k"`
	MinP          *float64 `json:"min_p"`
	RepeatPenalty *float64 `json:"repeat_penalty"`
	// LoRA is llama-server's per-request choice of adapters by id and
	// scale (lora.go): absent, the global scales; [], the base alone.
	LoRA loraList `json:"lora"`
	// LogitBias is refused when set: ignoring it would change the answer.
	LogitBias json.RawMessage `json:"logit_bias"`
}

// endUser is OpenAI's "user" field: the client's id for its own end
// user, which a capture keeps with the interaction. It is refused past
// maxEndUserBytes as it is decoded, so a long one costs neither the
// capture's storage nor anything after the decoder.
type endUser string

// maxEndUserBytes is the longest "user" accepted: room for any id a
// client keeps for its users (a UUID, a hash, an e-mail hash).
const maxEndUserBytes = 256

func (u *endUser) UnmarshalJSON(data []byte) error {
	if isNull(data) {
		return nil // as for any field: null leaves it unset
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "invalid_type", Param: "user",
			Message: "invalid type for 'user': expected a string"}
	}
	if len(s) > maxEndUserBytes {
		return badRequest("user", "'user' is %d bytes long; at most %d are allowed", len(s), maxEndUserBytes)
	}
	*u = endUser(s)
	return nil
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// maxStops is OpenAI's limit on stop sequences.
const maxStops = 4

// sampling checks the sampling fields against OpenAI's ranges and builds
// the engine's parameters. OpenAI's defaults apply: temperature 1, top_p
// 1, no penalties, and a fresh random seed when none is given.
func (p *openAIParams) sampling() (sample.Params, error) {
	sp := sample.Params{Temperature: 1, RepeatPenalty: 1}
	if p.Temperature != nil {
		if t := *p.Temperature; !(t >= 0 && t <= 2) {
			return sp, badRequest("temperature", "'temperature' must be between 0 and 2, got %v", t)
		}
		sp.Temperature = float32(*p.Temperature)
	}
	if p.TopP != nil {
		v := *p.TopP
		if !(v >= 0 && v <= 1) {
			return sp, badRequest("top_p", "'top_p' must be between 0 and 1, got %v", v)
		}
		// OpenAI's top_p 0 keeps only the most likely token; the engine
		// reads 0 as "off", so ask for the smallest positive mass instead.
		sp.TopP = max(float32(v), math.SmallestNonzeroFloat32)
	}
	for _, pen := range []struct {
		name string
		v    *float64
		dst  *float32
	}{
		{"presence_penalty", p.PresencePenalty, &sp.PresencePenalty},
		{"frequency_penalty", p.FrequencyPenalty, &sp.FrequencyPenalty},
	} {
		if pen.v == nil {
			continue
		}
		if v := *pen.v; !(v >= -2 && v <= 2) {
			return sp, badRequest(pen.name, "'%s' must be between -2 and 2, got %v", pen.name, v)
		}
		*pen.dst = float32(*pen.v)
	}
	if p.TopK != nil {
		if *p.TopK < 0 {
			return sp, badRequest("top_k", "'top_k' must be 0 (off) or positive, got %d", *p.TopK)
		}
		sp.TopK = *p.TopK
	}
	if p.MinP != nil {
		if v := *p.MinP; !(v >= 0 && v <= 1) {
			return sp, badRequest("min_p", "'min_p' must be between 0 and 1, got %v", v)
		}
		sp.MinP = float32(*p.MinP)
	}
	if p.RepeatPenalty != nil {
		if v := *p.RepeatPenalty; !(v >= 0 && v <= 10) {
			return sp, badRequest("repeat_penalty", "'repeat_penalty' must be between 0 and 10, got %v", v)
		}
		sp.RepeatPenalty = float32(*p.RepeatPenalty)
	}
	if p.Seed != nil {
		sp.Seed = uint64(*p.Seed)
	} else {
		sp.Seed = rand.Uint64()
	}
	if err := sp.Validate(); err != nil {
		return sp, badRequest("", "%v", err)
	}
	return sp, nil
}

// stops decodes "stop": a string or up to four strings. Empty strings
// would stop at once and are dropped.
func (p *openAIParams) stops() ([]string, error) {
	all, err := stringOrStrings(p.Stop, "stop")
	if err != nil {
		return nil, err
	}
	if err := checkStops(all, maxStops, "stop"); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range all {
		if s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// checkN refuses more than one choice per request, and logit_bias,
// which the samplers do not apply.
func (p *openAIParams) checkN() error {
	if p.N != nil && *p.N != 1 {
		return unsupported("n", "'n' must be 1: Hearth generates one choice per request (got %d)", *p.N)
	}
	if t := string(bytes.TrimSpace(p.LogitBias)); !isNull(p.LogitBias) && t != "{}" {
		return unsupported("logit_bias", "'logit_bias' is not supported yet")
	}
	return nil
}

// maxTokens picks the generation limit: the request's (the first non-nil
// of fields, named by params), else def. 0 means no limit. param names
// the field it came from, "" for def.
func maxTokens(def int, fields []*int, params []string) (n int, param string, err error) {
	for i, f := range fields {
		if f == nil {
			continue
		}
		if *f < 1 {
			return 0, params[i], badRequest(params[i], "'%s' must be at least 1, got %d", params[i], *f)
		}
		return *f, params[i], nil
	}
	return def, "", nil
}

// usage is OpenAI's token accounting.
type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func newUsage(prompt, completion int) *usage {
	return &usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
}
