package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// The official OpenAI Go SDK against Hearth serving stories260K: if the
// SDK can decode every response, the wire format is right.

// sdkClient is an SDK client that can reach the test server and nothing
// else: its transport dials only the server's address, without proxies.
func sdkClient(t *testing.T, ts *httptest.Server) openai.Client {
	t.Helper()
	addr := ts.Listener.Addr().String()
	dialer := &net.Dialer{}
	hc := &http.Client{Transport: &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			if a != addr {
				return nil, fmt.Errorf("test client may only reach %s, not %s", addr, a)
			}
			return dialer.DialContext(ctx, network, a)
		},
	}}
	return openai.NewClient(
		option.WithBaseURL(ts.URL+"/v1/"),
		option.WithAPIKey("test-key"),
		option.WithHTTPClient(hc),
		option.WithMaxRetries(0),
	)
}

func TestOpenAISDK(t *testing.T) {
	srv, b := newEngineServer(t)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	client := sdkClient(t, ts)
	ctx := t.Context()

	chatParams := openai.ChatCompletionNewParams{
		Model: "stories260k",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.SystemMessage("You tell stories."),
			openai.UserMessage("Tell me about a dog."),
		},
		MaxTokens:   openai.Int(16),
		Temperature: openai.Float(0),
		Seed:        openai.Int(1),
		Logprobs:    openai.Bool(true),
		TopLogprobs: openai.Int(2),
	}

	t.Run("chat", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, chatParams)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(resp.ID, "chatcmpl-") || resp.Model != "stories260k" || len(resp.Choices) != 1 {
			t.Fatalf("response %+v", resp)
		}
		c := resp.Choices[0]
		if c.Message.Content == "" || c.Message.Role != "assistant" || (c.FinishReason != "stop" && c.FinishReason != "length") {
			t.Errorf("choice %+v", c)
		}
		if resp.Usage.CompletionTokens == 0 || resp.Usage.CompletionTokens > 16 || int(resp.Usage.CompletionTokens) != len(c.Logprobs.Content) ||
			resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
			t.Errorf("usage %+v with %d logprob entries", resp.Usage, len(c.Logprobs.Content))
		}
		if len(c.Logprobs.Content) > 0 && len(c.Logprobs.Content[0].TopLogprobs) != 2 {
			t.Errorf("top logprobs %+v", c.Logprobs.Content[0].TopLogprobs)
		}

		// Streaming, accumulated by the SDK, gives the same reply.
		p := chatParams
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := client.Chat.Completions.NewStreaming(ctx, p)
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != c.Message.Content || acc.Choices[0].FinishReason != c.FinishReason {
			t.Errorf("streamed %+v, want %q", acc.Choices, c.Message.Content)
		}
		if acc.Usage.CompletionTokens != resp.Usage.CompletionTokens || acc.Usage.PromptTokens != resp.Usage.PromptTokens {
			t.Errorf("streamed usage %+v, want %+v", acc.Usage, resp.Usage)
		}
		if chunks < 3 {
			t.Errorf("%d chunks", chunks)
		}
	})

	t.Run("completion", func(t *testing.T) {
		resp, err := client.Completions.New(ctx, openai.CompletionNewParams{
			Model:       "stories260k",
			Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
			MaxTokens:   openai.Int(10),
			Temperature: openai.Float(0),
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(resp.ID, "cmpl-") || len(resp.Choices) != 1 || resp.Choices[0].Text == "" || resp.Usage.CompletionTokens == 0 ||
			resp.Usage.CompletionTokens > 10 {
			t.Errorf("completion %+v", resp)
		}

		stream := client.Completions.NewStreaming(ctx, openai.CompletionNewParams{
			Model:       "stories260k",
			Prompt:      openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
			MaxTokens:   openai.Int(10),
			Temperature: openai.Float(0),
		})
		var text strings.Builder
		for stream.Next() {
			for _, c := range stream.Current().Choices {
				text.WriteString(c.Text)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != resp.Choices[0].Text {
			t.Errorf("streamed %q, want %q", text.String(), resp.Choices[0].Text)
		}
	})

	t.Run("embeddings", func(t *testing.T) {
		for _, format := range []openai.EmbeddingNewParamsEncodingFormat{"", openai.EmbeddingNewParamsEncodingFormatFloat} {
			resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
				Model:          "stories260k",
				Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a cat", "a dog"}},
				EncodingFormat: format,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Data) != 2 || len(resp.Data[1].Embedding) != b.model.Net.Dim || resp.Data[1].Index != 1 || resp.Usage.PromptTokens == 0 {
				t.Errorf("embeddings (format %q): %d items, usage %+v", format, len(resp.Data), resp.Usage)
			}
		}
	})

	t.Run("models", func(t *testing.T) {
		page, err := client.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 1 || page.Data[0].ID != "stories260k" || page.Data[0].OwnedBy == "" {
			t.Errorf("models %+v", page.Data)
		}
		m, err := client.Models.Get(ctx, "stories260k")
		if err != nil || m.ID != "stories260k" {
			t.Errorf("get model: %+v, %v", m, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		p := chatParams
		p.Model = "no-such-model"
		_, err := client.Chat.Completions.New(ctx, p)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" || apiErr.Param != "model" {
			t.Errorf("unknown model: %v", err)
		}
		p = chatParams
		p.N = openai.Int(3)
		_, err = client.Chat.Completions.New(ctx, p)
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "n" || apiErr.Type != "invalid_request_error" {
			t.Errorf("n=3: %v", err)
		}
	})
}

// The SDK surfaces an error sent mid-stream.
func TestOpenAISDKStreamError(t *testing.T) {
	h := newHarness(t, nil)
	ts := h.httpServer()
	client := sdkClient(t, ts)
	stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
		Model:    "fail",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	n := 0
	for stream.Next() {
		n++
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "engine broke") || n != 3 {
		t.Errorf("after %d chunks: %v", n, err)
	}
}
