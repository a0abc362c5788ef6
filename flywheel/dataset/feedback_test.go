package dataset

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWithFeedback(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	in := Interaction{ResponseID: "r", Tags: []string{"a"}}
	got := in.WithFeedback([]Feedback{
		{Rating: 2, Tags: []string{"b"}, Time: t0.Add(2 * time.Hour)},
		{Rating: 5, Thumb: 1, Tags: []string{"a", "c"}, Time: t0},
		{Correction: "better", Time: t0.Add(time.Hour)},
	})
	want := Interaction{ResponseID: "r", Rating: 2, Thumb: 1, Correction: "better", Tags: []string{"a", "c", "b"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v; want %+v", got, want)
	}
	if len(in.Tags) != 1 {
		t.Error("WithFeedback changed its receiver's tags")
	}
}

// TestReadCaptureExport reads a line shaped like the capture store's
// export: the interaction's fields, extra ones, and a feedback array.
func TestReadCaptureExport(t *testing.T) {
	file := `{"response_id":"resp_1","tenant_id":"tnt_x","model":"llama3","messages":[{"role":"user","content":"Hi <EMAIL_1>"}],"output":"Hello","params":{"temperature":0.2},"time":"2026-11-28T10:00:00Z","feedback":[{"id":"fb_1","response_id":"resp_1","thumb":-1,"time":"2026-11-28T10:01:00Z"},{"id":"fb_2","response_id":"resp_1","correction":"Hello, how can I help?","comment":"x","time":"2026-11-28T10:02:00Z"}],"scrubbed":{"EMAIL":1},"expires":"2026-12-28T10:00:00Z"}

{"response_id":"resp_2","messages":[{"role":"user","content":"Hi"}],"output":"Yo","rating":5}
`
	ins, err := ReadInteractions(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 2 || ins[0].Thumb != -1 || ins[0].Correction != "Hello, how can I help?" || ins[0].Model != "llama3" || ins[1].Rating != 5 {
		t.Errorf("read %+v", ins)
	}
	if _, err := ReadInteractions(strings.NewReader(file + "{bad\n")); err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("bad line: %v; want line 4", err)
	}
}
