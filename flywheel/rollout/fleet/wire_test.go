package fleet

import (
	"errors"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/internal/testfixture"
)

// TestFrames: the payloads and answers in testdata, the wire format
// nodes of every version share, decode to the values they mean, and
// those values encode to the same bytes.
func TestFrames(t *testing.T) {
	const id = "ro_5b1f0c2a9e7d4f36"
	testfixture.Frames(t, "testdata", map[string]any{
		"state.json": &stateMsg{Tenant: "acme", States: []State{
			{ID: id, Model: "stories260k", Stable: "stories260k", Candidate: "stories260k:support@3", State: "live", Share: 10, Seq: 42},
			{ID: "ro_0a6c", Model: "smollm", Stable: "smollm", Candidate: "smollm:faq@1", State: "promoted", Share: 100, Seq: 17}}},
		"state-rolled-back.json": &stateMsg{Tenant: "acme", States: []State{
			{ID: id, Model: "stories260k", Stable: "stories260k", Candidate: "stories260k:support@3", State: "rolled_back", Seq: 45}}},
		"observe.json": &observeMsg{Tenant: "acme", Observations: []Observation{
			{Rollout: id, Arm: "candidate", Share: 10, Seconds: 0.25, ResponseID: "chatcmpl-7f3a"},
			{Rollout: id, Arm: "stable", Share: 10, Failed: true, Seconds: 1.5}}},
		"answer-ok.json":             &answer{},
		"answer-counted.json":        &answer{Counted: 2},
		"answer-not-home.json":       &answer{Error: codeNotHome, Message: "node n_ke is in KE, not tenant acme's home (NG)"},
		"answer-not-permitted.json":  &answer{Error: codeNotPermitted, Message: "tenant acme may not be served in GH, where node n_gh is"},
		"answer-unknown-tenant.json": &answer{Error: codeNoTenant, Message: `no tenant "acme" on this node`},
		"answer-invalid.json":        &answer{Error: codeInvalid, Message: "state ro_1: share 101: want 0 to 100"},
	})
}

// TestAnswers: a refusal reads back as an error naming its code and
// message, which the sender does not retry; an empty or counted answer
// is none; a torn one is an error too.
func TestAnswers(t *testing.T) {
	for _, tt := range []struct {
		reply   string
		wantErr string // "" for none
	}{
		{`{}`, ""},
		{`{"counted":3}`, ""},
		{`{"error":"not_home","message":"node n_ke is in KE"}`, "not_home: node n_ke is in KE"},
		{`{"error":"new_code","message":"m"}`, "new_code: m"},
		{`{`, "does not decode"},
	} {
		err := readAnswer([]byte(tt.reply), nil)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.reply, err)
		case tt.wantErr != "" && (err == nil || !errors.Is(err, errRefused) || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: %v; want a refusal naming %q", tt.reply, err, tt.wantErr)
		}
	}
}

// TestChecks: a state or an observation with a field out of bounds is
// refused, naming the field.
func TestChecks(t *testing.T) {
	good := State{ID: "ro_1", Model: "m", Stable: "m", Candidate: "m:a@1", State: "live", Share: 10, Seq: 1}
	long := strings.Repeat("x", maxNameBytes+1)
	for _, tt := range []struct {
		name string
		edit func(*State)
		want string
	}{
		{"no id", func(s *State) { s.ID = "" }, "id"},
		{"long id", func(s *State) { s.ID = long }, "id"},
		{"no candidate", func(s *State) { s.Candidate = "" }, "required"},
		{"long model", func(s *State) { s.Model = long }, "at most"},
		{"share 101", func(s *State) { s.Share = 101 }, "share 101"},
		{"share -1", func(s *State) { s.Share = -1 }, "share -1"},
		{"negative seq", func(s *State) { s.Seq = -1 }, "seq"},
		{"unknown state", func(s *State) { s.State = "paused" }, `"paused"`},
	} {
		s := good
		tt.edit(&s)
		if err := s.check(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("state, %s: %v; want an error naming %q", tt.name, err, tt.want)
		}
	}
	if err := good.check(); err != nil {
		t.Errorf("a good state: %v", err)
	}
	obs := Observation{Rollout: "ro_1", Arm: "candidate", Share: 10, Seconds: 0.5, ResponseID: "chatcmpl-1"}
	for _, tt := range []struct {
		name string
		edit func(*Observation)
		want string
	}{
		{"no rollout", func(o *Observation) { o.Rollout = "" }, "rollout"},
		{"no such arm", func(o *Observation) { o.Arm = "both" }, `"both"`},
		{"share 200", func(o *Observation) { o.Share = 200 }, "share 200"},
		{"negative seconds", func(o *Observation) { o.Seconds = -1 }, "seconds"},
		{"a year", func(o *Observation) { o.Seconds = 365 * 24 * 3600 }, "seconds"},
		{"long response id", func(o *Observation) { o.ResponseID = long }, "response id"},
	} {
		o := obs
		tt.edit(&o)
		if err := o.check(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("observation, %s: %v; want an error naming %q", tt.name, err, tt.want)
		}
	}
	if err := obs.check(); err != nil {
		t.Errorf("a good observation: %v", err)
	}
}
