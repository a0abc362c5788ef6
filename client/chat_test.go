package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// chatServer answers each chat request with the reply "echo: LAST" under
// the id r<N>, and a 500 when the last message is "fail"; it keeps the
// requests and the feedback it gets.
type chatServer struct {
	chats    []ChatRequest
	feedback []map[string]any
}

func (s *chatServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/feedback":
		var fb map[string]any
		json.NewDecoder(r.Body).Decode(&fb)
		s.feedback = append(s.feedback, fb)
		fmt.Fprint(w, `{"id":"fb","object":"feedback","status":"recorded"}`)
	case "/v1/chat/completions":
		var req ChatRequest
		json.NewDecoder(r.Body).Decode(&req)
		s.chats = append(s.chats, req)
		last := req.Messages[len(req.Messages)-1].Content
		if last == "fail" {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"error":{"message":"model crashed"}}`)
			return
		}
		id := fmt.Sprintf("r%d", len(s.chats))
		for _, piece := range []string{"echo: ", last} {
			fmt.Fprintf(w, "data: {\"id\":%q,\"choices\":[{\"delta\":{\"content\":%q}}]}\n\n", id, piece)
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	default:
		http.NotFound(w, r)
	}
}

func TestChat(t *testing.T) {
	srv := &chatServer{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ctx := context.Background()
	seed := int64(7)
	c := &Chat{Client: New(ts.URL, ""), Model: "m", MaxTokens: 9, Temperature: 0, Seed: &seed}

	if err := c.Rate(ctx, 1, ScaleThumbs, ""); !errors.Is(err, ErrNothingToRate) {
		t.Errorf("rating before any reply: %v; want ErrNothingToRate", err)
	}
	history := []Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hello"}}
	var streamed strings.Builder
	text, err := c.Reply(ctx, history, func(s string) { streamed.WriteString(s) })
	if err != nil {
		t.Fatal(err)
	}
	if text != "echo: hello" || streamed.String() != text {
		t.Errorf("reply %q, streamed %q; want both %q", text, streamed.String(), "echo: hello")
	}
	req := srv.chats[0]
	if req.Model != "m" || len(req.Messages) != 2 || req.MaxTokens != 9 || req.Temperature == nil || *req.Temperature != 0 || req.Seed == nil || *req.Seed != 7 {
		t.Errorf("request %+v: want the history and the chat's settings", req)
	}
	if err := c.Rate(ctx, 4, ScaleStars, "better"); err != nil {
		t.Fatal(err)
	}

	// A failed turn is an error and leaves the last good reply the one
	// a rating names.
	if _, err := c.Reply(ctx, append(history, Message{Role: "user", Content: "fail"}), nil); err == nil || !strings.Contains(err.Error(), "model crashed") {
		t.Errorf("failed turn: %v", err)
	}
	if err := c.Rate(ctx, -1, ScaleThumbs, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reply(ctx, history, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rate(ctx, 1, ScaleThumbs, ""); err != nil {
		t.Fatal(err)
	}

	want := []string{"r1 4 stars better", "r1 -1 thumbs ", "r3 1 thumbs "}
	if len(srv.feedback) != len(want) {
		t.Fatalf("%d feedback posts; want %d", len(srv.feedback), len(want))
	}
	for i, fb := range srv.feedback {
		if got := fmt.Sprintf("%v %v %v %v", fb["response_id"], fb["rating"], fb["scale"], fb["correction"]); got != want[i] {
			t.Errorf("feedback %d: %s; want %s", i, got, want[i])
		}
	}
}
