package chat

import "strings"

// Detect guesses which built-in format a Jinja chat template produces, from
// the marker strings in its text (as llama.cpp's llm_chat_detect_template
// does). It returns "" when nothing matches.
func Detect(src string) string {
	has := func(subs ...string) bool {
		for _, s := range subs {
			if !strings.Contains(src, s) {
				return false
			}
		}
		return true
	}
	switch {
	case src == "":
		return ""
	case has("<|im_start|>"):
		return "chatml"
	case has("<|start_header_id|>", "<|end_header_id|>"):
		return "llama3"
	case has("[INST]", "<<SYS>>"):
		return "llama2"
	case has("[INST]"):
		return "mistral"
	case has("<start_of_turn>"):
		return "gemma"
	// Phi-3 and Zephyr share <|user|> and <|assistant|>; only Phi-3 ends
	// turns with <|end|>.
	case has("<|assistant|>", "<|end|>"):
		return "phi3"
	case has("<|user|>", "<|assistant|>"):
		return "zephyr"
	case has("'User: '", "'Assistant: '"), has("'User: '", "'Assistant:'"):
		return "deepseek"
	}
	return ""
}

// archDefaults names the built-in format for GGUF architectures whose
// models share one chat format. Plain "llama" is absent: Llama 2, Llama 3,
// TinyLlama, SmolLM and Mistral all use it.
var archDefaults = map[string]string{
	"qwen":      "chatml",
	"qwen2":     "chatml",
	"qwen2moe":  "chatml",
	"qwen3":     "chatml",
	"qwen3moe":  "chatml",
	"phi3":      "phi3",
	"gemma":     "gemma",
	"gemma2":    "gemma",
	"gemma3":    "gemma",
	"deepseek":  "deepseek",
	"deepseek2": "deepseek",
}

// probe is the conversation ForModel renders to check that a template
// works: one user turn, which every chat template accepts.
var probe = []Message{{Role: "user", Content: "Hello"}}

// ForModel picks the template for a model from its GGUF metadata
// (tokenizer.chat_template and general.architecture): the model's own
// template if it parses and renders a one-turn conversation, otherwise the
// built-in format detected from the template text, otherwise the one
// usual for the architecture, otherwise ChatML. It never returns nil.
func ForModel(chatTemplate, archName string) *Template {
	if chatTemplate != "" {
		if t, err := Parse(chatTemplate); err == nil {
			if _, err := t.Render(probe, RenderOptions{AddGenerationPrompt: true}); err == nil {
				return t
			}
		}
	}
	name := Detect(chatTemplate)
	if name == "" {
		name = archDefaults[archName]
	}
	if name == "" {
		name = "chatml"
	}
	t, _ := Builtin(name) // every name above is a built-in
	return t
}
