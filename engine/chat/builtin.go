package chat

import (
	"fmt"
	"slices"
	"strings"
)

// builtins maps a format name to its formatter. Each formatter mirrors one
// published template (named in its comment) so that, for the conversations
// that template accepts, the output is byte-identical; the tests check this.
var builtins = map[string]func([]Message, RenderOptions) (string, error){
	"chatml":   renderChatML,
	"llama2":   renderLlama2,
	"llama3":   renderLlama3,
	"mistral":  renderMistral,
	"phi3":     renderPhi3,
	"zephyr":   renderZephyr,
	"gemma":    renderGemma,
	"deepseek": renderDeepSeek,
}

// BuiltinNames lists the built-in formats, sorted.
func BuiltinNames() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Builtin returns the built-in format called name (see BuiltinNames).
func Builtin(name string) (*Template, error) {
	fn, ok := builtins[name]
	if !ok {
		return nil, fmt.Errorf("chat: no built-in template %q (have %s)", name, strings.Join(BuiltinNames(), ", "))
	}
	return &Template{name: name, fn: fn}, nil
}

// renderChatML is plain ChatML (teknium/OpenHermes-2.5; also what Qwen2.5
// and SmolLM2 print when the conversation has a system message).
func renderChatML(msgs []Message, o RenderOptions) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
	}
	if o.AddGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String(), nil
}

// splitSystem separates a leading system message from the rest.
func splitSystem(msgs []Message) (system string, hasSystem bool, rest []Message) {
	if len(msgs) > 0 && msgs[0].Role == "system" {
		return msgs[0].Content, true, msgs[1:]
	}
	return "", false, msgs
}

// checkAlternation reports the error Mistral's template raises when, after
// the system message, turns are not user, assistant, user, ... (tool
// results aside).
func checkAlternation(msgs []Message) error {
	i := 0
	for _, m := range msgs {
		if m.Role == "tool" {
			continue
		}
		if (m.Role == "user") != (i%2 == 0) {
			return &RaiseError{Message: "After the optional system message, conversation roles must alternate user/assistant/user/assistant/..."}
		}
		i++
	}
	return nil
}

// renderLlama2 mirrors meta-llama/Llama-2-7b-chat-hf: the system prompt
// goes inside the first [INST] between <<SYS>> markers, every user turn
// starts with BOS, contents are trimmed, and there is no generation prompt
// (the prompt already ends with [/INST]).
func renderLlama2(msgs []Message, o RenderOptions) (string, error) {
	if len(msgs) == 0 {
		return "", errNoMessages
	}
	system, hasSystem, rest := splitSystem(msgs)
	for i, m := range rest {
		if (m.Role == "user") != (i%2 == 0) {
			return "", &RaiseError{Message: "Conversation roles must alternate user/assistant/user/assistant/..."}
		}
	}
	var b strings.Builder
	for i, m := range rest {
		content := m.Content
		if i == 0 && hasSystem {
			content = "<<SYS>>\n" + system + "\n<</SYS>>\n\n" + content
		}
		switch m.Role {
		case "user":
			b.WriteString(o.BOSToken + "[INST] " + strings.TrimSpace(content) + " [/INST]")
		case "assistant":
			b.WriteString(" " + strings.TrimSpace(content) + " " + o.EOSToken)
		}
	}
	return b.String(), nil
}

// renderLlama3 mirrors meta-llama/Meta-Llama-3-8B-Instruct.
func renderLlama3(msgs []Message, o RenderOptions) (string, error) {
	var b strings.Builder
	for i, m := range msgs {
		if i == 0 {
			b.WriteString(o.BOSToken)
		}
		b.WriteString("<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n" + strings.TrimSpace(m.Content) + "<|eot_id|>")
	}
	if o.AddGenerationPrompt {
		b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
	}
	return b.String(), nil
}

// renderMistral mirrors mistralai/Mistral-7B-Instruct-v0.3 without tools:
// the system message is prepended to the last user turn, assistant turns
// are trimmed and end with EOS, tool results carry their 9-character call id.
func renderMistral(msgs []Message, o RenderOptions) (string, error) {
	system, hasSystem, rest := splitSystem(msgs)
	if err := checkAlternation(rest); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(o.BOSToken)
	for i, m := range rest {
		switch m.Role {
		case "user":
			if i == len(rest)-1 && hasSystem {
				b.WriteString("[INST] " + system + "\n\n" + m.Content + "[/INST]")
			} else {
				b.WriteString("[INST] " + m.Content + "[/INST]")
			}
		case "assistant":
			b.WriteString(" " + strings.TrimSpace(m.Content) + o.EOSToken)
		case "tool":
			if len(m.ToolCallID) != 9 {
				return "", &RaiseError{Message: "Tool call IDs should be alphanumeric strings with length 9!"}
			}
			b.WriteString(`[TOOL_RESULTS] {"content": ` + m.Content + `, "call_id": "` + m.ToolCallID + `"}[/TOOL_RESULTS]`)
		default:
			return "", &RaiseError{Message: "Only user and assistant roles are supported, with the exception of an initial optional system message!"}
		}
	}
	return b.String(), nil
}

// renderPhi3 mirrors microsoft/Phi-3.5-mini-instruct (Phi-3-mini's own
// template is the same for conversations without a system message, apart
// from printing bos_token; it drops system messages, this keeps them).
func renderPhi3(msgs []Message, o RenderOptions) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		switch {
		case m.Role == "system" && m.Content != "", m.Role == "user", m.Role == "assistant":
			b.WriteString("<|" + m.Role + "|>\n" + m.Content + "<|end|>\n")
		}
	}
	if o.AddGenerationPrompt {
		b.WriteString("<|assistant|>\n")
	} else {
		b.WriteString(o.EOSToken)
	}
	return b.String(), nil
}

// renderZephyr mirrors HuggingFaceH4/zephyr-7b-beta, which
// TinyLlama-1.1B-Chat-v1.0 also uses. Other roles print nothing.
func renderZephyr(msgs []Message, o RenderOptions) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		switch m.Role {
		case "user", "system", "assistant":
			b.WriteString("<|" + m.Role + "|>\n" + m.Content + o.EOSToken + "\n")
		}
	}
	if o.AddGenerationPrompt && len(msgs) > 0 {
		b.WriteString("<|assistant|>\n")
	}
	return b.String(), nil
}

// renderGemma mirrors google/gemma-7b-it. Gemma has no system role and its
// template refuses one; like llama.cpp, this folds a system message into
// the first user turn instead, separated by a blank line.
func renderGemma(msgs []Message, o RenderOptions) (string, error) {
	system, hasSystem, rest := splitSystem(msgs)
	for i, m := range rest {
		if (m.Role == "user") != (i%2 == 0) {
			return "", &RaiseError{Message: "Conversation roles must alternate user/assistant/user/assistant/..."}
		}
	}
	var b strings.Builder
	for i, m := range rest {
		role, content := m.Role, m.Content
		if role == "assistant" {
			role = "model"
		}
		if i == 0 && hasSystem {
			content = system + "\n\n" + content
		}
		b.WriteString("<start_of_turn>" + role + "\n" + strings.TrimSpace(content) + "<end_of_turn>\n")
	}
	if o.AddGenerationPrompt {
		b.WriteString("<start_of_turn>model\n")
	}
	return b.String(), nil
}

// renderDeepSeek mirrors deepseek-ai/deepseek-llm-7b-chat (also used by
// DeepSeek-V2): "User: ...\n\n", "Assistant: ...<eos>".
func renderDeepSeek(msgs []Message, o RenderOptions) (string, error) {
	var b strings.Builder
	b.WriteString(o.BOSToken)
	for _, m := range msgs {
		switch m.Role {
		case "user":
			b.WriteString("User: " + m.Content + "\n\n")
		case "assistant":
			b.WriteString("Assistant: " + m.Content + o.EOSToken)
		case "system":
			b.WriteString(m.Content + "\n\n")
		}
	}
	if o.AddGenerationPrompt {
		b.WriteString("Assistant:")
	}
	return b.String(), nil
}
