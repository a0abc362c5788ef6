package peeranchor

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPreviousVersionFrames: audit heads as a node of the previous version
// sends them (testdata, written by the code at 85adbe9, when the anchor
// lived in cmd/hearth) decode to the same heads and encode to the same
// bytes.
func TestPreviousVersionFrames(t *testing.T) {
	tests := []struct {
		file string
		want headMsg
	}{
		{"audit-head.json", headMsg{Seq: 42, Hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			Time: time.Date(2026, 11, 3, 9, 30, 15, 123456789, time.UTC)}},
		{"audit-head-empty.json", headMsg{}},
	}
	for _, tt := range tests {
		frame, err := os.ReadFile(filepath.Join("testdata", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		frame = bytes.TrimSuffix(frame, []byte("\n"))
		var got headMsg
		if err := json.Unmarshal(frame, &got); err != nil || got != tt.want {
			t.Errorf("%s: decoded %+v, %v; want %+v", tt.file, got, err, tt.want)
		}
		if b, _ := json.Marshal(tt.want); !bytes.Equal(b, frame) {
			t.Errorf("%s: encoded %s; previous version %s", tt.file, b, frame)
		}
	}
}
