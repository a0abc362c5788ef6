package relay

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hearth-ai/hearth/admin"
	"github.com/hearth-ai/hearth/capture"
)

// The JSON below is the wire format nodes of every version share: field
// names, codes and the erasure answer's free-text error must not change
// (testdata holds the frames a node of the previous version sends, and
// the tests decode them).

// Delivery kinds.
const (
	KindCapture  = "capture"
	KindFeedback = "feedback"
	KindErase    = "capture-erase"
)

// captureMsg is a capture delivery's payload.
type captureMsg struct {
	Tenant    string            `json:"tenant"` // name
	Forwarded capture.Forwarded `json:"forwarded"`
}

// feedbackMsg is a feedback delivery's payload.
type feedbackMsg struct {
	Tenant   string           `json:"tenant"` // name
	Feedback capture.Feedback `json:"feedback"`
}

// captureAnswer is the home node's reply to a capture or feedback
// delivery: an error code the sender maps back to capture's errors, or
// the feedback as recorded.
type captureAnswer struct {
	Error    string            `json:"error,omitempty"`
	Message  string            `json:"message,omitempty"`
	Feedback *capture.Feedback `json:"feedback,omitempty"`
}

// eraseMsg is an erasure delivery's payload: the tenant by name (ids
// differ from node to node) and what to erase.
type eraseMsg struct {
	Tenant string             `json:"tenant"`
	Req    admin.EraseRequest `json:"request"`
}

// eraseAnswer is a node's reply to an erasure delivery. Its error is free
// text, shown to the administrator in the erasure report.
type eraseAnswer struct {
	Erased int    `json:"erased"`
	Error  string `json:"error,omitempty"`
}

// Error codes of captureAnswer.
const (
	codeNotFound   = "not_found"
	codeInvalid    = "invalid"
	codeNotHome    = "not_home"
	codeNotAllowed = "not_allowed"
	codeNoTenant   = "unknown_tenant"
)

// codes maps capture's errors to answer codes and back: the first code
// of an error is what a home node sends; the first error of a code is
// what the sender gets. codeNoTenant is not here: a home node sends it
// for a name it does not know (lookup), not for an error, and readAnswer
// reads it as ErrNotFound.
var codes = []struct {
	code string
	err  error
}{
	{codeNotFound, capture.ErrNotFound},
	{codeNotFound, capture.ErrKeyDeleted},
	{codeInvalid, capture.ErrInvalid},
	{codeNotHome, capture.ErrNotHome},
	{codeNotAllowed, capture.ErrNotAllowed},
}

// refuse is the answer for a capture error with a code. An error with no
// code is returned as is: it is the handler's, and reaches the sender as
// a fabric handler error.
func refuse(err error) ([]byte, error) {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return refusal(c.code, err.Error())
		}
	}
	return nil, err
}

// refusal is an answer with code and message.
func refusal(code, message string) ([]byte, error) {
	return json.Marshal(captureAnswer{Error: code, Message: message})
}

// readAnswer decodes a home node's answer, its error code as capture's
// error.
func readAnswer(node string, payload []byte) (captureAnswer, error) {
	var a captureAnswer
	if err := json.Unmarshal(payload, &a); err != nil {
		return a, fmt.Errorf("capture forward: node %s's answer does not decode: %w", node, err)
	}
	if a.Error == "" {
		return a, nil
	}
	if a.Error == codeNoTenant {
		return a, fmt.Errorf("%w: node %s: %s", capture.ErrNotFound, node, a.Message)
	}
	for _, c := range codes {
		if c.code == a.Error {
			return a, fmt.Errorf("%w (said node %s): %s", c.err, node, a.Message)
		}
	}
	return a, fmt.Errorf("capture forward: node %s: %s: %s", node, a.Error, a.Message)
}

// eraseReply is the answer to an erasure delivery: n erased, or err's
// text.
func eraseReply(n int, err error) ([]byte, error) {
	a := eraseAnswer{Erased: n}
	if err != nil {
		a = eraseAnswer{Error: err.Error()}
	}
	return json.Marshal(a)
}

// readEraseAnswer decodes a node's answer to an erasure delivery; a
// failure the node reports is its text in msg, not an error.
func readEraseAnswer(payload []byte) (erased int, msg string, err error) {
	var a eraseAnswer
	if err := json.Unmarshal(payload, &a); err != nil {
		return 0, "", errors.New("the node's answer does not decode")
	}
	return a.Erased, a.Error, nil
}
