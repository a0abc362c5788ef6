package chat

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDetect(t *testing.T) {
	tests := []struct{ file, want string }{
		{"llama3.jinja", "llama3"},
		{"qwen2.5.jinja", "chatml"},
		{"smollm2.jinja", "chatml"},
		{"openhermes-chatml.jinja", "chatml"},
		{"mistral-v0.3.jinja", "mistral"},
		{"llama2.jinja", "llama2"},
		{"deepseek-llm.jinja", "deepseek"},
		{"tinyllama.jinja", "zephyr"},
		{"phi-3.5-mini.jinja", "phi3"},
		{"gemma-7b-it.jinja", "gemma"},
	}
	for _, tc := range tests {
		src, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := Detect(string(src)); got != tc.want {
			t.Errorf("Detect(%s) = %q, want %q", tc.file, got, tc.want)
		}
	}
	if got := Detect(phi3Template(t)); got != "phi3" {
		t.Errorf("Detect(phi-3 GGUF template) = %q, want phi3", got)
	}
	for _, src := range []string{"", "{{ messages }}", "### Instruction:"} {
		if got := Detect(src); got != "" {
			t.Errorf("Detect(%q) = %q, want \"\"", src, got)
		}
	}
}

func TestForModel(t *testing.T) {
	llama3, err := os.ReadFile("testdata/llama3.jinja")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, tmpl, arch string
		want             string // Template.Name()
	}{
		{"valid template is used as is", string(llama3), "llama", "jinja"},
		{"syntax error, chatml markers", "{% for m in messages %}<|im_start|>{{ m.content }}", "llama", "chatml"},
		{"syntax error, llama3 markers", "{% if %}<|start_header_id|>x<|end_header_id|>", "qwen2", "llama3"},
		{"raises on every conversation", "{{ raise_exception('no') }}[INST]", "llama", "mistral"},
		{"no template, qwen2", "", "qwen2", "chatml"},
		{"no template, gemma2", "", "gemma2", "gemma"},
		{"no template, phi3", "", "phi3", "phi3"},
		{"no template, deepseek2", "", "deepseek2", "deepseek"},
		{"no template, llama", "", "llama", "chatml"},
		{"broken and unrecognised", "{% if %}", "", "chatml"},
	}
	for _, tc := range tests {
		tm := ForModel(tc.tmpl, tc.arch)
		if tm == nil {
			t.Fatalf("%s: ForModel returned nil", tc.name)
		}
		if tm.Name() != tc.want {
			t.Errorf("%s: ForModel picked %q, want %q", tc.name, tm.Name(), tc.want)
		}
	}
	// The chosen template renders.
	out, err := ForModel(string(llama3), "llama").Render(conv[1:2], RenderOptions{AddGenerationPrompt: true})
	if want := "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"; err != nil || out != want {
		t.Errorf("ForModel(llama3) renders %q, %v; want %q", out, err, want)
	}
}
