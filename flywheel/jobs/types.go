package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/tenant"
)

// Trainer trains one adapter (flywheel/finetune's Run does). Spec,
// Progress and Result have finetune's fields in finetune's order, so its
// values convert with a type conversion.
type Trainer interface {
	// Train trains as s says, calling progress after every step. It
	// resumes from the newest checkpoint in s.Dir, if any. When ctx is
	// cancelled it stops at a step boundary and returns ctx.Err(), its
	// checkpoints intact.
	Train(ctx context.Context, s Spec, progress func(Progress)) (*Result, error)
}

// Spec is one training run.
type Spec struct {
	BasePath    string // the base model's GGUF file
	Train, Eval []dataset.Example
	Hyper       Hyper
	Threads     int    // the job's thread budget
	Dir         string // the job's directory: checkpoints, log, adapter
}

// Hyper are a run's hyper-parameters; a zero field is the trainer's
// default.
type Hyper struct {
	Rank            int      `json:"rank"`
	Alpha           float64  `json:"alpha"`
	Dropout         float64  `json:"dropout"`
	Targets         []string `json:"targets"`
	Epochs          int      `json:"epochs"`
	LR              float64  `json:"lr"`
	Batch           int      `json:"batch"`
	Seq             int      `json:"seq"`
	Warmup          int      `json:"warmup"`
	Clip            float64  `json:"clip"`
	WeightDecay     float64  `json:"weight_decay"`
	Seed            uint64   `json:"seed"`
	CheckpointEvery int      `json:"checkpoint_every"`
}

// Progress is what the trainer reports after a step.
type Progress struct {
	Step, Steps  int
	Epoch        float64
	Loss, LR     float64
	Tokens       int64
	TokensPerSec float64
	Elapsed, ETA time.Duration
	Checkpoint   bool // a checkpoint was written at this step
}

// Result is a finished run.
type Result struct {
	Adapter   string // the adapter GGUF file, in Spec.Dir
	Steps     int
	Tokens    int64
	TrainLoss float64
	EvalLoss  float64
}

// Registry keeps the adapters jobs train (flywheel/registry does).
type Registry interface {
	// Register stores the adapter as the tenant's and returns its
	// NAME@VERSION.
	Register(ctx context.Context, a Adapter) (string, error)
}

// Adapter is a trained adapter with its lineage, for the Registry.
type Adapter struct {
	TenantID string
	Name     string // the suffix, or the base model's name
	Path     string // the GGUF file; the registry copies what it keeps
	Base     string // the base model's name
	BasePath string
	JobID    string
	// Dataset and DatasetVersion are set when the job trained on a
	// dataset version; TrainingFile otherwise.
	Dataset        string
	DatasetVersion int
	// DatasetHash is the content hash (dataset.Version.ContentHash) of
	// the dataset version as the run read it, so that an erasure that
	// reached the version while it trained still marks the adapter.
	DatasetHash  string
	TrainingFile string
	Hyper        Hyper
	Result       Result
}

// Models finds a base model's file by the name a client gives (the
// node's runner does).
type Models interface {
	Path(name string) (string, error)
}

// Datasets reads a tenant's dataset versions (dataset.Store does).
type Datasets interface {
	Get(ctx context.Context, tenantID, name string, version int) (*dataset.Version, error)
}

// Keys makes sure a tenant has a capture data key before anything is
// sealed under it (capture.Store does).
type Keys interface {
	EnsureKey(ctx context.Context, tenantID string) error
}

// Auditor appends audit records (audit.Log does).
type Auditor interface {
	Append(ctx context.Context, r audit.Record) (audit.Record, error)
}

// KindFineTuning is the audit record kind of files and jobs.
const KindFineTuning = "fine_tuning"

// Owner is who acts: the tenant and the key of the request.
type Owner struct {
	Tenant tenant.Tenant
	KeyID  string
}

// Job statuses, OpenAI's.
const (
	StatusValidating = "validating_files"
	StatusQueued     = "queued"
	StatusRunning    = "running"
	StatusSucceeded  = "succeeded"
	StatusFailed     = "failed"
	StatusCancelled  = "cancelled"
)

// finished reports whether a job in status s is over.
func finished(s string) bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCancelled
}

// PurposeFineTune is the only file purpose this node keeps.
const PurposeFineTune = "fine-tune"

// File is an uploaded training file (its content is not in it).
type File struct {
	ID       string
	TenantID string
	Filename string
	Purpose  string
	Bytes    int64
	Examples int
	SHA256   string
	Created  time.Time
}

// Params are a job's hyper-parameters as the client asked for them: a
// zero field is "auto" (the trainer's default). The first three are
// OpenAI's; the rest are Hearth's LoRA settings.
type Params struct {
	Epochs       int      `json:"n_epochs,omitempty"`
	Batch        int      `json:"batch_size,omitempty"`
	LRMultiplier float64  `json:"learning_rate_multiplier,omitempty"`
	Rank         int      `json:"rank,omitempty"`
	Alpha        float64  `json:"alpha,omitempty"`
	Dropout      float64  `json:"dropout,omitempty"`
	Targets      []string `json:"targets,omitempty"`
	Seq          int      `json:"seq,omitempty"`
}

// JobError is why a job failed.
type JobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Param   string `json:"param,omitempty"`
}

// Job is a fine-tuning job.
type Job struct {
	ID             string
	TenantID       string
	KeyID          string
	Model          string
	TrainingFile   string
	ValidationFile string
	Params         Params
	Seed           int64
	Suffix         string
	Metadata       map[string]string
	Status         string
	Created        time.Time
	Finished       time.Time // zero until finished
	FineTunedModel string    // the adapter's NAME@VERSION once registered
	TrainedTokens  int64
	Error          *JobError
	// EstimatedFinish is the trainer's estimate while running.
	EstimatedFinish time.Time
}

// Event types and levels, OpenAI's.
const (
	EventMessage = "message"
	EventMetrics = "metrics"

	LevelInfo  = "info"
	LevelWarn  = "warn"
	LevelError = "error"
)

// Event is one entry of a job's event log.
type Event struct {
	ID      string
	JobID   string
	Created time.Time
	Level   string
	Type    string
	Message string
	Data    map[string]any // metrics events: step, train_loss, learning_rate, ...
}

// Checkpoint is a checkpoint a job's trainer wrote.
type Checkpoint struct {
	ID      string
	JobID   string
	Created time.Time
	Step    int
	Metrics map[string]float64 // step, train_loss
	// Model names the checkpoint: the job's model name with ":ckpt-step-N".
	Model string
}

// Page is where a listing starts and how long it is: the items after the
// one with id After (newest first), at most Limit of them.
type Page struct {
	After string
	Limit int // 0: DefaultLimit; at most MaxLimit
}

// Listing bounds.
const (
	DefaultLimit = 20
	MaxLimit     = 1000
)

// Errors. A *ParamError matches ErrInvalid.
var (
	ErrNotFound = errors.New("not found")
	ErrInvalid  = errors.New("invalid request")
	// ErrResidency: the tenant's data may not be kept or trained on here.
	ErrResidency = errors.New("not in the tenant's home jurisdiction")
	// ErrTooLarge: a file over Config.MaxFileBytes.
	ErrTooLarge = errors.New("file too large")
	// ErrBusy: the tenant has Config.MaxUnfinished jobs not yet finished.
	ErrBusy = errors.New("too many unfinished jobs")
	// ErrNoTrainer: the node was built without a trainer.
	ErrNoTrainer = errors.New("fine-tuning is not available on this node: it has no trainer")
	// ErrFinished: the job is over and cannot be cancelled.
	ErrFinished = errors.New("job already finished")
)

// ParamError is a bad request field.
type ParamError struct {
	Param   string // the request field at fault, in OpenAI's terms
	Message string
}

func (e *ParamError) Error() string        { return e.Message }
func (e *ParamError) Is(target error) bool { return target == ErrInvalid }

func paramErr(param, format string, args ...any) error {
	return &ParamError{Param: param, Message: fmt.Sprintf(format, args...)}
}
