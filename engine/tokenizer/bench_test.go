package tokenizer

import (
	"strings"
	"testing"
)

// benchText is about 10 KB of English prose.
var benchText = func() string {
	paras := []string{
		"The village sat at the edge of a wide valley, where the river bent twice before it reached the sea. " +
			"Every morning the baker opened his shutters at six o'clock, and the smell of fresh bread drifted down " +
			"the narrow street towards the harbour. Fishermen who had been out since before dawn would stop at his " +
			"counter, trading stories about the weather, the price of diesel and the strange lights they had seen " +
			"over the northern cliffs. Nobody could agree on what the lights were; some said they were reflections, " +
			"others swore they moved against the wind.",
		"In 1987 the council voted 7 to 4 to build a new bridge, but the money (roughly $2.3 million at the time) " +
			"never arrived. The plans are still kept in a drawer at the town hall: forty-two pages of drawings, " +
			"calculations and handwritten notes. \"We'll build it next year,\" the mayor said in every speech for a " +
			"decade, until people began to repeat the phrase as a joke whenever something was late.",
		"Children learned to swim in the shallow bay below the lighthouse. Their teacher, a patient woman called " +
			"Margaret, believed that anyone could learn anything if it was broken into small enough steps. She taught " +
			"arithmetic with pebbles, geography with the shapes of clouds, and history with the names carved into the " +
			"old church benches. Years later, her former students still talked about the day she brought a telescope " +
			"to school and showed them the rings of Saturn, pale and tilted, hanging in the dark like a question.",
		"When the storm of the century finally came, it did not arrive with thunder. The wind rose slowly through " +
			"the afternoon, the sky turned the colour of slate, and by evening the waves were breaking over the sea " +
			"wall. Families gathered in the school hall with blankets, candles and tins of soup. Someone played the " +
			"piano; someone else organised a quiz. By morning the harbour was full of broken boats, but not a single " +
			"person had been hurt, and the baker, as usual, opened his shutters at six.",
	}
	var b strings.Builder
	for b.Len() < 10_000 {
		for _, p := range paras {
			b.WriteString(p)
			b.WriteString("\n\n")
		}
	}
	return b.String()
}()

func BenchmarkEncode(b *testing.B) {
	for _, vc := range []struct {
		name string
		load func(testing.TB) *Tokenizer
	}{
		{"SPM", func(tb testing.TB) *Tokenizer { return loadGGUF(tb, "ggml-vocab-llama-spm.gguf") }},
		{"BPE", func(tb testing.TB) *Tokenizer { return loadGGUF(tb, "ggml-vocab-gpt-2.gguf") }},
		{"BPE-qwen2", loadQwen2},
	} {
		b.Run(vc.name, func(b *testing.B) {
			tk := vc.load(b)
			n := len(tk.Encode(benchText, false, false))
			b.SetBytes(int64(len(benchText)))
			b.ResetTimer()
			for b.Loop() {
				tk.Encode(benchText, false, false)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	tk := loadGGUF(b, "ggml-vocab-llama-spm.gguf")
	ids := tk.Encode(benchText, false, false)
	b.SetBytes(int64(len(benchText)))
	for b.Loop() {
		tk.Decode(ids)
	}
}

// A vocabulary with thousands of control tokens (like Gemma's <unusedN>)
// must not make every Encode scan the text thousands of times.
func BenchmarkEncodeManySpecial(b *testing.B) {
	v := tinySPM()
	for i := 0; i < 6000; i++ {
		v.Tokens = append(v.Tokens, "<unused"+strings.Repeat("x", i%7)+string(rune('A'+i%26))+string(rune('a'+i/26%26))+string(rune('0'+i/676))+">")
		v.Scores = append(v.Scores, 0)
		v.Types = append(v.Types, TypeControl)
	}
	tk, err := New(v)
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("ab <c> abc ", 1000)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tk.Encode(text, false, true)
	}
}
