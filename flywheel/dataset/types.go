package dataset

import (
	"context"
	"errors"
	"time"
)

// Message is one turn of a conversation, as in OpenAI's chat format.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Interaction is one captured request and response with the feedback given
// on it: the input of Build.
//
// Feedback comes on two scales. Rating is stars, 1..5 (0: none). Thumb is
// +1 (up) or -1 (down) (0: none). They are kept apart because a single
// integer cannot tell a thumbs-up (+1) from one star (1). When both are
// set, Rating wins. See Score for how they compare with MinRating.
type Interaction struct {
	ResponseID string    `json:"response_id"`
	EndUser    string    `json:"end_user,omitempty"`
	Model      string    `json:"model,omitempty"`
	Messages   []Message `json:"messages"` // the prompt as sent: system, user and earlier assistant turns
	Output     string    `json:"output"`   // the model's answer
	Rating     int       `json:"rating,omitempty"`
	Thumb      int       `json:"thumb,omitempty"`
	Correction string    `json:"correction,omitempty"` // a better answer given by a person; replaces Output
	Tags       []string  `json:"tags,omitempty"`
	Time       time.Time `json:"time,omitzero"`
}

// Source supplies a tenant's interactions to Build. flywheel.Stores.Source
// adapts the capture store to it; Static serves a fixed list.
type Source interface {
	Interactions(ctx context.Context, tenantID string) ([]Interaction, error)
}

// Static is a Source holding a fixed list of interactions, whatever the
// tenant asked for: for a file given on the command line, and for tests.
type Static []Interaction

// Interactions returns the list.
func (s Static) Interactions(context.Context, string) ([]Interaction, error) { return s, nil }

// Splits.
const (
	Train = "train"
	Eval  = "eval"
)

// Origins of a version.
const (
	OriginBuild  = "build"
	OriginImport = "import"
)

// Example is one conversation of a dataset: the prompt and the final
// assistant answer.
type Example struct {
	ResponseID string    `json:"response_id,omitempty"` // lineage; empty for imported examples
	Split      string    `json:"split"`
	Messages   []Message `json:"messages"`
	Lang       string    `json:"lang"`             // detected language, "und" if unknown
	Chars      int       `json:"chars"`            // characters (runes) of all contents
	Rating     int       `json:"rating,omitempty"` // Score of the feedback, 1..5; 0 none
	Corrected  bool      `json:"corrected,omitempty"`
}

// Version is one version of a named dataset. List fills everything but
// Train, Eval and Lineage; Get fills all.
type Version struct {
	TenantID string    `json:"tenant_id"`
	Name     string    `json:"name"`
	Version  int       `json:"version"`
	Created  time.Time `json:"created"`
	Origin   string    `json:"origin"`            // OriginBuild or OriginImport
	Options  *Options  `json:"options,omitempty"` // resolved options of a build; nil for an import
	Report   Report    `json:"report"`
	Removed  int       `json:"removed"` // examples erased since, along lineage

	TrainCount int `json:"train_count"`
	EvalCount  int `json:"eval_count"`

	Train   []Example `json:"train,omitempty"`
	Eval    []Example `json:"eval,omitempty"`
	Lineage []string  `json:"lineage,omitempty"` // sorted response ids the examples came from
}

// Report counts what a build (or import) considered and why it left
// interactions out. Each interaction is counted once, under the first
// filter that dropped it, in the order of the fields.
type Report struct {
	Considered      int `json:"considered"`
	Invalid         int `json:"invalid"`          // no response id, repeated id, bad roles, no user turn, empty answer, rating out of range
	Unrated         int `json:"unrated"`          // no feedback and no correction
	LowRating       int `json:"low_rating"`       // Score below MinRating and not corrected
	TooShort        int `json:"too_short"`        // fewer than MinChars
	TooLong         int `json:"too_long"`         // more than MaxChars
	WrongLanguage   int `json:"wrong_language"`   // not one of Languages
	ExactDuplicates int `json:"exact_duplicates"` // same conversation as a kept example
	NearDuplicates  int `json:"near_duplicates"`  // Jaccard >= NearDup with a kept example
	Kept            int `json:"kept"`
}

// Errors.
var (
	ErrNotFound = errors.New("dataset: not found")
	ErrEmpty    = errors.New("dataset: no examples")
	ErrInvalid  = errors.New("dataset: invalid")
)
