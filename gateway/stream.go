package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/api"
)

// A streamed response passes through the gateway event by event, so the
// gateway knows what the client has received and can have another node
// take the response over if its node dies mid-stream (api.Resume): the
// response id, its creation time, the text sent, and whether it ended.
// Only whole events reach the client, so a continuation never follows
// half an event.

// errClientGone: writing to the client failed; nothing more to do.
var errClientGone = errors.New("gateway: the client went away")

// tracker copies one streamed response to the client.
type tracker struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	sse     bool         // OpenAI's server-sent events; otherwise Ollama's NDJSON
	pending bytes.Buffer // the start of an event not yet whole

	events   int // whole events sent to the client
	id       string
	created  int64
	text     strings.Builder
	finished bool          // a finish reason or done:true went out
	closed   bool          // [DONE] (SSE) or the done line (NDJSON) went out
	errored  bool          // the serving node reported an error in-band
	stall    time.Duration // each write's deadline (0: none)
}

// newTracker returns a tracker for a response with the given content
// type, or nil if it is not a stream this package can follow.
func newTracker(w http.ResponseWriter, contentType string) *tracker {
	ct, _, _ := strings.Cut(contentType, ";")
	switch strings.TrimSpace(ct) {
	case "text/event-stream":
		return &tracker{w: w, rc: http.NewResponseController(w), sse: true}
	case "application/x-ndjson":
		return &tracker{w: w, rc: http.NewResponseController(w)}
	}
	return nil
}

// write takes the next bytes of the stream, sending every event they
// complete.
func (t *tracker) write(p []byte) error {
	t.pending.Write(p)
	sep := []byte("\n")
	if t.sse {
		sep = []byte("\n\n")
	}
	for {
		buf := t.pending.Bytes()
		i := bytes.Index(buf, sep)
		if i < 0 {
			return nil
		}
		ev := buf[:i+len(sep)]
		t.observe(ev)
		t.events++
		if t.stall > 0 {
			// A client that stops reading is given up on (api.Config.StallTimeout).
			_ = t.rc.SetWriteDeadline(time.Now().Add(t.stall))
		}
		if _, err := t.w.Write(ev); err != nil {
			return fmt.Errorf("%w: %v", errClientGone, err)
		}
		t.pending.Next(len(ev))
		if t.pending.Len() == 0 {
			if err := t.rc.Flush(); err != nil {
				return fmt.Errorf("%w: %v", errClientGone, err)
			}
		}
	}
}

// event is the union of the fields the gateway reads from a stream's
// events: OpenAI's chat and completion chunks, Ollama's chat and
// generate lines, and the error objects of both.
type event struct {
	ID      string `json:"id"`
	Created int64  `json:"created"`
	Choices []struct {
		Text  string `json:"text"`
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Message struct {
		Content string `json:"content"`
	} `json:"message"`
	Response string          `json:"response"`
	Done     bool            `json:"done"`
	Error    json.RawMessage `json:"error"`
}

// observe updates what the client has received with one event.
func (t *tracker) observe(raw []byte) {
	line := bytes.TrimSpace(raw)
	if t.sse {
		data, ok := bytes.CutPrefix(line, []byte("data:"))
		if !ok {
			return // a comment or another field: not part of the response
		}
		line = bytes.TrimSpace(data)
		if string(line) == "[DONE]" {
			t.closed = true
			return
		}
	}
	var ev event
	if json.Unmarshal(line, &ev) != nil {
		return
	}
	if len(ev.Error) > 0 && string(ev.Error) != "null" {
		t.errored = true
		return
	}
	if t.id == "" {
		t.id, t.created = ev.ID, ev.Created
	}
	for _, c := range ev.Choices {
		t.text.WriteString(c.Text)
		t.text.WriteString(c.Delta.Content)
		if c.FinishReason != nil {
			t.finished = true
		}
	}
	t.text.WriteString(ev.Message.Content)
	t.text.WriteString(ev.Response)
	if ev.Done {
		t.finished, t.closed = true, true
	}
}

// resumable reports whether another node can take the response over: it
// has not ended, and its node did not report an error of its own.
func (t *tracker) resumable() bool { return !t.finished && !t.errored }

// begun reports whether any of the response's events reached the client;
// if none did, another node can simply answer it afresh.
func (t *tracker) begun() bool { return t.events > 0 }

// resume describes the response so far for the node taking it over.
// Bytes of an event that was not whole are dropped: the client never saw
// them.
func (t *tracker) resume() api.Resume {
	t.pending.Reset()
	return api.Resume{ID: t.id, Created: t.created, Text: t.text.String()}
}

// end closes a stream whose last node ended it after its finish reason
// but before its terminator: the client gets the terminator.
func (t *tracker) end() {
	if t.finished && !t.closed && t.sse {
		t.closed = true
		t.w.Write([]byte("data: [DONE]\n\n"))
		t.rc.Flush()
	}
}

// fail ends a stream no node could finish with an in-band error, in the
// shape the client's SDK raises. (Its status went out with the stream's
// first event, so the refusal has none.)
func (t *tracker) fail(code string, err error) {
	t.w.Write(api.ErrorEvent(refusal(0, code, err), t.sse))
	t.rc.Flush()
}
