package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// streamWriter writes one streamed response: server-sent events for
// OpenAI's API, newline-delimited JSON for Ollama's. Headers are sent with
// the first event, not before, so an error that happens before any output
// (overload, a prompt too long) still gets its proper HTTP status.
//
// Each write must reach the client within stall (Config.StallTimeout): a
// client that stops reading would otherwise hold its connection, its
// handler and its generation's tokens for as long as it likes.
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	sse     bool
	started bool
	stall   time.Duration
}

func (s *Server) newSSE(w http.ResponseWriter) *streamWriter {
	return &streamWriter{w: w, rc: http.NewResponseController(w), sse: true, stall: s.stall()}
}

func (s *Server) newNDJSON(w http.ResponseWriter) *streamWriter {
	return &streamWriter{w: w, rc: http.NewResponseController(w), stall: s.stall()}
}

// errClientGone marks a failed write to the client: it stopped reading
// (StallTimeout) or went away. It is the client's doing, not the node's
// (499, not an error in the logs).
var errClientGone = errors.New("the client stopped reading or went away")

func (s *streamWriter) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	if s.sse {
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("Connection", "keep-alive")
	} else {
		h.Set("Content-Type", "application/x-ndjson")
	}
	// Ask reverse proxies (nginx) not to buffer the stream.
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
}

// send writes v as one event and flushes it to the client.
func (s *streamWriter) send(v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode stream event: %w", err)
	}
	return s.raw(frame(data, s.sse))
}

// done ends an SSE stream the way OpenAI's does.
func (s *streamWriter) done() error {
	return s.raw(doneEvent)
}

// doneEvent is the SSE stream's last event.
var doneEvent = []byte("data: [DONE]\n\n")

// frame makes one JSON value an event: a server-sent event when sse,
// else an NDJSON line.
func frame(data []byte, sse bool) []byte {
	if !sse {
		return append(data, '\n')
	}
	out := make([]byte, 0, len("data: ")+len(data)+len("\n\n"))
	out = append(out, "data: "...)
	out = append(out, data...)
	return append(out, "\n\n"...)
}

func (s *streamWriter) raw(event []byte) error {
	s.start()
	if s.stall > 0 {
		// Not supported by every writer (a test recorder, the fabric's
		// stream, which has its own flow control): then none applies.
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.stall))
	}
	if _, err := s.w.Write(event); err != nil {
		return fmt.Errorf("write stream: %w: %w", errClientGone, err)
	}
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("flush stream: %w: %w", errClientGone, err)
	}
	return nil
}

// fail reports err on a stream. Before the first event it is an ordinary
// error response (the caller returns it); afterwards the status is
// already 200, so the error goes in-band as a last event: OpenAI's error
// object for SSE (which OpenAI's SDKs raise) and {"error": ...} for
// NDJSON (which Ollama's clients raise).
func (s *streamWriter) fail(err error, param string) error {
	ae := classify(err, param)
	if !s.started || ae.Status == statusClientClosed {
		return ae // not started: an ordinary error response; closed: nobody to tell
	}
	s.raw(errorEvent(ae, s.sse))
	return ae
}

// ErrorEvent is err as the last event of a stream whose status has gone
// out already: OpenAI's error object as a server-sent event when sse,
// else Ollama's {"error": ...} line, classified as WriteError does.
func ErrorEvent(err error, sse bool) []byte { return errorEvent(classify(err, ""), sse) }

func errorEvent(ae *Error, sse bool) []byte {
	fam := familyOpenAI
	if !sse {
		fam = familyOllama
	}
	data, _ := json.Marshal(ae.body(fam)) // a struct of strings: cannot fail
	return frame(data, sse)
}
