package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/admin"
	"github.com/hearth-ai/hearth/capture"
)

func TestWriteGolden(t *testing.T) {
	dir := os.Getenv("GOLDEN_DIR")
	if dir == "" {
		t.Skip()
	}
	at := time.Date(2026, 11, 3, 9, 30, 15, 123456789, time.UTC)
	rec := capture.Record{
		Interaction: capture.Interaction{ResponseID: "chatcmpl-7f3a", TenantID: "t_01ke", KeyID: "k_01", EndUser: "<EMAIL_1>",
			Model: "stories260K", Endpoint: "/v1/chat/completions",
			Messages: []capture.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "Once upon a time. Write to me at <EMAIL_1>"}},
			Output:   "there was a cat", Params: map[string]any{"max_tokens": 8.0, "temperature": 0.0}, Time: at},
		Scrubbed: map[string]int{"EMAIL": 1},
		Expires:  at.Add(30 * 24 * time.Hour),
	}
	fb := capture.Feedback{ID: "fb_1", ResponseID: "chatcmpl-7f3a", Rating: 4, Thumb: 1, Correction: "there was a dog",
		Tags: []string{"tone", "length"}, Comment: "good <PHONE_1>", KeyID: "k_01", Time: at, Numbered: true}
	write := func(name string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw := func(name string, b []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("capture.json", captureMsg{Tenant: "acme", Forwarded: capture.Forwarded{Record: rec, EndUser: "wanjiru@example.co.ke"}})
	write("capture-minimal.json", captureMsg{Tenant: "acme", Forwarded: capture.Forwarded{Record: capture.Record{Interaction: capture.Interaction{ResponseID: "r1", Model: "m", Time: at}}}})
	write("feedback.json", feedbackMsg{Tenant: "acme", Feedback: capture.Feedback{ResponseID: "chatcmpl-7f3a", Thumb: -1, Comment: "wrong"}})
	write("answer-ok.json", captureAnswer{})
	write("answer-feedback.json", captureAnswer{Feedback: &fb})
	for name, err := range map[string]error{
		"answer-not-found.json":   fmt.Errorf("%w: response %q", capture.ErrNotFound, "chatcmpl-7f3a"),
		"answer-key-deleted.json": capture.ErrKeyDeleted,
		"answer-invalid.json":     fmt.Errorf("%w: rating 9", capture.ErrInvalid),
		"answer-not-home.json":    capture.ErrNotHome,
		"answer-not-allowed.json": fmt.Errorf("%w: capture off", capture.ErrNotAllowed),
	} {
		b, err := answerErr(err)
		raw(name, b, err)
	}
	h := &captureHome{}
	_ = h
	write("answer-unknown-tenant.json", captureAnswer{Error: codeNoTenant, Message: fmt.Sprintf("no tenant %q on this node", "acme")})
	write("erase-response.json", eraseMsg{Tenant: "acme", Req: admin.EraseRequest{ResponseID: "chatcmpl-7f3a"}})
	write("erase-user.json", eraseMsg{Tenant: "acme", Req: admin.EraseRequest{User: "wanjiru@example.co.ke"}})
	write("erase-all.json", eraseMsg{Tenant: "acme", Req: admin.EraseRequest{All: true}})
	write("erase-answer-ok.json", eraseAnswer{Erased: 3})
	write("erase-answer-none.json", eraseAnswer{})
	write("erase-answer-invalid.json", eraseAnswer{Error: "give exactly one of response_id, user and all"})
	write("erase-answer-error.json", eraseAnswer{Error: "capture: erase: database is locked"})
	write("audit-head.json", auditHeadMsg{Seq: 42, Hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Time: at})
	write("audit-head-empty.json", auditHeadMsg{})
	_ = context.Background
}
