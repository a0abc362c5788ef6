// Package chat turns a conversation into the prompt text a model was
// trained on, using the Jinja chat template stored in a GGUF file
// (tokenizer.chat_template) or, when there is none or it cannot be used,
// one of a few built-in formats written in Go.
//
// Templates are rendered the way Hugging Face transformers renders them
// (trim_blocks and lstrip_blocks on, raise_exception and strftime_now
// available), so the prompt matches what the model saw in training.
package chat

import (
	"errors"
	"fmt"
	"time"

	"github.com/ardanlabs/jinja"
)

// Message is one turn of a conversation.
type Message struct {
	// Role is "system", "user", "assistant" or "tool"; templates decide
	// what other roles mean, if anything.
	Role    string
	Content string
	// Name and ToolCallID are optional. They reach the template as
	// message.name and message.tool_call_id only when non-empty, so that
	// `is defined` tests in templates behave as with the OpenAI API.
	Name       string
	ToolCallID string
}

// RenderOptions are the variables a template sees besides the messages.
type RenderOptions struct {
	// AddGenerationPrompt appends the header of an assistant turn, so the
	// model continues with the reply.
	AddGenerationPrompt bool
	// BOSToken and EOSToken are the text of the model's special tokens
	// (bos_token and eos_token in the template).
	BOSToken, EOSToken string
	// Vars holds extra template variables such as "tools" or
	// "enable_thinking": Go values (nil, bool, int, float64, string,
	// slices, maps) or json.RawMessage, whose object keys keep their order
	// (Go maps render with sorted keys). They cannot replace messages,
	// add_generation_prompt, bos_token, eos_token or the functions.
	Vars map[string]any
	// Now is the clock behind strftime_now; the zero value means time.Now.
	Now time.Time
}

// Template renders conversations into prompts. It is safe for concurrent use.
type Template struct {
	name  string
	src   string
	jinja *jinja.Template                                       // set for parsed templates
	fn    func(msgs []Message, o RenderOptions) (string, error) // set for built-ins
}

// Parse compiles a Jinja chat template.
func Parse(src string) (*Template, error) {
	t, err := jinja.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("chat: parse template: %w", err)
	}
	return &Template{name: "jinja", src: src, jinja: t}, nil
}

// Name is the built-in format's name, or "jinja" for a parsed template.
func (t *Template) Name() string { return t.name }

// Source is the Jinja source of a parsed template, "" for a built-in.
func (t *Template) Source() string { return t.src }

// RaiseError is the error a template reports through raise_exception,
// for instance when roles do not alternate.
type RaiseError struct{ Message string }

func (e *RaiseError) Error() string { return "template raised: " + e.Message }

// Render formats msgs. Errors name the problem: a *RaiseError (reachable
// with errors.As) when the template itself rejects the conversation.
func (t *Template) Render(msgs []Message, o RenderOptions) (string, error) {
	if t.fn != nil {
		out, err := t.fn(msgs, o)
		if err != nil {
			return "", fmt.Errorf("chat: render %s: %w", t.name, err)
		}
		return out, nil
	}
	data := make(map[string]jinja.Value, len(o.Vars)+6)
	for k, v := range o.Vars {
		val, err := toValue(v)
		if err != nil {
			return "", fmt.Errorf("chat: render: variable %q: %w", k, err)
		}
		data[k] = val
	}
	data["messages"] = messageValues(msgs)
	data["add_generation_prompt"] = jinja.NewBool(o.AddGenerationPrompt)
	data["bos_token"] = jinja.NewString(o.BOSToken)
	data["eos_token"] = jinja.NewString(o.EOSToken)
	var raised *RaiseError
	data["raise_exception"] = raiseException(&raised)
	data["strftime_now"] = strftimeNow(o.Now)

	out, err := t.jinja.RenderValues(data)
	if raised != nil {
		// The library may flatten the callable's error into text; the
		// captured value keeps the type for errors.As.
		return "", fmt.Errorf("chat: render: %w", raised)
	}
	if err != nil {
		return "", fmt.Errorf("chat: render: %w", err)
	}
	return out, nil
}

// messageValues converts messages to the dicts templates index, keys in
// OpenAI order (role, content, name, tool_call_id) for `tojson`.
func messageValues(msgs []Message) jinja.Value {
	out := make([]jinja.Value, len(msgs))
	for i, m := range msgs {
		v := jinja.NewDict()
		d := v.AsDict()
		d.Set("role", jinja.NewString(m.Role))
		d.Set("content", jinja.NewString(m.Content))
		if m.Name != "" {
			d.Set("name", jinja.NewString(m.Name))
		}
		if m.ToolCallID != "" {
			d.Set("tool_call_id", jinja.NewString(m.ToolCallID))
		}
		out[i] = v
	}
	return jinja.NewList(out)
}

// errNoMessages is reported by built-ins, which, like most real
// templates, have nothing sensible to render for an empty conversation.
var errNoMessages = errors.New("no messages")
