package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// result is what a client got for one request.
type result struct {
	status int
	node   string // X-Hearth-Node: the node that served it, if not the entry node
	served string // X-Hearth-Model: the model (base or BASE:ADAPTER@VERSION) that served it
	id     string // response id (OpenAI's API)
	text   string
	body   string // for errors
	err    error  // transport error, or an error event inside a stream
}

// call sends one chat request for Model. Ollama's /api/chat streams
// NDJSON unless stream is false; OpenAI's streams SSE when stream is true.
func call(ctx context.Context, url, key, jurisdiction, prompt string, maxTokens int, stream, ollama bool) result {
	return callModel(ctx, url, key, Model, jurisdiction, prompt, maxTokens, stream, ollama)
}

// callModel is call for another model, such as BASE:ADAPTER@VERSION.
func callModel(ctx context.Context, url, key, model, jurisdiction, prompt string, maxTokens int, stream, ollama bool) result {
	var path, body string
	if ollama {
		path = "/api/chat"
		body = fmt.Sprintf(`{"model":%q,"stream":%v,"options":{"temperature":0,"num_predict":%d},"messages":[{"role":"user","content":%q}]}`, model, stream, maxTokens, prompt)
	} else {
		path = "/v1/chat/completions"
		body = fmt.Sprintf(`{"model":%q,"stream":%v,"temperature":0,"max_tokens":%d,"messages":[{"role":"user","content":%q}]}`, model, stream, maxTokens, prompt)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, strings.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	if jurisdiction != "" {
		req.Header.Set("X-Hearth-Jurisdiction", jurisdiction)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	r := result{status: resp.StatusCode, node: resp.Header.Get("X-Hearth-Node"), served: resp.Header.Get("X-Hearth-Model")}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		r.body = string(b)
		return r
	}
	var text strings.Builder
	ended := false
	switch {
	case !stream:
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			r.err = err
			return r
		}
		var out struct {
			ID      string `json:"id"`
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
			Message struct{ Content string } `json:"message"`
			Done    bool                     `json:"done"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			r.err = fmt.Errorf("decode %s: %w", b, err)
			return r
		}
		r.id = out.ID
		if ollama {
			text.WriteString(out.Message.Content)
			ended = out.Done
		} else if len(out.Choices) > 0 {
			text.WriteString(out.Choices[0].Message.Content)
			ended = true
		}
	default:
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if !ollama {
				var ok bool
				if line, ok = strings.CutPrefix(line, "data: "); !ok {
					continue
				}
				if line == "[DONE]" {
					ended = true
					break
				}
			}
			var ev struct {
				ID      string          `json:"id"`
				Error   json.RawMessage `json:"error"`
				Choices []struct {
					Delta struct{ Content string } `json:"delta"`
				} `json:"choices"`
				Message struct{ Content string } `json:"message"`
				Done    bool                     `json:"done"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				r.err = fmt.Errorf("bad event %q: %w", line, err)
				return r
			}
			if len(ev.Error) > 0 {
				r.err = fmt.Errorf("error in stream: %s", ev.Error)
				return r
			}
			if r.id == "" {
				r.id = ev.ID
			} else if ev.ID != "" && ev.ID != r.id {
				r.err = fmt.Errorf("stream changed response id from %s to %s", r.id, ev.ID)
				return r
			}
			for _, c := range ev.Choices {
				text.WriteString(c.Delta.Content)
			}
			text.WriteString(ev.Message.Content)
			if ev.Done {
				ended = true
				break
			}
		}
		if err := sc.Err(); err != nil {
			r.err = err
			return r
		}
	}
	r.text = text.String()
	if !ended {
		r.err = fmt.Errorf("response ended without its end marker after %q", r.text)
	}
	return r
}
