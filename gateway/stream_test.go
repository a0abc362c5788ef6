package gateway

import (
	"net/http/httptest"
	"testing"
)

// The tracker passes only whole events to the client, whatever the
// chunking, and knows what the client has received.
func TestTracker(t *testing.T) {
	cases := []struct {
		name        string
		contentType string
		chunks      []string
		sent        string // what reaches the client
		text        string
		id          string
		resumable   bool
	}{
		{
			name:        "openai chat split mid-event",
			contentType: "text/event-stream",
			chunks: []string{
				`data: {"id":"c1","created":7,"choices":[{"delta":{"role":"assistant","content":""}}]}` + "\n\n" + `data: {"id":"c1","choi`,
				`ces":[{"delta":{"content":"Once"}}]}` + "\n\ndata: ",
				`{"id":"c1","choices":[{"delta":{"content":" upon"}}]}` + "\n\n" + `data: {"id":"c1","choices":[{"delta":{"content":" a ti`,
			},
			sent: `data: {"id":"c1","created":7,"choices":[{"delta":{"role":"assistant","content":""}}]}` + "\n\n" +
				`data: {"id":"c1","choices":[{"delta":{"content":"Once"}}]}` + "\n\n" +
				`data: {"id":"c1","choices":[{"delta":{"content":" upon"}}]}` + "\n\n",
			text: "Once upon", id: "c1", resumable: true,
		},
		{
			name:        "openai completion finished",
			contentType: "text/event-stream; charset=utf-8",
			chunks:      []string{`data: {"id":"x","choices":[{"text":"Hi"}]}` + "\n\n" + `data: {"id":"x","choices":[{"text":"","finish_reason":"stop"}]}` + "\n\n"},
			sent:        `data: {"id":"x","choices":[{"text":"Hi"}]}` + "\n\n" + `data: {"id":"x","choices":[{"text":"","finish_reason":"stop"}]}` + "\n\n",
			text:        "Hi", id: "x", resumable: false,
		},
		{
			name:        "ollama chat",
			contentType: "application/x-ndjson",
			chunks:      []string{`{"message":{"role":"assistant","content":"Tom"}}` + "\n" + `{"message":{"role":"assistant","content":" ran"}}` + "\n" + `{"message":{"ro`},
			sent:        `{"message":{"role":"assistant","content":"Tom"}}` + "\n" + `{"message":{"role":"assistant","content":" ran"}}` + "\n",
			text:        "Tom ran", resumable: true,
		},
		{
			name:        "in-band error is not resumed",
			contentType: "application/x-ndjson",
			chunks:      []string{`{"response":"a"}` + "\n" + `{"error":"model failed"}` + "\n"},
			sent:        `{"response":"a"}` + "\n" + `{"error":"model failed"}` + "\n",
			text:        "a", resumable: false,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tr := newTracker(rec, c.contentType)
			if tr == nil {
				t.Fatalf("no tracker for %q", c.contentType)
			}
			for _, ch := range c.chunks {
				if err := tr.write([]byte(ch)); err != nil {
					t.Fatal(err)
				}
			}
			if got := rec.Body.String(); got != c.sent {
				t.Errorf("client got\n%q\nwant\n%q", got, c.sent)
			}
			if got := tr.resumable(); got != c.resumable {
				t.Errorf("resumable %v, want %v", got, c.resumable)
			}
			rs := tr.resume()
			if rs.Text != c.text || rs.ID != c.id {
				t.Errorf("resume %+v, want text %q id %q", rs, c.text, c.id)
			}
		})
	}
	if newTracker(httptest.NewRecorder(), "application/json") != nil {
		t.Error("a JSON response got a tracker")
	}
}

// FuzzTracker: whatever bytes a serving node streams, in whatever chunks,
// the tracker passes whole events on and never panics.
func FuzzTracker(f *testing.F) {
	f.Add([]byte("data: {\"id\":\"c\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n"), uint8(7), true)
	f.Add([]byte("{\"message\":{\"content\":\"a\"}}\n{\"done\":true}\n"), uint8(3), false)
	f.Add([]byte("data: {\"error\":null}\n\n"), uint8(1), true)
	f.Fuzz(func(t *testing.T, data []byte, step uint8, sse bool) {
		ct := "application/x-ndjson"
		if sse {
			ct = "text/event-stream"
		}
		rec := httptest.NewRecorder()
		tr := newTracker(rec, ct)
		n := max(int(step), 1)
		for i := 0; i < len(data); i += n {
			if err := tr.write(data[i:min(i+n, len(data))]); err != nil {
				t.Fatal(err)
			}
		}
		tr.resumable()
		tr.resume() // (its text can outgrow the input: invalid UTF-8 in JSON strings decodes to U+FFFD)
		if rec.Body.Len() > len(data) {
			t.Fatalf("the client got %d bytes of %d sent", rec.Body.Len(), len(data))
		}
	})
}
