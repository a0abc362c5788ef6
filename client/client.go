// Package client talks to an OpenAI-compatible chat endpoint (a Hearth node,
// or any other server speaking the same API) with streaming: Chat is the
// terminal chat's conversation (with feedback on its replies, which only a
// Hearth node takes) and Load the load generator's measurement.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls one server. The zero value is not usable; call New.
type Client struct {
	base string
	key  string
	http *http.Client
}

// New returns a client for the server at baseURL (e.g.
// "http://127.0.0.1:8080"); apiKey may be empty.
func New(baseURL, apiKey string) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), key: apiKey, http: &http.Client{}}
}

// Message is one chat message.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatRequest is the subset of OpenAI's chat request the tools use.
type ChatRequest struct {
	Model       string    `json:"model"`
	Messages    []Message `json:"messages"`
	MaxTokens   int       `json:"max_tokens,omitempty"`
	Temperature *float64  `json:"temperature,omitempty"`
	Seed        *int64    `json:"seed,omitempty"`
	Stream      bool      `json:"stream"`
	// StreamOptions asks for a final usage chunk.
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
	// IgnoreEOS is llama.cpp's extension, used by load tests so that every
	// stream produces MaxTokens tokens.
	IgnoreEOS bool `json:"ignore_eos,omitempty"`
	// LoRA is llama-server's per-request adapters, by id and scale
	// (Hearth's too); nil sends none, so the server's global scales
	// apply.
	LoRA []LoRA `json:"lora,omitempty"`
}

// LoRA picks one of a server's LoRA adapters (GET /lora-adapters) with a
// scale.
type LoRA struct {
	ID    int     `json:"id"`
	Scale float64 `json:"scale"`
}

// Usage is OpenAI's token accounting.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// StreamResult describes a finished stream.
type StreamResult struct {
	ID           string
	Text         string
	FinishReason string
	Usage        Usage
	Chunks       int           // content chunks received
	FirstToken   time.Duration // time to the first content chunk
	Total        time.Duration
}

// APIError is an error response from the server.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("server said %d: %s", e.Status, e.Message) }

// ChatStream sends a streaming chat request and calls onDelta with each
// piece of content as it arrives.
func (c *Client) ChatStream(ctx context.Context, req ChatRequest, onDelta func(string)) (*StreamResult, error) {
	req.Stream = true
	req.StreamOptions = &struct {
		IncludeUsage bool `json:"include_usage"`
	}{true}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	resp, err := c.do(ctx, http.MethodPost, "/v1/chat/completions", body, "text/event-stream")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(resp)
	}
	res := &StreamResult{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data:")
		if !ok {
			continue
		}
		data = strings.TrimSpace(data)
		if data == "[DONE]" {
			res.Total = time.Since(start)
			return res, nil
		}
		var chunk struct {
			ID      string `json:"id"`
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *Usage `json:"usage"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return res, fmt.Errorf("client: bad stream chunk %q: %w", data, err)
		}
		if chunk.Error != nil {
			return res, &APIError{Status: resp.StatusCode, Message: chunk.Error.Message}
		}
		res.ID = chunk.ID
		if chunk.Usage != nil {
			res.Usage = *chunk.Usage
		}
		for _, ch := range chunk.Choices {
			if ch.Delta.Content != "" {
				if res.Chunks == 0 {
					res.FirstToken = time.Since(start)
				}
				res.Chunks++
				res.Text += ch.Delta.Content
				if onDelta != nil {
					onDelta(ch.Delta.Content)
				}
			}
			if ch.FinishReason != nil {
				res.FinishReason = *ch.FinishReason
			}
		}
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("client: stream: %w", err)
	}
	return res, errors.New("client: stream ended without [DONE]")
}

// Models lists the ids the server's /v1/models returns.
func (c *Client) Models(ctx context.Context) ([]string, error) {
	resp, err := c.do(ctx, http.MethodGet, "/v1/models", nil, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(resp)
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("client: models: %w", err)
	}
	ids := make([]string, len(list.Data))
	for i, d := range list.Data {
		ids[i] = d.ID
	}
	return ids, nil
}

func apiError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && len(e.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(e.Error, &obj) == nil && obj.Message != "":
			msg = obj.Message
		case json.Unmarshal(e.Error, &s) == nil:
			msg = s
		}
	}
	return &APIError{Status: resp.StatusCode, Message: msg}
}

// Feedback rates a response the server captured: rating is -1 or +1 on the
// "thumbs" scale, or 1..5 on the "stars" scale; correction, if not empty,
// is a better answer.
func (c *Client) Feedback(ctx context.Context, responseID string, rating int, scale, correction string) error {
	body, err := json.Marshal(map[string]any{"response_id": responseID, "rating": rating, "scale": scale, "correction": correction})
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/feedback", body, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return apiError(resp)
	}
	return nil
}

// do sends a request with the client's key; body, if not nil, is JSON.
func (c *Client) do(ctx context.Context, method, path string, body []byte, accept string) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if accept != "" {
		hreq.Header.Set("Accept", accept)
	}
	if c.key != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return resp, nil
}
