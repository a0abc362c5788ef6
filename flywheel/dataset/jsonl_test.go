package dataset

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	set := newSynth(t)
	// Characters JSON could escape differently: HTML ones, quotes, control
	// characters, non-ASCII.
	set.all = append(set.all, Interaction{ResponseID: "special", Thumb: 1,
		Messages: []Message{{"system", "Answer in <b>HTML</b> & keep \"quotes\"."}, {"user", "Tab\there, newline\nthere, façade naïve 東京 \u2028 end"}},
		Output:   "<p>Sawa kabisa & asante</p>\r\n\\ backslash \x01"})
	v, err := s.Build(ctx, Static(set.all), "tnt_a", "support", synthOptions)
	if err != nil {
		t.Fatal(err)
	}
	var first bytes.Buffer
	n, err := s.Export(ctx, "tnt_a", "support", v.Version, "all", &first)
	if err != nil || n != 231 {
		t.Fatalf("export: %d lines, %v; want 231", n, err)
	}
	if lines := strings.Count(first.String(), "\n"); lines != n {
		t.Errorf("%d newlines for %d examples", lines, n)
	}
	if !strings.Contains(first.String(), `"content":"<p>Sawa kabisa & asante</p>\r\n\\ backslash \u0001"`) {
		t.Error("export escaped HTML or mangled the special example")
	}
	// Each line is the chat format and nothing else.
	for i, line := range strings.Split(strings.TrimSuffix(first.String(), "\n"), "\n") {
		if _, err := parseChatLine([]byte(line)); err != nil {
			t.Fatalf("exported line %d does not parse: %v", i+1, err)
		}
		if !strings.HasPrefix(line, `{"messages":[{"role":"`) {
			t.Fatalf("exported line %d: %.40s", i+1, line)
		}
	}
	imp, err := s.Import(ctx, "tnt_a", "support-copy", bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if imp.Version != 1 || imp.Origin != OriginImport || len(imp.Train) != n || len(imp.Eval) != 0 || len(imp.Lineage) != 0 {
		t.Errorf("import: version %d origin %s train %d eval %d lineage %d; want 1, import, %d, 0, 0",
			imp.Version, imp.Origin, len(imp.Train), len(imp.Eval), len(imp.Lineage), n)
	}
	var second bytes.Buffer
	if _, err := s.Export(ctx, "tnt_a", "support-copy", 0, "all", &second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Error("export -> import -> export changed the bytes")
	}
	// Importing into the built dataset makes its next version.
	again, err := s.Import(ctx, "tnt_a", "support", bytes.NewReader(second.Bytes()))
	if err != nil || again.Version != 2 {
		t.Fatalf("import as a new version: %v, %v", again, err)
	}
	// The splits export apart and together make the whole.
	var train, eval bytes.Buffer
	nt, _ := s.Export(ctx, "tnt_a", "support", 1, Train, &train)
	ne, _ := s.Export(ctx, "tnt_a", "support", 1, Eval, &eval)
	if nt != len(v.Train) || ne != len(v.Eval) || nt+ne != n {
		t.Errorf("train %d + eval %d; want %d + %d = %d", nt, ne, len(v.Train), len(v.Eval), n)
	}
	if _, err := s.Export(ctx, "tnt_a", "support", 1, "test", &train); !errors.Is(err, ErrInvalid) {
		t.Errorf("split test: %v; want ErrInvalid", err)
	}
}

func TestImportRejects(t *testing.T) {
	good := `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}`
	tests := []struct {
		name, file string
		line       int
		msg        string
	}{
		{"not json", good + "\n{oops\n", 2, "not a JSON object"},
		{"array", "[1,2]\n", 1, "not a JSON object"},
		{"no messages", "{}\n", 1, `no "messages"`},
		{"null messages", `{"messages":null}`, 1, `no "messages"`},
		{"empty messages", `{"messages":[]}`, 1, `"messages" is empty`},
		{"bad role", good + "\n" + good + "\n" + `{"messages":[{"role":"user","content":"a"},{"role":"bot","content":"b"}]}`, 3, `message 2: role "bot"`},
		{"tool role", `{"messages":[{"role":"tool","content":"a"},{"role":"assistant","content":"b"}]}`, 1, `role "tool"`},
		{"no role", `{"messages":[{"content":"a"},{"role":"assistant","content":"b"}]}`, 1, "message 1: no role"},
		{"null content", `{"messages":[{"role":"user","content":null},{"role":"assistant","content":"b"}]}`, 1, "message 1: no content"},
		{"content parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"a"}]},{"role":"assistant","content":"b"}]}`, 1, "content is not a string"},
		{"last from user", `{"messages":[{"role":"user","content":"a"}]}`, 1, "last message is from the user"},
		{"empty answer", `{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"  "}]}`, 1, "answer is empty"},
		{"no user", `{"messages":[{"role":"system","content":"a"},{"role":"assistant","content":"b"}]}`, 1, "no user message"},
		{"unknown field", `{"messages":[{"role":"user","content":"a","name":"x"},{"role":"assistant","content":"b"}]}`, 1, `unknown field "name"`},
		{"unknown top field", `{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}],"tools":[]}`, 1, `unknown field "tools"`},
		{"two values", good + good, 1, "more than one JSON value"},
		{"blank line inside", good + "\n\n" + good + "\n", 2, "empty line"},
		{"string", `"messages"`, 1, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseChatJSONL(strings.NewReader(tt.file))
			var le *LineError
			if !errors.As(err, &le) || le.Line != tt.line || !strings.Contains(err.Error(), tt.msg) || !errors.Is(err, ErrInvalid) {
				t.Errorf("got %v; want line %d: ...%s...", err, tt.line, tt.msg)
			}
		})
	}
	for _, empty := range []string{"", "\n\n", "   \n"} {
		if _, err := ParseChatJSONL(strings.NewReader(empty)); !errors.Is(err, ErrEmpty) {
			t.Errorf("%q: %v; want ErrEmpty", empty, err)
		}
	}
	// Trailing blank lines and CRLF line ends are fine.
	msgs, err := ParseChatJSONL(strings.NewReader(good + "\r\n" + good + "\n\n"))
	if err != nil || len(msgs) != 2 {
		t.Errorf("CRLF and trailing blank: %d, %v", len(msgs), err)
	}
}

func TestImportWritesNothingOnError(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	good := `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}` + "\n"
	_, err := s.Import(ctx, "tnt_a", "d", strings.NewReader(strings.Repeat(good, 50)+"{\n"))
	if !strings.Contains(err.Error(), "line 51") {
		t.Errorf("error %v; want it to name line 51", err)
	}
	if l, _ := s.List(ctx, "tnt_a"); len(l) != 0 {
		t.Errorf("a failed import left %d versions", len(l))
	}
}
