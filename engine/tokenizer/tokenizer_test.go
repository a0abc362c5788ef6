package tokenizer

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// allVocabs are the tokenizers the vector files exist for.
var allVocabs = []struct {
	name string
	load func(testing.TB) *Tokenizer
}{
	{"ggml-vocab-llama-spm.gguf", func(tb testing.TB) *Tokenizer { return loadGGUF(tb, "ggml-vocab-llama-spm.gguf") }},
	{"ggml-vocab-phi-3.gguf", func(tb testing.TB) *Tokenizer { return loadGGUF(tb, "ggml-vocab-phi-3.gguf") }},
	{"ggml-vocab-gpt-2.gguf", func(tb testing.TB) *Tokenizer { return loadGGUF(tb, "ggml-vocab-gpt-2.gguf") }},
	{"ggml-vocab-qwen2.gguf", loadQwen2},
}

func TestRoundTrip(t *testing.T) {
	for _, vc := range allVocabs {
		t.Run(vc.name, func(t *testing.T) {
			tk := vc.load(t)
			for i, v := range loadVectors(t, vc.name) {
				if got := tk.Decode(tk.Encode(v.text, false, false)); got != v.text {
					t.Errorf("test %d: Decode(Encode(%q)) = %q", i, v.text, got)
				}
				// With BOS added the text must come back the same too.
				if got := tk.Decode(tk.Encode(v.text, true, false)); got != v.text {
					t.Errorf("test %d: with BOS: Decode(Encode(%q)) = %q", i, v.text, got)
				}
			}
		})
	}
}

func TestStreamDecodeVectors(t *testing.T) {
	for _, vc := range allVocabs {
		t.Run(vc.name, func(t *testing.T) {
			tk := vc.load(t)
			d := tk.NewStreamDecoder(DecodeOptions{})
			for i, v := range loadVectors(t, vc.name) {
				var b strings.Builder
				for _, id := range v.ids {
					chunk := d.Next(id)
					if !utf8.ValidString(chunk) {
						t.Errorf("test %d: token %d gave invalid UTF-8 chunk %q", i, id, chunk)
					}
					b.WriteString(chunk)
				}
				b.WriteString(d.Flush())
				if b.String() != v.text {
					t.Errorf("test %d: streamed %q, want %q", i, b.String(), v.text)
				}
			}
		})
	}
}

func TestStreamDecodeSplitCharacter(t *testing.T) {
	spm := loadGGUF(t, "ggml-vocab-llama-spm.gguf")
	// U+1D11E has no piece in the Llama 2 vocabulary, so it is written as
	// four <0xXX> byte tokens.
	ids := spm.Encode("a𝄞b", false, false)
	d := spm.NewStreamDecoder(DecodeOptions{})
	var chunks []string
	for _, id := range ids {
		chunks = append(chunks, d.Next(id))
	}
	chunks = append(chunks, d.Flush())
	want := []string{"a", "", "", "", "𝄞", "b", ""}
	if strings.Join(chunks, "|") != strings.Join(want, "|") {
		t.Errorf("ids %v streamed as %q, want %q", ids, chunks, want)
	}

	// A character cut short is held back, then replaced on Flush.
	d = spm.NewStreamDecoder(DecodeOptions{})
	b0, _ := spm.TokenID("<0xF0>")
	b1, _ := spm.TokenID("<0x9D>")
	x, _ := spm.TokenID("▁x")
	if got := d.Next(b0) + d.Next(b1); got != "" {
		t.Errorf("incomplete character emitted %q", got)
	}
	if got := d.Flush(); got != "\uFFFD" {
		t.Errorf("Flush of an incomplete character = %q, want U+FFFD", got)
	}
	// An incomplete character followed by other text is invalid at once.
	if got := d.Next(b0) + d.Next(x); got != "\uFFFD x" {
		t.Errorf("broken character then text = %q, want %q", got, "\uFFFD x")
	}

	// Byte-level BPE splits characters across tokens too.
	gpt := loadGGUF(t, "ggml-vocab-gpt-2.gguf")
	ids = gpt.Encode("日本語", false, false)
	d = gpt.NewStreamDecoder(DecodeOptions{})
	var all strings.Builder
	for _, id := range ids {
		c := d.Next(id)
		if !utf8.ValidString(c) {
			t.Errorf("chunk %q is not valid UTF-8", c)
		}
		all.WriteString(c)
	}
	if all.String()+d.Flush() != "日本語" {
		t.Errorf("gpt-2 stream of %v = %q", ids, all.String())
	}
	if len(ids) <= 3 {
		t.Errorf("expected 日本語 to take more than 3 byte-level tokens, got %v", ids)
	}
}

func TestParseSpecial(t *testing.T) {
	phi := loadGGUF(t, "ggml-vocab-phi-3.gguf")
	q := loadQwen2(t)
	id := func(tk *Tokenizer, piece string) int32 {
		t.Helper()
		i, ok := tk.TokenID(piece)
		if !ok {
			t.Fatalf("no token %q", piece)
		}
		return i
	}
	tests := []struct {
		name  string
		tk    *Tokenizer
		text  string
		parse bool
		want  []int32
	}{
		// Phi-3 drops the white space right of its special tokens (llama.cpp
		// sets RSTRIP for Phi-3), and a space is prefixed after each of them.
		{"phi-3", phi, "<|user|>\nhi<|end|>", true,
			[]int32{id(phi, "<|user|>"), id(phi, "▁hi"), id(phi, "<|end|>")}},
		{"phi-3 assistant", phi, "<|user|>\nhi<|end|>\n<|assistant|>\n", true,
			[]int32{id(phi, "<|user|>"), id(phi, "▁hi"), id(phi, "<|end|>"), id(phi, "<|assistant|>")}},
		{"qwen2", q, "<|im_start|>user\nhi<|im_end|>\n", true,
			[]int32{id(q, "<|im_start|>"), id(q, "user"), id(q, "Ċ"), id(q, "hi"), id(q, "<|im_end|>"), id(q, "Ċ")}},
		{"qwen2 adjacent", q, "<|im_end|><|im_start|>", true,
			[]int32{id(q, "<|im_end|>"), id(q, "<|im_start|>")}},
		{"qwen2 not parsed", q, "<|im_end|>", false,
			[]int32{id(q, "<"), id(q, "|"), id(q, "im"), id(q, "_end"), id(q, "|"), id(q, ">")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.tk.Encode(tc.text, false, tc.parse)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Encode(%q, parse=%v) = %v, want %v", tc.text, tc.parse, got, tc.want)
			}
		})
	}
	// Without parsing, phi-3's control tokens are plain text.
	for _, x := range phi.Encode("<|user|>\nhi<|end|>", false, false) {
		if phi.IsControl(x) {
			t.Errorf("control token %d from unparsed text", x)
		}
	}
	// Special tokens render only on request.
	chat := "<|im_start|>user\nhi<|im_end|>\n"
	ids := q.Encode(chat, false, true)
	if got := q.Decode(ids); got != "user\nhi\n" {
		t.Errorf("Decode = %q, want control tokens dropped", got)
	}
	if got := q.DecodeWith(ids, DecodeOptions{Special: true}); got != chat {
		t.Errorf("DecodeWith(Special) = %q, want %q", got, chat)
	}
	d := q.NewStreamDecoder(DecodeOptions{Special: true})
	var b strings.Builder
	for _, x := range ids {
		b.WriteString(d.Next(x))
	}
	if b.String()+d.Flush() != chat {
		t.Errorf("stream with Special = %q, want %q", b.String(), chat)
	}
}

func TestAddSpecial(t *testing.T) {
	spm := loadGGUF(t, "ggml-vocab-llama-spm.gguf")
	gpt := loadGGUF(t, "ggml-vocab-gpt-2.gguf")
	q := loadQwen2(t)
	tests := []struct {
		name string
		tk   *Tokenizer
		text string
		want []int32
	}{
		{"spm empty", spm, "", []int32{1}},
		{"spm hello", spm, "Hello", []int32{1, 15043}},
		{"gpt-2 no bos", gpt, "Hello", []int32{15496}},
		{"qwen2 no bos", q, "Hello", []int32{9707}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tk.Encode(tc.text, true, false); !slices.Equal(got, tc.want) {
				t.Errorf("Encode(%q, addSpecial) = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
	if got := spm.Encode("", false, false); len(got) != 0 {
		t.Errorf("Encode(\"\") = %v, want nothing", got)
	}
	if spm.BOS() != 1 || spm.EOS() != 2 || !spm.AddBOS() || spm.AddEOS() {
		t.Errorf("llama-spm BOS=%d EOS=%d addBOS=%v addEOS=%v", spm.BOS(), spm.EOS(), spm.AddBOS(), spm.AddEOS())
	}

	// add_eos appends EOS; add_bos off leaves BOS out.
	v := tinySPM()
	v.AddBOS, v.AddEOS = false, true
	tk, err := New(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tk.Encode("ab", true, false), []int32{tinyID(v, "▁ab"), 2}; !slices.Equal(got, want) {
		t.Errorf("add_eos: got %v, want %v", got, want)
	}
}

func TestEOG(t *testing.T) {
	phi := loadGGUF(t, "ggml-vocab-phi-3.gguf")
	gpt := loadGGUF(t, "ggml-vocab-gpt-2.gguf")
	q := loadQwen2(t)
	tests := []struct {
		name  string
		tk    *Tokenizer
		piece string
		want  bool
	}{
		{"phi-3 end", phi, "<|end|>", true},
		{"phi-3 endoftext", phi, "<|endoftext|>", true},
		{"phi-3 user", phi, "<|user|>", false},
		{"gpt-2 endoftext", gpt, "<|endoftext|>", true},
		{"gpt-2 word", gpt, "Hello", false},
		{"qwen2 im_end", q, "<|im_end|>", true},
		{"qwen2 endoftext", q, "<|endoftext|>", true},
		{"qwen2 im_start", q, "<|im_start|>", false},
	}
	for _, tc := range tests {
		id, ok := tc.tk.TokenID(tc.piece)
		if !ok {
			t.Fatalf("%s: no token %q", tc.name, tc.piece)
		}
		if got := tc.tk.IsEOG(id); got != tc.want {
			t.Errorf("%s: IsEOG(%q) = %v, want %v", tc.name, tc.piece, got, tc.want)
		}
	}
	if phi.EOS() != 32000 {
		t.Errorf("phi-3 EOS = %d, want 32000", phi.EOS())
	}
	if q.IsEOG(-1) || q.IsEOG(int32(q.VocabSize())) {
		t.Error("out-of-range ids must not be EOG")
	}
}

func TestAccessors(t *testing.T) {
	gpt := loadGGUF(t, "ggml-vocab-gpt-2.gguf")
	if gpt.VocabSize() != 50257 {
		t.Errorf("VocabSize = %d", gpt.VocabSize())
	}
	if id, ok := gpt.TokenID("Ġthe"); !ok || gpt.TokenText(id) != " the" || gpt.Piece(id) != "Ġthe" {
		t.Errorf("Ġthe: id %d ok %v text %q", id, ok, gpt.TokenText(id))
	}
	if gpt.TokenText(-1) != "" || gpt.TokenText(1<<30) != "" || gpt.Piece(-5) != "" {
		t.Error("out-of-range ids must give empty text")
	}
	if gpt.TokenText(50256) != "" {
		t.Errorf("control token text = %q, want empty", gpt.TokenText(50256))
	}
	if gpt.Model() != "gpt2" || gpt.PreTokenizer() != "gpt-2" || !gpt.PreTokenizerKnown() {
		t.Errorf("model %q pre %q known %v", gpt.Model(), gpt.PreTokenizer(), gpt.PreTokenizerKnown())
	}
	spm := loadGGUF(t, "ggml-vocab-llama-spm.gguf")
	if spm.TokenText(spm.byteTok['\n']) != "\n" || spm.Type(spm.byteTok['\n']) != TypeByte {
		t.Errorf("<0x0A> decodes to %q", spm.TokenText(spm.byteTok['\n']))
	}
	if id, _ := spm.TokenID("▁the"); spm.TokenText(id) != " the" {
		t.Errorf("▁the decodes to %q", spm.TokenText(id))
	}
}

// The stories260K model's vocabulary has a padding id of 0xFFFFFFFF, which
// llama.cpp ignores with a warning.
func TestStoriesVocab(t *testing.T) {
	tk := loadGGUF(t, "stories260K.gguf")
	if tk.PAD() != NoToken || len(tk.Warnings()) == 0 {
		t.Errorf("PAD = %d, warnings %q; want no PAD and a warning", tk.PAD(), tk.Warnings())
	}
	if tk.BOS() != 1 || tk.EOS() != 2 || tk.UNK() != 0 {
		t.Errorf("BOS/EOS/UNK = %d/%d/%d", tk.BOS(), tk.EOS(), tk.UNK())
	}
	text := "Once upon a time, there was a little girl named Lily."
	ids := tk.Encode(text, true, false)
	if ids[0] != 1 || tk.Decode(ids) != text {
		t.Errorf("Encode = %v, decodes to %q", ids, tk.Decode(ids))
	}
}

// Generated text continues a prompt, so its first space is real.
func TestDecodeContinuation(t *testing.T) {
	spm := loadGGUF(t, "ggml-vocab-llama-spm.gguf")
	ids := spm.Encode("Once upon", false, false) // "▁Once" "▁upon"
	if got := spm.Decode(ids); got != "Once upon" {
		t.Errorf("Decode = %q", got)
	}
	if got := spm.DecodeWith(ids, DecodeOptions{Continuation: true}); got != " Once upon" {
		t.Errorf("Decode with Continuation = %q, want %q", got, " Once upon")
	}
	d := spm.NewStreamDecoder(DecodeOptions{Continuation: true})
	if got := d.Next(ids[0]) + d.Next(ids[1]) + d.Flush(); got != " Once upon" {
		t.Errorf("stream with Continuation = %q", got)
	}
	// Byte-level BPE never strips.
	gpt := loadGGUF(t, "ggml-vocab-gpt-2.gguf")
	if got := gpt.Decode(gpt.Encode(" Once", false, false)); got != " Once" {
		t.Errorf("gpt-2 Decode = %q", got)
	}
}

// A Tokenizer is shared by concurrent requests.
func TestConcurrentEncode(t *testing.T) {
	tk := loadGGUF(t, "ggml-vocab-gpt-2.gguf")
	vs := loadVectors(t, "ggml-vocab-gpt-2.gguf")
	done := make(chan bool)
	for g := 0; g < 4; g++ {
		go func() {
			ok := true
			for i := 0; i < 20; i++ {
				for _, v := range vs {
					if !slices.Equal(tk.Encode(v.text, false, false), v.ids) {
						ok = false
					}
				}
			}
			done <- ok
		}()
	}
	for g := 0; g < 4; g++ {
		if !<-done {
			t.Error("concurrent Encode gave wrong ids")
		}
	}
}
