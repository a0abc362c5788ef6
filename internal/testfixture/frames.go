package testfixture

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

// Frames checks that each JSON frame of a wire format in dir (a file of
// one line, as nodes of another version send it) decodes to the value
// that frames holds for it (a pointer), and that the value encodes to
// the same bytes, so that nodes of different versions keep understanding
// each other.
func Frames(t *testing.T, dir string, frames map[string]any) {
	t.Helper()
	for _, file := range slices.Sorted(maps.Keys(frames)) {
		want := frames[file]
		t.Run(file, func(t *testing.T) {
			frame, err := os.ReadFile(filepath.Join(dir, file))
			if err != nil {
				t.Fatal(err)
			}
			frame = bytes.TrimSuffix(frame, []byte("\n"))
			got := reflect.New(reflect.TypeOf(want).Elem()).Interface()
			if err := json.Unmarshal(frame, got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n %#v\nwant\n %#v", got, want)
			}
			b, err := json.Marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, frame) {
				t.Errorf("encoded\n %s\nthe frame\n %s", b, frame)
			}
		})
	}
}
