package dataset

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzImport feeds arbitrary files to the import parser. It must never
// panic; a file it accepts must export to canonical JSONL that parses to
// the same messages and exports to the same bytes again; a file it rejects
// gets a *LineError (with a line inside the file) or ErrEmpty. Seeds are
// below and in testdata/fuzz/FuzzImport.
func FuzzImport(f *testing.F) {
	for _, seed := range []string{
		`{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}` + "\n",
		`{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Habari?"},{"role":"assistant","content":"Nzuri <sana> & asante"}]}` + "\r\n\n",
		`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"},{"role":"assistant","content":"d\u0000\ud800"}]}`,
		`{"messages":[]}`,
		`{"messages":[{"role":"user","content":["x"]},{"role":"assistant","content":"b"}]}`,
		"\n\n{}\n",
		`{"messages":[{"role":"user","content":"a"}]} trailing`,
		"\xff\xfe{\"messages\":1}",
		`{"messages":[{"role":"user","content":"caf\u00e9 \xe9"},{"role":"assistant","content":"ok"}]}`,
		`{"MESSAGES":[{"ROLE":"user","Content":"a"},{"role":"assistant","content":"b"}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines, err := ParseChatJSONL(bytes.NewReader(data))
		if err != nil {
			var le *LineError
			if errors.As(err, &le) {
				if n := bytes.Count(data, []byte("\n")) + 1; le.Line < 1 || le.Line > n {
					t.Fatalf("error names line %d of a %d-line file: %v", le.Line, n, err)
				}
			} else if !errors.Is(err, ErrEmpty) {
				t.Fatalf("error neither a LineError nor ErrEmpty: %v", err)
			}
			return
		}
		var first bytes.Buffer
		if err := writeChatJSONL(&first, lines); err != nil {
			t.Fatal(err)
		}
		again, err := ParseChatJSONL(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("export of an accepted file does not import: %v\n%s", err, first.String())
		}
		if !reflect.DeepEqual(again, lines) {
			t.Fatalf("re-import changed the messages:\n%q\n%q", lines, again)
		}
		var second bytes.Buffer
		writeChatJSONL(&second, again)
		if !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("export -> import -> export changed bytes:\n%s\n%s", first.String(), second.String())
		}
		for _, msgs := range lines {
			if last := msgs[len(msgs)-1]; last.Role != "assistant" || strings.TrimSpace(last.Content) == "" {
				t.Fatalf("accepted a line ending in %+v", last)
			}
		}
	})
}
