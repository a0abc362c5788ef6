package finetune

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/tokenizer"
	"github.com/hearth-ai/hearth/flywheel/dataset"
)

var storiesPath = filepath.Join("..", "..", "..", "shared", "testdata", "models", "stories260K.gguf")

func storiesTokenizer(t *testing.T) *tokenizer.Tokenizer {
	t.Helper()
	f, err := gguf.Open(storiesPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func msgs(pairs ...string) []dataset.Message {
	var out []dataset.Message
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, dataset.Message{Role: pairs[i], Content: pairs[i+1]})
	}
	return out
}

// runs splits the target tokens into their contiguous runs.
func runs(e encoded) [][]int32 {
	var out [][]int32
	for i := 0; i < len(e.tokens); i++ {
		if !e.loss[i] {
			continue
		}
		j := i
		for j < len(e.tokens) && e.loss[j] {
			j++
		}
		out = append(out, e.tokens[i:j])
		i = j
	}
	return out
}

// A Jinja template of the Zephyr kind, to check that spans are found by
// rendering, whatever the format.
const jinjaTemplate = `{% for m in messages %}<|{{ m.role }}|>
{{ m.content }}{{ eos_token }}
{% endfor %}{% if add_generation_prompt %}<|assistant|>
{% endif %}`

func TestEncodeLearnsEveryAssistantTurn(t *testing.T) {
	tok := storiesTokenizer(t)
	jt, err := chat.Parse(jinjaTemplate)
	if err != nil {
		t.Fatal(err)
	}
	conv := msgs("system", "Be brief.", "user", "Who is Lily?", "assistant", "A little girl.",
		"user", "And Tom?", "assistant", "Her friend, a boy.")
	for _, name := range []string{"chatml", "llama2", "llama3", "zephyr", "gemma", "phi3", "jinja"} {
		t.Run(name, func(t *testing.T) {
			tmpl := jt
			if name != "jinja" {
				var err error
				if tmpl, err = chat.Builtin(name); err != nil {
					t.Fatal(err)
				}
			}
			e := &encoder{tmpl: tmpl, tok: tok}
			got, err := e.encode(dataset.Example{Messages: conv})
			if err != nil {
				t.Fatal(err)
			}
			if len(got.tokens) != len(got.loss) || got.loss[0] {
				t.Fatalf("%d tokens, %d loss flags, first a target: %v", len(got.tokens), len(got.loss), got.loss[0])
			}
			rs := runs(got)
			if len(rs) != 2 {
				t.Fatalf("%d target runs, want one per assistant turn: %q", len(rs), decodeRuns(tok, rs))
			}
			for i, want := range []string{"A little girl.", "Her friend, a boy."} {
				r := rs[i]
				if last := r[len(r)-1]; !tok.IsEOG(last) {
					t.Errorf("turn %d ends with %q, not an end-of-generation token", i+1, tok.Piece(last))
				}
				// phi-3's <|end|> is text in this vocabulary, read before
				// the EOS its template closes a conversation with.
				if text := strings.TrimSpace(tok.Decode(r[:len(r)-1])); text != want && (name != "phi3" || !strings.HasPrefix(text, want)) {
					t.Errorf("turn %d learns %q, want %q", i+1, text, want)
				}
			}
			// What comes before the first answer is the prompt the model
			// gets when it serves, token for token (engine.ChatPrompt).
			prompt := chatPrompt(t, tmpl, tok, conv[:2])
			first := slices.Index(got.loss, true)
			if !slices.Equal(got.tokens[:first], prompt) {
				t.Errorf("tokens before the first answer\n%v\nwant the served prompt\n%v", got.tokens[:first], prompt)
			}
		})
	}
}

// chatPrompt is engine.ChatPrompt over a template and tokenizer.
func chatPrompt(t *testing.T, tmpl *chat.Template, tok *tokenizer.Tokenizer, conv []dataset.Message) []int32 {
	t.Helper()
	cm := make([]chat.Message, len(conv))
	for i, m := range conv {
		cm[i] = chat.Message{Role: m.Role, Content: m.Content}
	}
	text, err := tmpl.Render(cm, chat.RenderOptions{AddGenerationPrompt: true, BOSToken: tok.Piece(tok.BOS()), EOSToken: tok.Piece(tok.EOS())})
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode(text, false, true)
	if tok.AddBOS() && (len(ids) == 0 || ids[0] != tok.BOS()) {
		ids = append([]int32{tok.BOS()}, ids...)
	}
	return ids
}

func decodeRuns(tok *tokenizer.Tokenizer, rs [][]int32) []string {
	var out []string
	for _, r := range rs {
		out = append(out, tok.DecodeWith(r, tokenizer.DecodeOptions{Special: true}))
	}
	return out
}

// ChatML in a vocabulary without <|im_end|> as a token: EOS is put right
// after the answer, where the model must learn to stop, and the rest of
// the turn's markup is read, not learnt.
func TestEncodeInsertsEOS(t *testing.T) {
	tok := storiesTokenizer(t)
	tmpl, _ := chat.Builtin("chatml")
	got, err := (&encoder{tmpl: tmpl, tok: tok}).encode(dataset.Example{Messages: msgs("user", "Hi", "assistant", "Hello there.")})
	if err != nil {
		t.Fatal(err)
	}
	rs := runs(got)
	if len(rs) != 1 {
		t.Fatalf("%d runs", len(rs))
	}
	r := rs[0]
	if r[len(r)-1] != tok.EOS() || tok.Decode(r[:len(r)-1]) != "Hello there." {
		t.Errorf("learns %q", tok.DecodeWith(r, tokenizer.DecodeOptions{Special: true}))
	}
	end := slices.Index(got.tokens, tok.EOS())
	if rest := tok.Decode(got.tokens[end+1:]); !strings.Contains(rest, "<|im_end|>") || slices.Contains(got.loss[end+1:], true) {
		t.Errorf("after EOS: %q, targets %v", rest, got.loss[end+1:])
	}
}

func TestEncodeRefuses(t *testing.T) {
	tok := storiesTokenizer(t)
	chatml, _ := chat.Builtin("chatml")
	mistral, _ := chat.Builtin("mistral")
	for _, tc := range []struct {
		name string
		tmpl *chat.Template
		conv []dataset.Message
		want error
	}{
		{"no assistant", chatml, msgs("user", "Hi"), errNoAssistant},
		{"only an assistant", chatml, msgs("assistant", "Hi"), errNoAssistant},
		{"template raises", mistral, msgs("user", "a", "user", "b", "assistant", "c"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&encoder{tmpl: tc.tmpl, tok: tok}).encode(dataset.Example{Messages: tc.conv})
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPack(t *testing.T) {
	tok := storiesTokenizer(t)
	tmpl, _ := chat.Builtin("chatml")
	e := &encoder{tmpl: tmpl, tok: tok}
	short := dataset.Example{Messages: msgs("user", "Hi", "assistant", "Yes.")}
	one, err := e.encode(short)
	if err != nil {
		t.Fatal(err)
	}
	n := len(one.tokens)
	long := dataset.Example{Messages: msgs("user", "Hi", "assistant", strings.Repeat("Once upon a time. ", 40))}
	promptOnly := dataset.Example{Messages: msgs("user", strings.Repeat("Tell me a story. ", 40), "assistant", "No.")}
	none := dataset.Example{Messages: msgs("user", "Hi")}
	bad := dataset.Example{Messages: msgs("user", "a", "user", "b", "assistant", "c")}

	seq := 2*n + 1 // two short examples fit, a third does not
	seqs, r, _ := e.pack([]dataset.Example{short, short, short, long, promptOnly, none}, seq)
	want := Report{Examples: 6, Used: 4, Truncated: 1, NoTargets: 2, Sequences: 3}
	r.Tokens, r.Targets = 0, 0
	if r != want {
		t.Errorf("report %+v, want %+v", r, want)
	}
	if len(seqs) != 3 {
		t.Fatalf("%d sequences", len(seqs))
	}
	if !slices.Equal(seqs[0].Tokens, append(slices.Clone(one.tokens), one.tokens...)) {
		t.Errorf("first sequence is not two short examples")
	}
	for i, s := range seqs {
		if len(s.Tokens) > seq || len(s.Loss) != len(s.Tokens) || len(s.Seg) != len(s.Tokens) {
			t.Errorf("sequence %d: %d tokens (at most %d), %d loss flags, %d segments", i, len(s.Tokens), seq, len(s.Loss), len(s.Seg))
		}
		for j := range s.Tokens {
			if j == 0 || s.Seg[j] != s.Seg[j-1] {
				if s.Loss[j] {
					t.Errorf("sequence %d: token %d opens a segment and is a target", i, j)
				}
				if j > 0 && s.Seg[j] != s.Seg[j-1]+1 {
					t.Errorf("sequence %d: segment %d after %d", i, s.Seg[j], s.Seg[j-1])
				}
			}
		}
	}
	if got := seqs[0].Seg; got[n-1] != 0 || got[n] != 1 {
		t.Errorf("segments at the seam: %v", got[n-1:n+1])
	}

	// Nothing usable: the error says why.
	mistral, _ := chat.Builtin("mistral")
	_, r, first := (&encoder{tmpl: mistral, tok: tok}).pack([]dataset.Example{bad, none}, seq)
	err = whyEmpty(r, seq, first)
	if !errors.Is(err, ErrNoExamples) || !strings.Contains(err.Error(), "1 with no assistant token") || !strings.Contains(err.Error(), "1 the chat template refused") {
		t.Errorf("err = %v", err)
	}
	if err := whyEmpty(Report{}, seq, nil); !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty split: %v", err)
	}
}
