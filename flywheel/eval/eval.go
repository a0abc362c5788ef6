// Package eval measures a model on a dataset's held-out examples, a base
// and the same base with a LoRA adapter side by side: the loss and
// perplexity of the reference answers (the assistant's tokens, after the
// model's chat template), and for each example the greedy answer, whether
// it matches the reference exactly, whether it contains it, and its
// length. Report is the result as JSON; WriteSVG draws it, with the
// training loss curve, as a self-contained SVG.
package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/flywheel/finetune"
)

// ErrNoExamples is Run's error for an empty example list: a dataset
// version whose eval split is empty cannot be evaluated.
var ErrNoExamples = errors.New("eval: no examples to evaluate (the dataset version's eval split is empty; build it with a larger --eval share, or more data)")

// Options tune Run. The zero value works.
type Options struct {
	// MaxTokens bounds each greedy answer; 0 means twice the reference's
	// tokens plus 8, so a model that runs on is cut where it is already
	// wrong.
	MaxTokens int
}

// Report is an evaluation's result.
type Report struct {
	Examples int      `json:"examples"`
	Base     Summary  `json:"base"`
	Adapter  *Summary `json:"adapter,omitempty"`
	Rows     []Row    `json:"rows"`
	// LossCurve is the training run's loss by step (from its steps.jsonl),
	// for the SVG; the caller sets it.
	LossCurve []Point `json:"loss_curve,omitempty"`
}

// Summary is one model's results over all examples.
type Summary struct {
	Label      string  `json:"label"`
	Loss       float64 `json:"loss"`       // mean negative log-likelihood per reference token, in nats
	Perplexity float64 `json:"perplexity"` // exp(Loss)
	Tokens     int     `json:"tokens"`     // reference tokens scored
	ExactMatch float64 `json:"exact_match"`
	Contains   float64 `json:"contains"`
	MeanLength float64 `json:"mean_length"` // characters of the greedy answers
}

// Row is one example, both models' answers side by side.
type Row struct {
	Prompt    string  `json:"prompt"` // the last user message
	Reference string  `json:"reference"`
	Base      Output  `json:"base"`
	Adapter   *Output `json:"adapter,omitempty"`
}

// Output is one model's answer to one example.
type Output struct {
	Text       string  `json:"text"`
	Loss       float64 `json:"loss"` // mean over the reference's tokens
	Tokens     int     `json:"tokens"`
	ExactMatch bool    `json:"exact_match"`
	Contains   bool    `json:"contains"`
	Length     int     `json:"length"` // characters
}

// Point is one step of a training loss curve.
type Point struct {
	Step int     `json:"step"`
	Loss float64 `json:"loss"`
}

// WithLoRA returns base with the low-rank updates attached (the
// transformer's model.WithLoRA): it shares base's weights, tokenizer,
// template and threads, so it must not be closed; close base when both
// are done.
func WithLoRA(base *engine.Model, set map[string]*model.LoRA) (*engine.Model, error) {
	net, err := base.Net.WithLoRA(set)
	if err != nil {
		return nil, err
	}
	m := *base
	m.Net = net
	return &m, nil
}

// Run evaluates base, and adapter when not nil (the same base with an
// adapter attached, see WithLoRA), on the examples: each must end with the
// assistant's reference answer.
func Run(ctx context.Context, base, adapter *engine.Model, examples []dataset.Example, o Options) (*Report, error) {
	if len(examples) == 0 {
		return nil, ErrNoExamples
	}
	if base == nil {
		return nil, errors.New("eval: no base model")
	}
	subjects := []*engine.Model{base}
	if adapter != nil {
		subjects = append(subjects, adapter)
	}
	r := &Report{Examples: len(examples), Rows: make([]Row, len(examples))}
	sums := make([]Summary, len(subjects))
	for i, e := range examples {
		c, err := split(base, e)
		if err != nil {
			return nil, fmt.Errorf("eval: example %d: %w", i+1, err)
		}
		r.Rows[i] = Row{Prompt: c.prompt, Reference: c.reference}
		for j, m := range subjects {
			out, lossSum, err := answer(ctx, m, c, o)
			if err != nil {
				return nil, fmt.Errorf("eval: example %d: %w", i+1, err)
			}
			s := &sums[j]
			s.Loss += lossSum
			s.Tokens += out.Tokens
			s.ExactMatch += b2f(out.ExactMatch)
			s.Contains += b2f(out.Contains)
			s.MeanLength += float64(out.Length)
			if j == 0 {
				r.Rows[i].Base = out
			} else {
				r.Rows[i].Adapter = &out
			}
		}
	}
	n := float64(len(examples))
	for j := range sums {
		s := &sums[j]
		s.Label = []string{"base", "adapter"}[j]
		s.Loss /= float64(max(s.Tokens, 1))
		s.Perplexity = math.Exp(s.Loss)
		s.ExactMatch /= n
		s.Contains /= n
		s.MeanLength /= n
	}
	r.Base = sums[0]
	if adapter != nil {
		r.Adapter = &sums[1]
	}
	return r, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// conversation is an example tokenized for a model: the prompt (what the
// model answers), and the whole conversation with the reference answer,
// whose tokens from start on are the ones scored.
type conversation struct {
	prompt, reference string
	promptIDs, ids    []int32
	start             int
}

// split tokenizes an example for m: the prompt ready for the assistant's
// turn, and the conversation as flywheel/finetune trains on it, cut after
// the final answer's targets (its text and its end of generation), which
// are the tokens scored.
func split(m *engine.Model, e dataset.Example) (*conversation, error) {
	n := len(e.Messages)
	if n < 2 || e.Messages[n-1].Role != "assistant" {
		return nil, errors.New("it does not end with an assistant answer after a prompt")
	}
	msgs := make([]chat.Message, n)
	c := &conversation{reference: e.Messages[n-1].Content}
	for i, msg := range e.Messages {
		msgs[i] = chat.Message{Role: msg.Role, Content: msg.Content}
		if msg.Role == "user" && i < n-1 {
			c.prompt = msg.Content
		}
	}
	var err error
	if c.promptIDs, err = m.ChatPrompt(msgs[:n-1]); err != nil {
		return nil, err
	}
	ids, loss, err := finetune.Targets(m.Template, m.Tok, e)
	if err != nil {
		return nil, fmt.Errorf("chat template: %w", err)
	}
	// The final answer is the last run of targets.
	end := len(loss)
	for end > 0 && !loss[end-1] {
		end--
	}
	start := end
	for start > 1 && loss[start-1] {
		start--
	}
	if end == 0 {
		return nil, errors.New("the chat template renders no tokens for the answer")
	}
	c.ids, c.start = ids[:end], start
	if len(c.promptIDs) >= m.Context() {
		return nil, fmt.Errorf("its prompt of %d tokens does not fit the context of %d", len(c.promptIDs), m.Context())
	}
	return c, nil
}

// answer scores the reference under m and generates m's greedy answer.
func answer(ctx context.Context, m *engine.Model, c *conversation, o Options) (Output, float64, error) {
	lossSum, n, err := score(ctx, m, c.ids, c.start)
	if err != nil {
		return Output{}, 0, err
	}
	limit := o.MaxTokens
	if limit <= 0 {
		limit = 2*(len(c.ids)-c.start) + 8
	}
	limit = min(limit, m.Context()-len(c.promptIDs))
	res, err := m.Generate(ctx, engine.Request{Prompt: c.promptIDs, MaxTokens: limit}, nil) // zero sampling: greedy
	if err != nil {
		return Output{}, 0, fmt.Errorf("greedy answer: %w", err)
	}
	out := Output{Text: res.Text, Loss: lossSum / float64(n), Tokens: n, Length: utf8.RuneCountInString(res.Text)}
	got, want := strings.TrimSpace(res.Text), strings.TrimSpace(c.reference)
	out.ExactMatch = got == want
	out.Contains = want != "" && strings.Contains(normalize(got), normalize(want))
	return out, lossSum, nil
}

// normalize folds case and runs of white space, so "contains" does not
// hinge on a line break or a capital.
func normalize(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// score runs ids through m and returns the summed negative
// log-likelihood of the tokens from start on (those that fit the
// context), each predicted from the ones before it, and how many it
// scored.
func score(ctx context.Context, m *engine.Model, ids []int32, start int) (float64, int, error) {
	end := min(len(ids), m.Context())
	st := m.Net.NewState(end)
	logits, err := m.Net.Forward(ctx, st, ids[:start])
	if err != nil {
		return 0, 0, fmt.Errorf("scoring: %w", err)
	}
	sum := 0.0
	for i := start; i < end; i++ {
		sum += nll(logits, ids[i])
		if i+1 < end {
			if logits, err = m.Net.Forward(ctx, st, ids[i:i+1]); err != nil {
				return 0, 0, fmt.Errorf("scoring: %w", err)
			}
		}
	}
	return sum, end - start, nil
}

// nll is -log softmax(logits)[target], computed stably in float64.
func nll(logits []float32, target int32) float64 {
	hi := math.Inf(-1)
	for _, l := range logits {
		hi = math.Max(hi, float64(l))
	}
	sum := 0.0
	for _, l := range logits {
		sum += math.Exp(float64(l) - hi)
	}
	return hi + math.Log(sum) - float64(logits[target])
}
