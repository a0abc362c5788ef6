package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/admin"
	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/internal/testfixture"
)

// TestPreviousVersionFrames: the payloads and answers a node of the
// previous version sends (testdata, written by the code at 85adbe9, when
// the protocols lived in cmd/hearth) decode to the values it meant, and
// those values encode to the same bytes, so mixed-version fleets keep
// understanding each other.
func TestPreviousVersionFrames(t *testing.T) {
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
	testfixture.Frames(t, "testdata", map[string]any{
		"capture.json": &captureMsg{Tenant: "acme", Forwarded: capture.Forwarded{Record: rec, EndUser: "wanjiru@example.co.ke"}},
		"capture-minimal.json": &captureMsg{Tenant: "acme", Forwarded: capture.Forwarded{Record: capture.Record{
			Interaction: capture.Interaction{ResponseID: "r1", Model: "m", Time: at}}}},
		"feedback.json":              &feedbackMsg{Tenant: "acme", Feedback: capture.Feedback{ResponseID: "chatcmpl-7f3a", Thumb: -1, Comment: "wrong"}},
		"answer-ok.json":             &captureAnswer{},
		"answer-feedback.json":       &captureAnswer{Feedback: &fb},
		"answer-not-found.json":      &captureAnswer{Error: "not_found", Message: `capture: not found: response "chatcmpl-7f3a"`},
		"answer-key-deleted.json":    &captureAnswer{Error: "not_found", Message: "capture: the tenant's data key has been deleted"},
		"answer-invalid.json":        &captureAnswer{Error: "invalid", Message: "capture: invalid: rating 9"},
		"answer-not-home.json":       &captureAnswer{Error: "not_home", Message: "capture: not the tenant's home jurisdiction"},
		"answer-not-allowed.json":    &captureAnswer{Error: "not_allowed", Message: "capture: not allowed by the tenant's policy: capture off"},
		"answer-unknown-tenant.json": &captureAnswer{Error: "unknown_tenant", Message: `no tenant "acme" on this node`},
		"erase-response.json":        &eraseMsg{Tenant: "acme", Req: admin.EraseRequest{ResponseID: "chatcmpl-7f3a"}},
		"erase-user.json":            &eraseMsg{Tenant: "acme", Req: admin.EraseRequest{User: "wanjiru@example.co.ke"}},
		"erase-all.json":             &eraseMsg{Tenant: "acme", Req: admin.EraseRequest{All: true}},
		"erase-answer-ok.json":       &eraseAnswer{Erased: 3},
		"erase-answer-none.json":     &eraseAnswer{},
		"erase-answer-invalid.json":  &eraseAnswer{Error: "give exactly one of response_id, user and all"},
		"erase-answer-error.json":    &eraseAnswer{Error: "capture: erase: database is locked"},
	})
}

// TestAnswerCodes: the answers a home node of the previous version sends
// for each of capture's errors are what this version sends, and read back
// as those errors.
func TestAnswerCodes(t *testing.T) {
	tests := []struct {
		file string
		err  error // what the home node's store returned
		want error // what the sender gets
	}{
		{"answer-not-found.json", errors.Join(capture.ErrNotFound, errors.New(`response "chatcmpl-7f3a"`)), capture.ErrNotFound},
		{"answer-key-deleted.json", capture.ErrKeyDeleted, capture.ErrNotFound},
		{"answer-invalid.json", capture.ErrInvalid, capture.ErrInvalid},
		{"answer-not-home.json", capture.ErrNotHome, capture.ErrNotHome},
		{"answer-not-allowed.json", capture.ErrNotAllowed, capture.ErrNotAllowed},
		{"answer-unknown-tenant.json", nil, capture.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			frame, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var prev captureAnswer
			if err := json.Unmarshal(frame, &prev); err != nil {
				t.Fatal(err)
			}
			if tt.err != nil {
				b, err := refuse(tt.err)
				if err != nil {
					t.Fatalf("refuse(%v): no answer: %v", tt.err, err)
				}
				var a captureAnswer
				if err := json.Unmarshal(b, &a); err != nil || a.Error != prev.Error {
					t.Errorf("refuse(%v) = %s; want code %q", tt.err, b, prev.Error)
				}
			}
			_, err = readAnswer("ng-1", frame)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "ng-1") || !strings.Contains(err.Error(), prev.Message) {
				t.Errorf("readAnswer = %v; want %v naming the node and its message %q", err, tt.want, prev.Message)
			}
		})
	}
	// A failure with no code is the handler's, not an answer.
	boom := errors.New("database is locked")
	if b, err := refuse(boom); b != nil || err != boom {
		t.Errorf("refuse(%v) = %s, %v; want no answer and the error", boom, b, err)
	}
	// An answer with a code this version does not know is still an error.
	if _, err := readAnswer("ng-1", []byte(`{"error":"new_code","message":"m"}`)); err == nil || !strings.Contains(err.Error(), "new_code") {
		t.Errorf("unknown code: %v; want an error naming it", err)
	}
}

// TestEraseAnswers: erasure answers encode as before and read back.
func TestEraseAnswers(t *testing.T) {
	tests := []struct {
		file   string
		erased int
		err    error
	}{
		{"erase-answer-ok.json", 3, nil},
		{"erase-answer-none.json", 0, nil},
		{"erase-answer-error.json", 0, errors.New("capture: erase: database is locked")},
	}
	for _, tt := range tests {
		frame, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		b, err := eraseReply(tt.erased, tt.err)
		if err != nil || !bytes.Equal(append(b, '\n'), frame) {
			t.Errorf("%s: eraseReply = %s, %v; previous version %s", tt.file, b, err, frame)
		}
		n, msg, err := readEraseAnswer(frame)
		wantMsg := ""
		if tt.err != nil {
			wantMsg = tt.err.Error()
		}
		if err != nil || n != tt.erased || msg != wantMsg {
			t.Errorf("%s: readEraseAnswer = %d, %q, %v; want %d, %q", tt.file, n, msg, err, tt.erased, wantMsg)
		}
	}
	if _, _, err := readEraseAnswer([]byte("{")); err == nil {
		t.Error("a torn answer reads without error")
	}
}
