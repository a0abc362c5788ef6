package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/sample"
	"github.com/hearth-ai/hearth/engine/synth"
)

const stories = "../../shared/testdata/models/stories260K.gguf"

func load(t *testing.T, path string, opts engine.Options) *engine.Model {
	t.Helper()
	m, err := engine.Load(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func TestGenerateStreamsWhatItReturns(t *testing.T) {
	m := load(t, stories, engine.Options{Threads: 2})
	var streamed strings.Builder
	var ids []int32
	res, err := m.Generate(context.Background(), engine.Request{
		Prompt:    m.Tok.Encode("Lily", true, false),
		MaxTokens: 50,
		Sampling:  sample.Params{Temperature: 0.9, TopK: 40, Seed: 3},
	}, func(tok engine.Token) error {
		if !utf8.ValidString(tok.Text) {
			t.Errorf("chunk %q is not valid UTF-8", tok.Text)
		}
		streamed.WriteString(tok.Text)
		if tok.ID >= 0 {
			ids = append(ids, tok.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if streamed.String() != res.Text {
		t.Errorf("streamed %q; result text %q", streamed.String(), res.Text)
	}
	if len(ids) != len(res.Tokens) || res.FinishReason != engine.FinishLength || len(res.Tokens) != 50 {
		t.Errorf("%d streamed ids, %d result tokens, finish %q; want 50, 50, length", len(ids), len(res.Tokens), res.FinishReason)
	}
	if got := m.Tok.DecodeWith(res.Tokens, decodeCont()); got != res.Text {
		t.Errorf("decoding the tokens gives %q; text is %q", got, res.Text)
	}
}

// TestStopsAtEOS rewrites the stories model with a token of its greedy
// continuation declared as EOS (the real model ends stories with BOS, as
// llama2.c trained it, so it never emits its EOS), and checks that
// generation stops right before that token and leaves it out.
func TestStopsAtEOS(t *testing.T) {
	const eos = 432 // the 5th token of the greedy continuation
	f, err := gguf.Open(stories)
	if err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter()
	for _, kv := range f.KV {
		w.SetKV(kv.Key, kv.Value)
	}
	w.SetKV("tokenizer.ggml.eos_token_id", uint32(eos))
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if err := w.AddTensor(ti.Name, ti.Type, ti.Shape, f.TensorData(ti)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "eos.gguf")
	err = w.WriteFile(path)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	m := load(t, path, engine.Options{})
	res, err := m.Generate(context.Background(), engine.Request{Prompt: []int32{m.Tok.BOS()}, MaxTokens: 40}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []int32{403, 407, 261, 378}
	if res.FinishReason != engine.FinishStop || !slices.Equal(res.Tokens, want) {
		t.Fatalf("finish %q with tokens %v; want stop after %v", res.FinishReason, res.Tokens, want)
	}
	// IgnoreEOS runs on to the limit, through the EOS token.
	res, err = m.Generate(context.Background(), engine.Request{Prompt: []int32{m.Tok.BOS()}, MaxTokens: 10, IgnoreEOS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tokens) != 10 || res.Tokens[4] != eos {
		t.Errorf("with IgnoreEOS: tokens %v; want 10 with %d fifth", res.Tokens, eos)
	}
}

func TestContextFull(t *testing.T) {
	m := load(t, stories, engine.Options{Context: 16})
	res, err := m.Generate(context.Background(), engine.Request{Prompt: []int32{1}, MaxTokens: 100, IgnoreEOS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason != engine.FinishLength || len(res.Tokens) != 16 {
		t.Errorf("finish %q after %d tokens; want length after 16", res.FinishReason, len(res.Tokens))
	}
	long := make([]int32, 16)
	if _, err := m.Generate(context.Background(), engine.Request{Prompt: long}, nil); !errors.Is(err, engine.ErrPromptTooLong) {
		t.Errorf("16-token prompt in a 16-token context: %v; want ErrPromptTooLong", err)
	}
}

func TestCancel(t *testing.T) {
	m := load(t, stories, engine.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := m.Generate(ctx, engine.Request{Prompt: []int32{1}, MaxTokens: 500, IgnoreEOS: true}, func(engine.Token) error {
		n++
		if n == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 5 {
		t.Errorf("after cancel: %v with %d tokens; want context.Canceled after 5", err, n)
	}
	stop := errors.New("client gone")
	_, err = m.Generate(context.Background(), engine.Request{Prompt: []int32{1}, MaxTokens: 50}, func(engine.Token) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("emit error not returned: %v", err)
	}
}

func TestStopStrings(t *testing.T) {
	m := load(t, stories, engine.Options{})
	full, err := m.Generate(context.Background(), engine.Request{Prompt: []int32{1}, MaxTokens: 40}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, stop := range []string{"Lily", "e", ", there", "park. One", "no such text"} {
		var streamed strings.Builder
		res, err := m.Generate(context.Background(), engine.Request{Prompt: []int32{1}, MaxTokens: 40, Stop: []string{"zzz", stop}},
			func(tok engine.Token) error { streamed.WriteString(tok.Text); return nil })
		if err != nil {
			t.Fatal(err)
		}
		want, finish := full.Text, engine.FinishLength
		if i := strings.Index(full.Text, stop); i >= 0 {
			want, finish = full.Text[:i], engine.FinishStop
		}
		if res.Text != want || streamed.String() != want || res.FinishReason != finish {
			t.Errorf("stop %q: text %q, streamed %q, finish %q; want %q, %q", stop, res.Text, streamed.String(), res.FinishReason, want, finish)
		}
	}
}

func TestChatPrompt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chatml.gguf")
	if err := synth.Write(path, synth.Spec{}); err != nil {
		t.Fatal(err)
	}
	m := load(t, path, engine.Options{})
	ids, err := m.ChatPrompt([]chat.Message{{Role: "user", Content: "hello"}})
	if err != nil {
		t.Fatal(err)
	}
	if ids[0] != m.Tok.BOS() {
		t.Errorf("chat prompt starts with %d; want BOS", ids[0])
	}
	if got := m.Tok.Decode(ids); !strings.Contains(got, "user\nhello") || !strings.HasSuffix(got, "assistant\n") {
		t.Errorf("chat prompt decodes to %q; want a chatml conversation", got)
	}
}
