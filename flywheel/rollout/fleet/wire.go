package fleet

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/hearth-ai/hearth/flywheel/rollout"
)

// The JSON below is the wire format nodes of every version share: field
// names and codes must not change (testdata holds each frame, and the
// tests decode them and encode them back to the same bytes).

// Delivery kinds.
const (
	KindState   = "rollout-state"
	KindObserve = "rollout-observe"
)

// Bounds a node holds every delivery to before it reads one entry.
const (
	// MaxStates is how many deployments one state delivery may carry:
	// one tenant's, every one of them.
	MaxStates = 1000
	// MaxBatch is how many observations one observe delivery may carry,
	// well inside one NATS message.
	MaxBatch = 500
	// maxNameBytes bounds the names a state carries, as the API bounds
	// model names; maxIDBytes rollout and response ids.
	maxNameBytes = 256
	maxIDBytes   = 128
	// maxSeconds is the longest request an observation may report.
	maxSeconds = 24 * 3600
)

// State is one deployment's latest rollout as its home tells the fleet.
type State struct {
	ID        string `json:"id"`
	Model     string `json:"model"`
	Stable    string `json:"stable"`
	Candidate string `json:"candidate"`
	State     string `json:"state"`
	Share     int    `json:"share"`
	Seq       int64  `json:"seq"`
}

// stateMsg is a state delivery's payload: every deployment of one tenant
// (by name: ids differ from node to node) with a rollout at the sender.
type stateMsg struct {
	Tenant string  `json:"tenant"`
	States []State `json:"states"`
}

// Observation is one request's outcome on another node, for its arm.
type Observation struct {
	Rollout    string  `json:"rollout"`
	Arm        string  `json:"arm"`
	Share      int     `json:"share"` // the share it was picked at
	Failed     bool    `json:"failed,omitempty"`
	Seconds    float64 `json:"seconds"`
	ResponseID string  `json:"response_id,omitempty"`
}

// observeMsg is an observe delivery's payload.
type observeMsg struct {
	Tenant       string        `json:"tenant"`
	Observations []Observation `json:"observations"`
}

// answer is the reply to both kinds: an error code and message, or, for
// observations, how many counted (the rest were for rollouts no longer
// under way).
type answer struct {
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
	Counted int    `json:"counted,omitempty"`
}

// Error codes of answer.
const (
	codeInvalid      = "invalid"
	codeNoTenant     = "unknown_tenant"
	codeNotHome      = "not_home"
	codeNotPermitted = "not_permitted"
)

func refusal(code, format string, args ...any) ([]byte, error) {
	return json.Marshal(answer{Error: code, Message: fmt.Sprintf(format, args...)})
}

// check validates a state before it is kept.
func (s State) check() error {
	switch {
	case s.ID == "" || len(s.ID) > maxIDBytes:
		return fmt.Errorf("state: id %q: want 1 to %d bytes", clip(s.ID), maxIDBytes)
	case s.Model == "" || s.Stable == "" || s.Candidate == "":
		return fmt.Errorf("state %s: model, stable and candidate are required", s.ID)
	case len(s.Model) > maxNameBytes || len(s.Stable) > maxNameBytes || len(s.Candidate) > maxNameBytes:
		return fmt.Errorf("state %s: model, stable and candidate have at most %d bytes", s.ID, maxNameBytes)
	case s.Share < 0 || s.Share > 100:
		return fmt.Errorf("state %s: share %d: want 0 to 100", s.ID, s.Share)
	case s.Seq < 0:
		return fmt.Errorf("state %s: seq %d is negative", s.ID, s.Seq)
	}
	switch s.State {
	case rollout.StateEvaluating, rollout.StateLive, rollout.StatePromoted, rollout.StateRolledBack:
		return nil
	}
	return fmt.Errorf("state %s: state %q is none of evaluating, live, promoted, rolled_back", s.ID, clip(s.State))
}

// check validates an observation before it is counted.
func (o Observation) check() error {
	switch {
	case o.Rollout == "" || len(o.Rollout) > maxIDBytes:
		return fmt.Errorf("observation: rollout %q: want 1 to %d bytes", clip(o.Rollout), maxIDBytes)
	case o.Arm != rollout.ArmStable && o.Arm != rollout.ArmCandidate:
		return fmt.Errorf("observation of %s: arm %q is neither stable nor candidate", o.Rollout, clip(o.Arm))
	case o.Share < 0 || o.Share > 100:
		return fmt.Errorf("observation of %s: share %d: want 0 to 100", o.Rollout, o.Share)
	case math.IsNaN(o.Seconds) || o.Seconds < 0 || o.Seconds > maxSeconds:
		return fmt.Errorf("observation of %s: seconds %v: want 0 to %d", o.Rollout, o.Seconds, maxSeconds)
	case len(o.ResponseID) > maxIDBytes:
		return fmt.Errorf("observation of %s: response id of %d bytes, more than %d", o.Rollout, len(o.ResponseID), maxIDBytes)
	}
	return nil
}

// clip shortens text from another node for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
