// Package engine loads a GGUF model with its tokenizer and chat template and
// generates text from it: the part of Hearth that turns a prompt into
// tokens.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/parallel"
	"github.com/hearth-ai/hearth/engine/tokenizer"
)

// Options configures Load. The zero value means: one thread per core, the
// model's trained context length (capped at DefaultMaxContext) and no logs.
type Options struct {
	Threads int          // worker threads; 0 means runtime.NumCPU()
	Context int          // KV cache size in tokens; 0 means the trained context, capped
	KVType  string       // KV cache precision: "f32" (default) or "f16" (half the memory)
	Logger  *slog.Logger // nil means discard
	// LoRA lists adapters to attach at load; Net is then the base with
	// their updates (added up where several adapt one projection).
	LoRA []LoRA
	// Resolver finds LoRA adapters by name; nil reads names as file paths.
	Resolver adapter.Resolver
}

// LoRA names an adapter to attach and the user's scale for it: 1 is
// llama.cpp's --lora, another value its --lora-scaled, 0 turns it off.
type LoRA struct {
	Name  string // a file path, or what Options.Resolver knows
	Scale float32
}

// ParseKVType checks a KV cache type name; "" means f32.
func ParseKVType(s string) (f16 bool, err error) {
	switch s {
	case "", "f32":
		return false, nil
	case "f16":
		return true, nil
	}
	return false, fmt.Errorf("KV cache type %q: want f32 or f16", s)
}

// DefaultMaxContext caps the default context so that a model trained on
// 128K tokens does not reserve a cache of that size on a small machine.
const DefaultMaxContext = 4096

// Model is a loaded model, ready to generate. Its methods are safe for
// concurrent use; each Generate call runs its own sequence.
type Model struct {
	Path string
	File *gguf.File
	Net  *model.Transformer
	Tok  *tokenizer.Tokenizer
	// Template formats chat messages into a prompt: the file's
	// tokenizer.chat_template, or a built-in one when it has none.
	Template *chat.Template

	ctx  int
	pool *parallel.Pool
	log  *slog.Logger
}

// Load opens a GGUF file and prepares its model and tokenizer.
func Load(path string, opts Options) (*Model, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kvF16, err := ParseKVType(opts.KVType)
	if err != nil {
		return nil, fmt.Errorf("engine: load %s: %w", path, err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("engine: load %s: %w", path, err)
	}
	net, err := model.Load(f)
	if err == nil {
		// The adapted model shares the base's weights, which stay mapped
		// as long as the Model holds f.
		net, err = attach(net, opts)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("engine: load %s: %w", path, err)
	}
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("engine: load %s: %w", path, err)
	}
	for _, w := range tok.Warnings() {
		log.Warn("tokenizer", "model", path, "warning", w)
	}
	if tok.VocabSize() != net.Vocab {
		log.Warn("vocabulary and embedding sizes differ", "tokens", tok.VocabSize(), "embeddings", net.Vocab)
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	ctx := opts.Context
	if ctx <= 0 {
		ctx = min(net.Context, DefaultMaxContext)
	}
	src, _ := f.String("tokenizer.chat_template")
	tmpl := chat.ForModel(src, net.Arch)
	net.KVF16 = kvF16
	m := &Model{Path: path, File: f, Net: net, Tok: tok, Template: tmpl, ctx: ctx, pool: parallel.New(threads), log: log}
	net.SetPool(m.pool)
	log.Info("model loaded", "path", path, "arch", net.Arch, "template", tmpl.Name(), "blocks", net.Blocks, "dim", net.Dim, "vocab", net.Vocab, "context", ctx, "kv_f16", kvF16, "threads", threads)
	for _, l := range opts.LoRA {
		log.Info("LoRA adapter attached", "model", path, "adapter", l.Name, "scale", l.Scale)
	}
	return m, nil
}

// attach resolves opts.LoRA and attaches the adapters to net.
func attach(net *model.Transformer, opts Options) (*model.Transformer, error) {
	if len(opts.LoRA) == 0 {
		return net, nil
	}
	r := opts.Resolver
	if r == nil {
		r = adapter.Files{}
	}
	uses := make([]adapter.Use, len(opts.LoRA))
	for i, l := range opts.LoRA {
		a, err := r.Resolve(l.Name)
		if err != nil {
			return nil, err
		}
		uses[i] = adapter.Use{Adapter: a, Scale: l.Scale}
	}
	return adapter.Attach(net, uses...)
}

// Context returns the number of tokens one sequence can hold.
func (m *Model) Context() int { return m.ctx }

// Threads returns the number of worker threads.
func (m *Model) Threads() int { return m.pool.Threads() }

// Close releases the model's threads and file mapping. The model must not be
// used afterwards.
func (m *Model) Close() error {
	m.pool.Close()
	return m.File.Close()
}

// ChatPrompt renders messages with the model's chat template, ready for a
// reply from the assistant, and tokenizes the result with special tokens
// parsed. BOS is added when the model wants one and the template did not
// already write it. Tokenizing stops once the prompt is longer than the
// context (it could never run): the ids then hold more than Context()
// tokens, but not all of them.
func (m *Model) ChatPrompt(msgs []chat.Message) ([]int32, error) {
	bos, eos := m.Tok.Piece(m.Tok.BOS()), m.Tok.Piece(m.Tok.EOS())
	text, err := m.Template.Render(msgs, chat.RenderOptions{AddGenerationPrompt: true, BOSToken: bos, EOSToken: eos})
	if err != nil {
		return nil, fmt.Errorf("engine: chat template: %w", err)
	}
	ids, _ := m.Tok.EncodeAtMost(text, false, true, m.ctx)
	if m.Tok.AddBOS() && (len(ids) == 0 || ids[0] != m.Tok.BOS()) {
		ids = append([]int32{m.Tok.BOS()}, ids...)
	}
	return ids, nil
}

// Embed returns a unit-length sentence embedding of text: the mean of the
// model's final hidden states over its tokens.
func (m *Model) Embed(ctx context.Context, tokens []int32) ([]float32, error) {
	if len(tokens) >= m.ctx {
		return nil, fmt.Errorf("%w: %d tokens, context holds %d", ErrPromptTooLong, len(tokens), m.ctx)
	}
	return m.Net.Pool(ctx, m.Net.NewState(len(tokens)), tokens)
}
