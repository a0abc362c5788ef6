package gateway

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
)

// withSeed gives a generation request a sampling seed if it has none, so
// that a stream whose node dies can be continued elsewhere exactly as it
// would have gone on (the node taking over skips the draws of the tokens
// already sent; see api.Resume). A request's own seed is kept. OpenAI's
// requests carry it as "seed", Ollama's as options.seed (-1: none).
// Bodies that are not JSON objects are returned as they are: the serving
// node's API says what is wrong with them.
func withSeed(body []byte, path string) []byte {
	var req map[string]json.RawMessage
	if json.Unmarshal(body, &req) != nil || req == nil {
		return body
	}
	seed, _ := json.Marshal(rand.Int64N(1 << 53)) // exact in any JSON parser
	if !strings.HasPrefix(path, "/api/") {
		if s, ok := req["seed"]; ok && !isNull(s) {
			return body
		}
		req["seed"] = seed
	} else {
		var opts map[string]json.RawMessage
		if o, ok := req["options"]; ok && !isNull(o) {
			if json.Unmarshal(o, &opts) != nil {
				return body
			}
		}
		if opts == nil {
			opts = map[string]json.RawMessage{}
		}
		if s, ok := opts["seed"]; ok && !isNull(s) && strings.TrimSpace(string(s)) != "-1" {
			return body
		}
		opts["seed"] = seed
		o, err := json.Marshal(opts)
		if err != nil {
			return body
		}
		req["options"] = o
	}
	out, err := json.Marshal(req)
	if err != nil {
		return body
	}
	return out
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }
