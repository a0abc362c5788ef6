package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/engine/gguf"
)

// phi3GGUF is a real GGUF vocabulary file whose metadata holds Phi-3-mini's
// chat template.
const phi3GGUF = "../../../shared/testdata/models/ggml-vocab-phi-3.gguf"

func readTemplate(t *testing.T, file string) *Template {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	tm, err := Parse(string(src))
	if err != nil {
		t.Fatalf("Parse(%s): %v", file, err)
	}
	return tm
}

func phi3Template(t *testing.T) string {
	t.Helper()
	f, err := gguf.Open(phi3GGUF)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, ok := f.String("tokenizer.chat_template")
	if !ok {
		t.Fatalf("%s has no tokenizer.chat_template", phi3GGUF)
	}
	return src
}

var (
	sysMsg = Message{Role: "system", Content: "You are a helpful assistant"}
	conv   = []Message{ // system + user + assistant + user
		sysMsg,
		{Role: "user", Content: "Hello"},
		{Role: "assistant", Content: "Hi there"},
		{Role: "user", Content: "Who are you"},
	}
)

// TestRealTemplates renders published templates verbatim and compares with
// the exact prompt the model expects.
func TestRealTemplates(t *testing.T) {
	tests := []struct {
		file     string
		bos, eos string
		msgs     []Message
		want     string
	}{
		{"llama3.jinja", "<|begin_of_text|>", "<|eot_id|>", conv,
			"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>" +
				"<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>" +
				"<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>" +
				"<|start_header_id|>assistant<|end_header_id|>\n\n"},
		{"qwen2.5.jinja", "", "<|im_end|>", conv,
			"<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n" +
				"<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n"},
		{"qwen2.5.jinja", "", "<|im_end|>", conv[1:], // no system: Qwen's default one appears
			"<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
				"<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n" +
				"<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n"},
		{"smollm2.jinja", "<|im_start|>", "<|im_end|>", conv,
			"<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n" +
				"<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n"},
		{"smollm2.jinja", "<|im_start|>", "<|im_end|>", conv[1:2],
			"<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n" +
				"<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"},
		{"mistral-v0.3.jinja", "<s>", "</s>", conv,
			"<s>[INST] Hello[/INST] Hi there</s>[INST] You are a helpful assistant\n\nWho are you[/INST]"},
		{"deepseek-llm.jinja", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", conv,
			"<｜begin▁of▁sentence｜>You are a helpful assistant\n\nUser: Hello\n\nAssistant: Hi there<｜end▁of▁sentence｜>" +
				"User: Who are you\n\nAssistant:"},
		{"tinyllama.jinja", "<s>", "</s>", conv,
			"<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n<|assistant|>\nHi there</s>\n" +
				"<|user|>\nWho are you</s>\n<|assistant|>\n"},
		{"phi-3.5-mini.jinja", "<s>", "<|endoftext|>", conv,
			"<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n" +
				"<|user|>\nWho are you<|end|>\n<|assistant|>\n"},
		{"gemma-7b-it.jinja", "<bos>", "<eos>", conv[1:], // Gemma refuses system messages
			"<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n" +
				"<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\n"},
		{"llama2.jinja", "<s>", "</s>", conv,
			"<s>[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who are you [/INST]"},
		{"openhermes-chatml.jinja", "", "", conv,
			"<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n" +
				"<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n"},
	}
	for _, tc := range tests {
		tm := readTemplate(t, tc.file)
		got, err := tm.Render(tc.msgs, RenderOptions{AddGenerationPrompt: true, BOSToken: tc.bos, EOSToken: tc.eos})
		if err != nil {
			t.Errorf("%s: Render: %v", tc.file, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.file, got, tc.want)
		}
	}
}

func TestPhi3TemplateFromGGUF(t *testing.T) {
	tm, err := Parse(phi3Template(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tm.Render(conv, RenderOptions{AddGenerationPrompt: true, BOSToken: "<s>", EOSToken: "<|endoftext|>"})
	if err != nil {
		t.Fatal(err)
	}
	// Phi-3-mini's template prints BOS and silently drops system messages.
	want := "<s><|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n"
	if got != want {
		t.Errorf("phi-3 GGUF template:\n got %q\nwant %q", got, want)
	}
}

func TestWithoutGenerationPrompt(t *testing.T) {
	tests := []struct {
		file, want string
	}{
		{"llama3.jinja", "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"},
		{"tinyllama.jinja", "<|user|>\nHello</s>\n"},
		{"phi-3.5-mini.jinja", "<|user|>\nHello<|end|>\n</s>"},
		{"deepseek-llm.jinja", "User: Hello\n\n"},
	}
	for _, tc := range tests {
		got, err := readTemplate(t, tc.file).Render(conv[1:2], RenderOptions{EOSToken: "</s>"})
		if err != nil || got != tc.want {
			t.Errorf("%s without generation prompt = %q, %v; want %q", tc.file, got, err, tc.want)
		}
	}
}

// TestTemplateFeatures exercises, in one template, the Jinja features real
// chat templates rely on.
func TestTemplateFeatures(t *testing.T) {
	src := `{%- set ns = namespace(n=0, first='') -%}
{%- for m in messages[1:] -%}
{%- set ns.n = ns.n + 1 -%}
{%- if loop.first %}{% set ns.first = m.content %}{% endif -%}
[{{ loop.index0 }}{{ '!' if loop.last else '' }} {{ m['role'] ~ ':' + (m.content | trim) }}]
{%- endfor %}
n={{ ns.n }} first={{ ns.first.strip() }} starts={{ messages[0].content.startswith('You') }}
words={{ messages[0].content.split(' ') | length }} json={{ messages[1] | tojson }}
tools={{ tools is defined }} name={{ messages[2].name }} id={{ messages[2].tool_call_id is defined }}/{{ messages[1].tool_call_id is defined }}
date={{ strftime_now('%d %b %Y, %A %H:%M') }} extra={{ enable_thinking }}`
	tm, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{
		sysMsg,
		{Role: "user", Content: "  Hello  "},
		{Role: "tool", Content: "42", Name: "calc", ToolCallID: "abc123xyz"},
	}
	got, err := tm.Render(msgs, RenderOptions{
		Now:  time.Date(2024, 7, 26, 9, 5, 0, 0, time.UTC),
		Vars: map[string]any{"enable_thinking": false, "messages": "ignored"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// "{%-" eats the newline before it and trim_blocks the one after
	// "%}", as in Hugging Face's renderer.
	want := "[0 user:Hello][1! tool:42]" +
		"n=2 first=Hello starts=True\n" +
		`words=5 json={"role": "user", "content": "  Hello  "}` + "\n" +
		"tools=False name=calc id=True/False\n" +
		"date=26 Jul 2024, Friday 09:05 extra=False"
	if got != want {
		t.Errorf("feature template:\n got %q\nwant %q", got, want)
	}
}

func TestToolsVariable(t *testing.T) {
	tools := json.RawMessage(`[{"type": "function", "function": {"name": "get_weather", "parameters": {"b": 1, "a": 2.5}}}]`)
	got, err := readTemplate(t, "qwen2.5.jinja").Render(conv[1:2], RenderOptions{AddGenerationPrompt: true, Vars: map[string]any{"tools": tools}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n",
		"\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"b\": 1, \"a\": 2.5}}}\n</tools>",
		"<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Qwen2.5 with tools: missing %q in\n%s", want, got)
		}
	}
	// A Go map has no order: keys come out sorted.
	tm, err := Parse(`{{ t | tojson }}`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tm.Render(nil, RenderOptions{Vars: map[string]any{"t": map[string]any{"b": 1, "a": []any{true, nil}}}})
	if want := `{"a": [true, null], "b": 1}`; err != nil || out != want {
		t.Errorf("map variable renders %q, %v; want %q", out, err, want)
	}
	if _, err := tm.Render(nil, RenderOptions{Vars: map[string]any{"t": json.RawMessage(`{"a": `)}}); err == nil {
		t.Errorf("truncated JSON variable rendered without error")
	}
}

func TestRaiseException(t *testing.T) {
	twoUsers := []Message{{Role: "user", Content: "a"}, {Role: "user", Content: "b"}}
	tests := []struct {
		file string
		msgs []Message
		want string
	}{
		{"mistral-v0.3.jinja", twoUsers, "After the optional system message, conversation roles must alternate user/assistant/user/assistant/..."},
		{"llama2.jinja", twoUsers, "Conversation roles must alternate user/assistant/user/assistant/..."},
		{"gemma-7b-it.jinja", conv, "System role not supported"},
	}
	for _, tc := range tests {
		_, err := readTemplate(t, tc.file).Render(tc.msgs, RenderOptions{})
		var re *RaiseError
		if !errors.As(err, &re) {
			t.Errorf("%s: error %v, want a *RaiseError", tc.file, err)
			continue
		}
		if re.Message != tc.want {
			t.Errorf("%s: raised %q, want %q", tc.file, re.Message, tc.want)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error text %q does not carry the message", tc.file, err)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		src  string
		want string // a fragment naming the problem
	}{
		{"{% if messages %}unterminated", "if"},
		{"{% for m in messages %}{{ m.content }}", "for"},
		{"{{ messages[0]['role'] + }}", "unexpected"},
		{"{% bogus %}", "bogus"},
		{"{{ 'unclosed }}", "unclosed"},
	}
	for _, tc := range tests {
		_, err := Parse(tc.src)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want a syntax error", tc.src)
			continue
		}
		if !strings.Contains(strings.ToLower(err.Error()), tc.want) || !strings.HasPrefix(err.Error(), "chat: parse template: ") {
			t.Errorf("Parse(%q) = %q, want a chat: parse template error mentioning %q", tc.src, err, tc.want)
		}
	}
}

func TestStrftime(t *testing.T) {
	tm := time.Date(2025, 1, 3, 14, 7, 9, 0, time.UTC)
	tests := []struct{ format, want string }{
		{"%d %b %Y", "03 Jan 2025"},
		{"%Y-%m-%d %H:%M:%S", "2025-01-03 14:07:09"},
		{"%A %B %e, %I %p", "Friday January  3, 02 PM"},
		{"%y %j %a %% %Q", "25 003 Fri % %Q"},
	}
	for _, tc := range tests {
		if got := strftime(tm, tc.format); got != tc.want {
			t.Errorf("strftime(%q) = %q, want %q", tc.format, got, tc.want)
		}
	}
}

// TestConcurrentRender shares one template between goroutines, half of
// which make it raise: each call must see only its own outcome.
func TestConcurrentRender(t *testing.T) {
	tm := readTemplate(t, "mistral-v0.3.jinja")
	good := conv[1:]
	bad := []Message{{Role: "user", Content: "a"}, {Role: "user", Content: "b"}}
	want, err := tm.Render(good, RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 64)
	for i := range 64 {
		go func() {
			if i%2 == 0 {
				out, err := tm.Render(good, RenderOptions{})
				if err != nil || out != want {
					errs <- fmt.Errorf("good conversation: %q, %v", out, err)
					return
				}
			} else if _, err := tm.Render(bad, RenderOptions{}); !errors.As(err, new(*RaiseError)) {
				errs <- fmt.Errorf("bad conversation: %v, want a *RaiseError", err)
				return
			}
			errs <- nil
		}()
	}
	for range 64 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
