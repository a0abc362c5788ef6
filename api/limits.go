package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
)

// This file decides how much one request may ask of the node. Every size a
// client sends is checked here, against the model's context and the
// node's limits, before anything is tokenized, allocated or queued: no
// client number sizes an allocation, and a request that can never fit is a
// 400 naming its field.

// Limits on a request's shape that no model makes reasonable.
const (
	// maxStopBytes bounds one stop sequence: the stream holds back text
	// that could begin one, so a longer stop would hold back the answer.
	maxStopBytes = 1024
	// maxOllamaStops bounds Ollama's stop list (OpenAI's is maxStops).
	maxOllamaStops = 16
	// maxMessages bounds a conversation as it is decoded, whatever the
	// model (limitMessages then holds it to the model's context): far above
	// OpenAI's own 2,048, and it keeps a body of a few megabytes from
	// becoming hundreds of thousands of structs.
	maxMessages = 16384
)

// messageList is a request's messages, decoded one at a time so that
// decoding stops at maxMessages.
type messageList[T any] []T

func (l *messageList[T]) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		*l = nil
		return nil
	}
	// json.Unmarshal has checked the whole body's syntax before calling
	// this, so only types can be wrong here.
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return badRequest("messages", "'messages' must be an array of message objects")
	}
	out := (*l)[:0]
	for i := 0; dec.More(); i++ {
		if len(out) == maxMessages {
			return badRequest("messages", "'messages' holds more than %d messages", maxMessages)
		}
		var m T
		if err := dec.Decode(&m); err != nil {
			var typ *json.UnmarshalTypeError
			if errors.As(err, &typ) && typ.Field != "" {
				p := fmt.Sprintf("messages[%d].%s", i, typ.Field)
				return badRequest(p, "invalid type for '%s': expected %s, got %s", p, jsonTypeName(typ.Type.Kind().String()), clientText(typ.Value))
			}
			return badRequest(fmt.Sprintf("messages[%d]", i), "'messages[%d]' must be a message object", i)
		}
		out = append(out, m)
	}
	*l = out
	return nil
}

// limitMessages refuses a conversation that cannot fit the model's
// context before the chat template renders it: every message costs at
// least one token, and no token covers more than TokenBytes bytes of text.
// Templating and tokenizing 200,000 tiny messages used to take hundreds of
// megabytes before the prompt was found too long.
func limitMessages(m Model, msgs []chat.Message) error {
	info := m.Info()
	ctx := info.ContextLength
	if ctx <= 0 {
		return nil
	}
	if len(msgs) > ctx {
		return &Error{Status: 400, Type: TypeInvalidRequest, Code: "context_length_exceeded", Param: "messages",
			Message: fmt.Sprintf("'messages' holds %d messages; this model's context of %d tokens cannot hold more than %d", len(msgs), ctx, ctx)}
	}
	if info.TokenBytes <= 0 {
		return nil
	}
	total := 0
	for _, msg := range msgs {
		total += len(msg.Content) + len(msg.Name) + len(msg.Role)
	}
	if most := ctx * info.TokenBytes; total > most {
		return &Error{Status: 400, Type: TypeInvalidRequest, Code: "context_length_exceeded", Param: "messages",
			Message: fmt.Sprintf("'messages' holds %d bytes of text; this model's context of %d tokens holds at most %d", total, ctx, most)}
	}
	return nil
}

// limitTokens fits req.MaxTokens to the model and the node once the
// prompt is known; param names the request field it came from, "" if it
// is the node's default.
//
//   - A limit above what one response can ever hold (the model's context,
//     or the node's Config.MaxTokensLimit if lower) is a 400 naming the
//     field, as OpenAI answers it; with clamp (Ollama's num_predict, which
//     Ollama itself caps), or for the node's own default, it is lowered to
//     that instead.
//   - No limit at all means the node's limit, if it has one (else the
//     generation runs until the context is full).
//
// A limit above the room the prompt leaves stays: the generation ends with
// "length" when the context is full, and the limit, at most the context,
// bounds what the engine reserves and what metering estimates.
func (s *Server) limitTokens(m Model, req *engine.Request, param string, clamp bool) error {
	ctx := m.Info().ContextLength
	ceiling := ctx
	if lim := s.cfg.MaxTokensLimit; lim > 0 && (ceiling <= 0 || lim < ceiling) {
		ceiling = lim
	}
	if ceiling <= 0 {
		return nil
	}
	if req.MaxTokens > ceiling {
		if !clamp && param != "" {
			why := fmt.Sprintf("this model's context holds %d tokens", ctx)
			if ceiling < ctx || ctx <= 0 {
				why = fmt.Sprintf("this node generates at most %d tokens per request", ceiling)
			}
			return badRequest(param, "'%s' is %d, but %s; ask for at most %d", param, req.MaxTokens, why, ceiling)
		}
		req.MaxTokens = ceiling
	}
	if req.MaxTokens <= 0 && s.cfg.MaxTokensLimit > 0 {
		req.MaxTokens = ceiling
	}
	return nil
}

// checkStops bounds stop sequences: their number (most) and each one's
// length.
func checkStops(stops []string, most int, param string) error {
	if len(stops) > most {
		return badRequest(param, "'%s' holds %d sequences; at most %d are allowed", param, len(stops), most)
	}
	for i, st := range stops {
		if len(st) > maxStopBytes {
			return badRequest(param, "'%s' sequence %d is %d bytes long; at most %d are allowed", param, i, len(st), maxStopBytes)
		}
	}
	return nil
}
