package eval

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/flywheel/dataset"
)

const stories = "../../../shared/testdata/models/stories260K.gguf"

func load(t *testing.T) *engine.Model {
	t.Helper()
	m, err := engine.Load(stories, engine.Options{Threads: 1, Context: 256})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func example(prompt, answer string) dataset.Example {
	return dataset.Example{Split: dataset.Eval, Messages: []dataset.Message{{Role: "user", Content: prompt}, {Role: "assistant", Content: answer}}}
}

// lora is a rank-2 update of every q projection, seeded; zeroB leaves
// the model as it was.
func lora(m *engine.Model, zeroB bool) map[string]*model.LoRA {
	rng := rand.New(rand.NewPCG(1, 2))
	set := map[string]*model.LoRA{}
	for _, p := range m.Net.Projections() {
		if model.Kind(p.Name) != "q" {
			continue
		}
		l := &model.LoRA{Rank: 2, A: make([]float32, 2*p.W.Cols), B: make([]float32, p.W.Rows*2), Scale: 1}
		for i := range l.A {
			l.A[i] = float32(rng.NormFloat64())
		}
		for i := range l.B {
			if !zeroB {
				l.B[i] = float32(rng.NormFloat64())
			}
		}
		set[p.Name] = l
	}
	return set
}

// The loss is the mean negative log-likelihood of the answer's tokens,
// each predicted from all before it: scored here one prefix at a time on
// a fresh state, independently of Run's incremental pass.
func TestLossMatchesPrefixScoring(t *testing.T) {
	ctx := context.Background()
	m := load(t)
	e := example("Tell me about Lily.", "Lily was a little girl who loved to play.")
	rep, err := Run(ctx, m, nil, []dataset.Example{e}, Options{MaxTokens: 8})
	if err != nil {
		t.Fatal(err)
	}
	c, err := split(m, e)
	if err != nil {
		t.Fatal(err)
	}
	if c.start < len(c.promptIDs)-1 || len(c.ids)-c.start < 8 {
		t.Fatalf("scored tokens %d..%d of %d, prompt %d: the answer's tokens should be scored", c.start, len(c.ids), len(c.ids), len(c.promptIDs))
	}
	sum := 0.0
	for i := c.start; i < len(c.ids); i++ {
		logits, err := m.Net.Forward(ctx, m.Net.NewState(i), c.ids[:i])
		if err != nil {
			t.Fatal(err)
		}
		sum += nll(logits, c.ids[i])
	}
	want := sum / float64(len(c.ids)-c.start)
	if got := rep.Base.Loss; math.Abs(got-want) > 1e-4 || rep.Base.Tokens != len(c.ids)-c.start {
		t.Errorf("loss %.6f over %d tokens; want %.6f over %d", got, rep.Base.Tokens, want, len(c.ids)-c.start)
	}
	if p := rep.Base.Perplexity; math.Abs(p-math.Exp(want)) > 1e-3*p {
		t.Errorf("perplexity %.4f; want exp(loss) %.4f", p, math.Exp(want))
	}
}

func TestRunSideBySide(t *testing.T) {
	ctx := context.Background()
	base := load(t)
	// The base's own greedy answer is an exact match for it.
	prompt := "Once upon a time"
	ids, err := base.ChatPrompt([]chat.Message{{Role: "user", Content: prompt}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := base.Generate(ctx, engine.Request{Prompt: ids, MaxTokens: 12}, nil)
	if err != nil {
		t.Fatal(err)
	}
	own := strings.TrimSpace(res.Text)
	if own == "" {
		t.Fatal("the base answers nothing")
	}
	exs := []dataset.Example{example(prompt, own), example("Where is the dog?", "The dog is in the park with Tom.")}

	same, err := WithLoRA(base, lora(base, true))
	if err != nil {
		t.Fatal(err)
	}
	changed, err := WithLoRA(base, lora(base, false))
	if err != nil {
		t.Fatal(err)
	}
	o := Options{MaxTokens: 12}
	rs, err := Run(ctx, base, same, exs, o)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Examples != 2 || rs.Adapter == nil || len(rs.Rows) != 2 || rs.Rows[0].Adapter == nil {
		t.Fatalf("report %+v; want two rows side by side", rs)
	}
	if !rs.Rows[0].Base.ExactMatch || !rs.Rows[0].Base.Contains || rs.Base.ExactMatch != 0.5 {
		t.Errorf("the base's own answer: row %+v, exact match %.2f; want a match in one of two", rs.Rows[0].Base, rs.Base.ExactMatch)
	}
	if rs.Rows[0].Prompt != prompt || rs.Rows[1].Reference != "The dog is in the park with Tom." {
		t.Errorf("rows %+v", rs.Rows)
	}
	// A zero B is no update: the same numbers and answers.
	if math.Abs(rs.Adapter.Loss-rs.Base.Loss) > 1e-5 || rs.Rows[0].Adapter.Text != rs.Rows[0].Base.Text {
		t.Errorf("zero update: adapter loss %.6f vs base %.6f, %q vs %q", rs.Adapter.Loss, rs.Base.Loss, rs.Rows[0].Adapter.Text, rs.Rows[0].Base.Text)
	}
	rc, err := Run(ctx, base, changed, exs, o)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(rc.Adapter.Loss-rc.Base.Loss) < 1e-3 {
		t.Errorf("a random update left the loss at %.6f (base %.6f)", rc.Adapter.Loss, rc.Base.Loss)
	}
	if rc.Base != rs.Base {
		t.Errorf("the base's summary changed with the adapter beside it: %+v vs %+v", rc.Base, rs.Base)
	}
	if rc.Adapter.Label != "adapter" || rc.Base.Label != "base" || rc.Adapter.MeanLength <= 0 {
		t.Errorf("summaries %+v %+v", rc.Base, rc.Adapter)
	}
}

func TestRunRefusals(t *testing.T) {
	m := load(t)
	for _, tc := range []struct {
		name   string
		exs    []dataset.Example
		want   error
		substr string
	}{
		{"no examples", nil, ErrNoExamples, "eval split is empty"},
		{"no answer", []dataset.Example{example("a", "b"), {Messages: []dataset.Message{{Role: "user", Content: "hi"}}}}, nil, "example 2"},
		{"prompt too long", []dataset.Example{example(strings.Repeat("Lily and Tom play in the park. ", 80), "Yes.")}, nil, "does not fit the context"},
	} {
		_, err := Run(context.Background(), m, nil, tc.exs, Options{MaxTokens: 4})
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("%s: %v; want an error naming %q", tc.name, err, tc.substr)
		}
	}
}

func TestReadSteps(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   []Point
		substr string
	}{
		{"{\"step\":1,\"loss\":2.5,\"lr\":0.0002}\n\n{\"step\":2,\"loss\":2.25}\n", []Point{{1, 2.5}, {2, 2.25}}, ""},
		{"", nil, ""},
		{"{\"step\":1,\"loss\":2}\n{\"step\":2}\n", nil, "line 2"},
		{"{\"step\":1,\"loss\":2}\nnot json\n", nil, "line 2"},
	} {
		got, err := ReadSteps(strings.NewReader(tc.in))
		if tc.substr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("ReadSteps(%q): %v; want an error naming %s", tc.in, err, tc.substr)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("ReadSteps(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ReadSteps(%q)[%d] = %v; want %v", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

// The SVG is well-formed XML, escapes what the answers hold, and draws
// every point of the loss curve.
func TestWriteSVG(t *testing.T) {
	adapter := Summary{Label: "adapter", Loss: 1.2, Perplexity: math.Exp(1.2), ExactMatch: 1, Contains: 1, MeanLength: 9}
	rep := &Report{Examples: 60, Base: Summary{Label: "base", Loss: 2.5, Perplexity: math.Exp(2.5)}, Adapter: &adapter}
	for range 60 {
		rep.Rows = append(rep.Rows, Row{Prompt: "q", Reference: "<b>fish & chips</b>",
			Base: Output{Text: "x < y \x01"}, Adapter: &Output{Text: "<b>fish & chips</b>", ExactMatch: true, Contains: true}})
	}
	for s := 1; s <= 25; s++ {
		rep.LossCurve = append(rep.LossCurve, Point{Step: s, Loss: 3 / float64(s)})
	}
	var buf bytes.Buffer
	if err := WriteSVG(&buf, rep); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	var circles, polyPoints int
	var texts []string
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, buf.String())
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = el.Name.Local
			}
			switch el.Name.Local {
			case "circle":
				circles++
			case "polyline":
				for _, a := range el.Attr {
					if a.Name.Local == "points" {
						polyPoints = len(strings.Fields(a.Value))
					}
				}
			}
		case xml.CharData:
			texts = append(texts, string(el))
		}
	}
	all := strings.Join(texts, "\n")
	switch {
	case root != "svg":
		t.Errorf("root element %q; want svg", root)
	case circles != 25 || polyPoints != 25:
		t.Errorf("%d circles, %d polyline points; want the curve's 25", circles, polyPoints)
	case !strings.Contains(all, "✓ <b>fish & chips</b>"):
		t.Error("the adapter's exact answer is not shown, marked, as written")
	case !strings.Contains(all, "step 25: loss 0.1200"):
		t.Error("the last point has no tooltip with its step and loss")
	case !strings.Contains(all, "10 more examples"):
		t.Error("the rows past the 50 drawn are not mentioned")
	case !strings.Contains(all, "perplexity") || !strings.Contains(all, "100.0%"):
		t.Error("the summary table is missing")
	}
}
