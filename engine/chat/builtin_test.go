package chat

import (
	"errors"
	"strings"
	"testing"
)

// conversations the built-ins are compared on, named for failure messages.
var conversations = map[string][]Message{
	"user only": {{Role: "user", Content: "Hello"}},
	"user-assistant-user": {
		{Role: "user", Content: "Hello"}, {Role: "assistant", Content: "Hi there"}, {Role: "user", Content: "Who are you"},
	},
	"system-user-assistant-user": conv,
	"padded contents": {
		sysMsg, {Role: "user", Content: " Hello\n"}, {Role: "assistant", Content: "   I am an assistant   "},
		{Role: "user", Content: "Another question "},
	},
	"ends with assistant": {
		sysMsg, {Role: "user", Content: "Hello"}, {Role: "assistant", Content: "Hi there"},
	},
}

func hasSystem(msgs []Message) bool { return len(msgs) > 0 && msgs[0].Role == "system" }

func withSystemOnly(msgs []Message) []Message {
	if hasSystem(msgs) {
		return msgs
	}
	return nil
}

func dropSystem(msgs []Message) []Message {
	if hasSystem(msgs) {
		return msgs[1:]
	}
	return msgs
}

// TestBuiltinsMatchRealTemplates renders each conversation with a built-in
// and with the published template it mirrors, with and without the
// generation prompt, and requires identical output.
func TestBuiltinsMatchRealTemplates(t *testing.T) {
	tests := []struct {
		builtin, file string
		bos, eos      string
		// prepare adapts a conversation to what the real template handles
		// the same way by design (nil: skip it); a nil prepare keeps all.
		prepare func([]Message) []Message
	}{
		{"chatml", "openhermes-chatml.jinja", "", "", nil},
		// Qwen2.5 and SmolLM2 add their own system prompt when there is none.
		{"chatml", "qwen2.5.jinja", "", "", withSystemOnly},
		{"chatml", "smollm2.jinja", "", "", withSystemOnly},
		{"llama2", "llama2.jinja", "<s>", "</s>", nil},
		{"llama3", "llama3.jinja", "<|begin_of_text|>", "<|eot_id|>", nil},
		{"mistral", "mistral-v0.3.jinja", "<s>", "</s>", nil},
		{"phi3", "phi-3.5-mini.jinja", "<s>", "<|endoftext|>", nil},
		{"zephyr", "tinyllama.jinja", "<s>", "</s>", nil},
		// Gemma's template refuses system messages; the built-in folds them in.
		{"gemma", "gemma-7b-it.jinja", "<bos>", "<eos>", dropSystem},
		{"deepseek", "deepseek-llm.jinja", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", nil},
	}
	for _, tc := range tests {
		b, err := Builtin(tc.builtin)
		if err != nil {
			t.Fatal(err)
		}
		real := readTemplate(t, tc.file)
		compared := 0
		for name, msgs := range conversations {
			if tc.prepare != nil {
				if msgs = tc.prepare(msgs); msgs == nil {
					continue
				}
			}
			for _, gen := range []bool{true, false} {
				o := RenderOptions{AddGenerationPrompt: gen, BOSToken: tc.bos, EOSToken: tc.eos}
				want, err := real.Render(msgs, o)
				if err != nil {
					t.Errorf("%s, %s: real template: %v", tc.file, name, err)
					continue
				}
				got, err := b.Render(msgs, o)
				if err != nil {
					t.Errorf("builtin %s, %s: %v", tc.builtin, name, err)
					continue
				}
				if got != want {
					t.Errorf("builtin %s vs %s, %s, generation prompt %v:\n got %q\nwant %q", tc.builtin, tc.file, name, gen, got, want)
				}
				compared++
			}
		}
		if compared < 6 {
			t.Errorf("builtin %s vs %s: only %d renders compared", tc.builtin, tc.file, compared)
		}
	}
}

// TestBuiltinPhi3MatchesGGUF compares with Phi-3-mini's own template, read
// from the GGUF file. That template prints bos_token, drops system messages
// and always follows a user turn with <|assistant|>, so they agree on
// system-less conversations ending with a user turn, BOS left to the
// tokenizer.
func TestBuiltinPhi3MatchesGGUF(t *testing.T) {
	real, err := Parse(phi3Template(t))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Builtin("phi3")
	for _, name := range []string{"user only", "user-assistant-user"} {
		o := RenderOptions{AddGenerationPrompt: true, EOSToken: "<|endoftext|>"}
		want, err1 := real.Render(conversations[name], o)
		got, err2 := b.Render(conversations[name], o)
		if err1 != nil || err2 != nil || got != want {
			t.Errorf("phi3 vs GGUF template, %s:\n got %q (%v)\nwant %q (%v)", name, got, err2, want, err1)
		}
	}
}

func TestBuiltinMistralToolResult(t *testing.T) {
	msgs := []Message{
		{Role: "user", Content: "Weather?"},
		{Role: "tool", Content: `{"temp": 21}`, ToolCallID: "abc123xyz"},
	}
	o := RenderOptions{BOSToken: "<s>", EOSToken: "</s>"}
	want, err := readTemplate(t, "mistral-v0.3.jinja").Render(msgs, o)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Builtin("mistral")
	if got, err := b.Render(msgs, o); err != nil || got != want {
		t.Errorf("mistral tool result:\n got %q (%v)\nwant %q", got, err, want)
	}
	msgs[1].ToolCallID = "short"
	var re *RaiseError
	if _, err := b.Render(msgs, o); !errors.As(err, &re) || !strings.Contains(re.Message, "length 9") {
		t.Errorf("mistral with a bad tool call id: %v, want a raise about length 9", err)
	}
}

// TestBuiltinErrorsMatch checks that built-ins reject what their templates
// reject, with the same message.
func TestBuiltinErrorsMatch(t *testing.T) {
	twoUsers := []Message{{Role: "user", Content: "a"}, {Role: "user", Content: "b"}}
	for _, tc := range []struct{ builtin, file string }{
		{"llama2", "llama2.jinja"},
		{"mistral", "mistral-v0.3.jinja"},
		{"gemma", "gemma-7b-it.jinja"},
	} {
		_, realErr := readTemplate(t, tc.file).Render(twoUsers, RenderOptions{})
		b, _ := Builtin(tc.builtin)
		_, gotErr := b.Render(twoUsers, RenderOptions{})
		var want, got *RaiseError
		if !errors.As(realErr, &want) || !errors.As(gotErr, &got) {
			t.Errorf("%s: errors %v and %v, want two *RaiseError", tc.builtin, gotErr, realErr)
			continue
		}
		if got.Message != want.Message {
			t.Errorf("%s raised %q, template raised %q", tc.builtin, got.Message, want.Message)
		}
	}
}

func TestBuiltinGemmaFoldsSystem(t *testing.T) {
	b, _ := Builtin("gemma")
	got, err := b.Render(conv, RenderOptions{AddGenerationPrompt: true})
	want := "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n" +
		"<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\n"
	if err != nil || got != want {
		t.Errorf("gemma with system:\n got %q (%v)\nwant %q", got, err, want)
	}
}

func TestBuiltinLookup(t *testing.T) {
	want := []string{"chatml", "deepseek", "gemma", "llama2", "llama3", "mistral", "phi3", "zephyr"}
	if got := BuiltinNames(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("BuiltinNames() = %v, want %v", got, want)
	}
	for _, n := range want {
		b, err := Builtin(n)
		if err != nil || b.Name() != n || b.Source() != "" {
			t.Errorf("Builtin(%q) = %v, %v", n, b, err)
		}
	}
	_, err := Builtin("vicuna")
	if err == nil || !strings.Contains(err.Error(), `"vicuna"`) || !strings.Contains(err.Error(), "chatml") {
		t.Errorf("Builtin(vicuna) error = %v, want one naming it and listing the built-ins", err)
	}
	if _, err := Builtin("llama2"); err != nil {
		t.Fatal(err)
	}
	b, _ := Builtin("llama2")
	if _, err := b.Render(nil, RenderOptions{}); err == nil {
		t.Errorf("llama2 rendered an empty conversation without error")
	}
}
