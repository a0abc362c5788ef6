package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// ReadSteps reads a training run's step log (finetune's steps.jsonl: one
// JSON object per line with at least "step" and "loss"; other fields are
// ignored) as a loss curve. A line that is not such an object is an error
// naming it.
func ReadSteps(r io.Reader) ([]Point, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var out []Point
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var p struct {
			Step *int     `json:"step"`
			Loss *float64 `json:"loss"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("eval: step log line %d: %w", line, err)
		}
		if p.Step == nil || p.Loss == nil {
			return nil, fmt.Errorf("eval: step log line %d: no \"step\" or no \"loss\"", line)
		}
		out = append(out, Point{Step: *p.Step, Loss: *p.Loss})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("eval: step log: %w", err)
	}
	return out, nil
}

// Layout of the SVG, in pixels.
const (
	svgWidth    = 960
	svgMargin   = 24
	rowHeight   = 20
	plotHeight  = 240
	maxSVGRows  = 50 // examples drawn; the JSON report has them all
	maxCellText = 48 // characters of an answer shown in a cell
)

// WriteSVG draws the report as one self-contained SVG (no scripts, fonts
// or links): the summary of both models side by side, a table of the
// examples' answers (the first 50), and the training loss curve when the
// report has one.
func WriteSVG(w io.Writer, r *Report) error {
	var b svgBuilder
	y := svgMargin
	b.text(svgMargin, y+4, "title", fmt.Sprintf("Evaluation on %d held-out examples", r.Examples))
	y += 2 * rowHeight

	// Summary: one row per metric, one column per model.
	cols := []*Summary{&r.Base}
	if r.Adapter != nil {
		cols = append(cols, r.Adapter)
	}
	header := []string{"metric"}
	for _, s := range cols {
		header = append(header, s.Label)
	}
	b.row(y, header, true)
	for _, m := range []struct {
		name string
		f    func(*Summary) string
	}{
		{"loss (nats/token)", func(s *Summary) string { return fmt.Sprintf("%.4f", s.Loss) }},
		{"perplexity", func(s *Summary) string { return fmt.Sprintf("%.3f", s.Perplexity) }},
		{"exact match", func(s *Summary) string { return fmt.Sprintf("%.1f%%", 100*s.ExactMatch) }},
		{"contains reference", func(s *Summary) string { return fmt.Sprintf("%.1f%%", 100*s.Contains) }},
		{"mean length (chars)", func(s *Summary) string { return fmt.Sprintf("%.1f", s.MeanLength) }},
	} {
		y += rowHeight
		cells := []string{m.name}
		for _, s := range cols {
			cells = append(cells, m.f(s))
		}
		b.row(y, cells, false)
	}
	y += 2 * rowHeight

	// The examples, answers side by side.
	header = []string{"#", "reference", "base"}
	if r.Adapter != nil {
		header = append(header, "adapter")
	}
	b.row(y, header, true)
	for i, row := range r.Rows[:min(len(r.Rows), maxSVGRows)] {
		y += rowHeight
		cells := []string{fmt.Sprint(i + 1), clip(row.Reference), mark(row.Base)}
		if row.Adapter != nil {
			cells = append(cells, mark(*row.Adapter))
		}
		b.row(y, cells, false)
	}
	if len(r.Rows) > maxSVGRows {
		y += rowHeight
		b.text(svgMargin, y+14, "note", fmt.Sprintf("… and %d more examples in the JSON report", len(r.Rows)-maxSVGRows))
	}
	y += 2 * rowHeight

	if len(r.LossCurve) > 0 {
		y = b.curve(y, r.LossCurve)
	}
	height := y + svgMargin
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n", svgWidth, height, svgWidth, height)
	io.WriteString(w, `<style>text{font-family:sans-serif;font-size:12px;fill:#222}.title{font-size:16px;font-weight:bold}`+
		`.head{font-weight:bold}.note{fill:#666}.axis{stroke:#888;fill:none}.loss{stroke:#c0392b;stroke-width:1.5;fill:none}`+
		`.point{fill:#c0392b}</style>`+"\n")
	_, err := w.Write(b.buf.Bytes())
	if err == nil {
		_, err = io.WriteString(w, "</svg>\n")
	}
	return err
}

// mark is an answer's cell: its text, with ✓ for an exact match and ⊃
// for one that contains the reference.
func mark(o Output) string {
	m := ""
	switch {
	case o.ExactMatch:
		m = "✓ "
	case o.Contains:
		m = "⊃ "
	}
	return m + clip(o.Text)
}

// clip shortens text to a cell's width, on one line.
func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxCellText {
		return string(r[:maxCellText-1]) + "…"
	}
	return s
}

type svgBuilder struct{ buf bytes.Buffer }

// text writes one escaped text element.
func (b *svgBuilder) text(x, y int, class, s string) {
	fmt.Fprintf(&b.buf, `<text x="%d" y="%d"`, x, y)
	if class != "" {
		fmt.Fprintf(&b.buf, ` class="%s"`, class)
	}
	b.buf.WriteString(">")
	xml.EscapeText(&b.buf, []byte(s))
	b.buf.WriteString("</text>\n")
}

// row writes a table row: a narrow first column, the rest sharing the
// width.
func (b *svgBuilder) row(y int, cells []string, head bool) {
	class := ""
	if head {
		class = "head"
	}
	first := 160
	if cells[0] == "#" || (len(cells[0]) <= 3 && !head) {
		first = 40
	}
	rest := (svgWidth - 2*svgMargin - first) / max(len(cells)-1, 1)
	x := svgMargin
	for i, c := range cells {
		b.text(x, y+14, class, c)
		if i == 0 {
			x += first
		} else {
			x += rest
		}
	}
}

// curve draws the loss curve below y and returns the y under it: axes
// labelled with the step and loss ranges, a polyline and one circle per
// point, each with a tooltip of its step and loss.
func (b *svgBuilder) curve(y int, pts []Point) int {
	b.text(svgMargin, y+4, "head", "training loss")
	y += rowHeight
	x0, x1 := svgMargin+56, svgWidth-svgMargin
	y0, y1 := y, y+plotHeight
	lo, hi := math.Inf(1), math.Inf(-1)
	sMin, sMax := pts[0].Step, pts[0].Step
	for _, p := range pts {
		lo, hi = math.Min(lo, p.Loss), math.Max(hi, p.Loss)
		sMin, sMax = min(sMin, p.Step), max(sMax, p.Step)
	}
	if hi == lo {
		hi, lo = hi+0.5, lo-0.5
	}
	px := func(s int) float64 {
		if sMax == sMin {
			return float64(x0+x1) / 2
		}
		return float64(x0) + float64(s-sMin)/float64(sMax-sMin)*float64(x1-x0)
	}
	py := func(l float64) float64 { return float64(y1) - (l-lo)/(hi-lo)*float64(y1-y0) }
	fmt.Fprintf(&b.buf, `<path class="axis" d="M%d %d V%d H%d"/>`+"\n", x0, y0, y1, x1)
	b.text(svgMargin, y0+10, "note", fmt.Sprintf("%.3f", hi))
	b.text(svgMargin, y1, "note", fmt.Sprintf("%.3f", lo))
	b.text(x0, y1+16, "note", fmt.Sprintf("step %d", sMin))
	b.text(x1-64, y1+16, "note", fmt.Sprintf("step %d", sMax))
	b.buf.WriteString(`<polyline class="loss" points="`)
	for i, p := range pts {
		if i > 0 {
			b.buf.WriteByte(' ')
		}
		fmt.Fprintf(&b.buf, "%.1f,%.1f", px(p.Step), py(p.Loss))
	}
	b.buf.WriteString(`"/>` + "\n")
	for _, p := range pts {
		fmt.Fprintf(&b.buf, `<circle class="point" cx="%.1f" cy="%.1f" r="2"><title>step %d: loss %.4f</title></circle>`+"\n",
			px(p.Step), py(p.Loss), p.Step, p.Loss)
	}
	return y1 + 2*rowHeight
}
