package dataset

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxLine bounds one JSONL line, so a file without newlines cannot make
// Import hold unbounded memory for a single example.
const maxLine = 16 << 20

// chatLine is one line of OpenAI's fine-tuning chat JSONL.
type chatLine struct {
	Messages []Message `json:"messages"`
}

// Export writes a version of the tenant's dataset (0: the latest) as
// OpenAI fine-tuning chat JSONL: {"messages":[{"role":...,"content":...}]}
// per line, in the version's order. split is Train, Eval, or "all" (or
// "") for both. It returns the number of lines written.
func (s *Store) Export(ctx context.Context, tenantID, name string, version int, split string, w io.Writer) (int, error) {
	switch split {
	case Train, Eval:
	case "", "all":
		split = ""
	default:
		return 0, fmt.Errorf("%w split %q: want train, eval or all", ErrInvalid, split)
	}
	v, err := s.version(ctx, tenantID, name, version)
	if err != nil {
		return 0, err
	}
	examples, err := s.examples(ctx, v, split)
	if err != nil {
		return 0, err
	}
	lines := make([][]Message, len(examples))
	for i, e := range examples {
		lines[i] = e.Messages
	}
	if err := writeChatJSONL(w, lines); err != nil {
		return 0, fmt.Errorf("dataset: export %s v%d: %w", name, v.Version, err)
	}
	return len(examples), nil
}

// writeChatJSONL writes one {"messages":[...]} object per line. The
// encoding is canonical (field order fixed, no HTML escaping so "<", ">"
// and "&" stay readable), which is what makes export, import, export give
// the same bytes.
func writeChatJSONL(w io.Writer, lines [][]Message) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, msgs := range lines {
		if err := enc.Encode(chatLine{Messages: msgs}); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// LineError is a problem with one line of a JSONL file; it matches
// ErrInvalid with errors.Is.
type LineError struct {
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string        { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error        { return e.Err }
func (e *LineError) Is(target error) bool { return target == ErrInvalid }

// Import reads OpenAI fine-tuning chat JSONL and stores it as the next
// version of the tenant's dataset name, every example in the train split
// and without lineage. The whole file is checked before anything is
// written: every line one JSON object with only a "messages" array of
// {"role","content"} objects, roles system, user or assistant, contents
// strings, at least one user message, and the last message a non-empty
// answer from the assistant. Blank lines are allowed only at the end. The
// first bad line fails the import with a *LineError naming it.
func (s *Store) Import(ctx context.Context, tenantID, name string, r io.Reader) (*Version, error) {
	if err := checkNames(tenantID, name); err != nil {
		return nil, err
	}
	lines, err := ParseChatJSONL(r)
	if errors.Is(err, ErrEmpty) {
		return nil, fmt.Errorf("%w: import %s: the file holds none", ErrEmpty, name)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset: import %s: %w", name, err)
	}
	examples := make([]Example, len(lines))
	for i, msgs := range lines {
		examples[i] = Example{Split: Train, Messages: msgs, Lang: DetectLanguage(languageText(msgs)), Chars: chars(msgs)}
	}
	v := &Version{TenantID: tenantID, Name: name, Origin: OriginImport,
		Report: Report{Considered: len(examples), Kept: len(examples)}}
	if err := s.write(ctx, v, examples); err != nil {
		return nil, fmt.Errorf("dataset: import %s: %w", name, err)
	}
	return s.Get(ctx, tenantID, name, v.Version)
}

// ParseChatJSONL reads and checks fine-tuning chat JSONL (see Import) and
// returns each line's messages.
func ParseChatJSONL(r io.Reader) ([][]Message, error) {
	var (
		out   [][]Message
		blank int // first blank line not yet followed by an example
		line  int
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		line++
		text := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(bytes.TrimSpace(text)) == 0 {
			if blank == 0 {
				blank = line
			}
			continue
		}
		if blank != 0 {
			return nil, &LineError{blank, errors.New("empty line")}
		}
		msgs, err := parseChatLine(text)
		if err != nil {
			return nil, &LineError{line, err}
		}
		out = append(out, msgs)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &LineError{line + 1, fmt.Errorf("longer than %d bytes", maxLine)}
		}
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: the file holds none", ErrEmpty)
	}
	return out, nil
}

// rawMessage has pointers so that a missing or null field is told apart
// from an empty string.
type rawMessage struct {
	Role    *string          `json:"role"`
	Content *json.RawMessage `json:"content"`
}

func parseChatLine(text []byte) ([]Message, error) {
	var raw struct {
		Messages *[]rawMessage `json:"messages"`
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not a JSON object of the chat format: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value")
	}
	if raw.Messages == nil {
		return nil, errors.New(`no "messages" array`)
	}
	if len(*raw.Messages) == 0 {
		return nil, errors.New(`"messages" is empty`)
	}
	msgs := make([]Message, len(*raw.Messages))
	users := 0
	for i, m := range *raw.Messages {
		if m.Role == nil {
			return nil, fmt.Errorf("message %d: no role", i+1)
		}
		switch *m.Role {
		case "user":
			users++
		case "system", "assistant":
		default:
			return nil, fmt.Errorf("message %d: role %q: want system, user or assistant", i+1, *m.Role)
		}
		if m.Content == nil || string(*m.Content) == "null" {
			return nil, fmt.Errorf("message %d: no content", i+1)
		}
		var content string
		if err := json.Unmarshal(*m.Content, &content); err != nil {
			return nil, fmt.Errorf("message %d: content is not a string", i+1)
		}
		msgs[i] = Message{Role: *m.Role, Content: content}
	}
	last := msgs[len(msgs)-1]
	switch {
	case users == 0:
		return nil, errors.New("no user message")
	case last.Role != "assistant":
		return nil, fmt.Errorf("last message is from the %s; want the assistant", last.Role)
	case strings.TrimSpace(last.Content) == "":
		return nil, errors.New("the assistant's answer is empty")
	}
	return msgs, nil
}

// ReadInteractions reads interactions as JSONL, one Interaction object per
// line (blank lines skipped), for building from a file. A line may also
// carry a "feedback" array of Feedback objects, folded in with
// WithFeedback: that makes the capture store's JSONL export a valid input.
// Unknown fields are ignored. Errors name the line.
func ReadInteractions(r io.Reader) ([]Interaction, error) {
	var out []Interaction
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var rec struct {
			Interaction
			Feedback []Feedback `json:"feedback"`
		}
		if err := json.Unmarshal(text, &rec); err != nil {
			return nil, &LineError{line, err}
		}
		out = append(out, rec.Interaction.WithFeedback(rec.Feedback))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read interactions: %w", err)
	}
	return out, nil
}
