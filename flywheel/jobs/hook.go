package jobs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/hearth-ai/hearth/access"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/tenant"
)

// Hook serves a Manager to the API: it implements api.FineTuner for the
// caller in the request's context (tenant.PrincipalFrom, where the gate
// put it). A key needs the inference scope: who may run the tenant's
// models may train them. A request without a principal is a node with no
// tenants serving its own machine, and acts as tenant "local".
type Hook struct{ m *Manager }

var _ api.FineTuner = Hook{}

// NewHook returns the API hook of m.
func NewHook(m *Manager) Hook { return Hook{m} }

// owner is the request's tenant and key.
func owner(ctx context.Context) (Owner, error) {
	p, ok := tenant.PrincipalFrom(ctx)
	if !ok {
		return Owner{Tenant: tenant.Tenant{ID: access.LocalTenant, Name: access.LocalTenant}}, nil
	}
	if !p.Has(tenant.ScopeInference) {
		return Owner{}, fmt.Errorf("%w: this key has no %q scope, which fine-tuning needs", api.ErrForbidden, tenant.ScopeInference)
	}
	return Owner{Tenant: p.Tenant, KeyID: p.Key.ID}, nil
}

// apiError is err in the API's vocabulary.
func apiError(err error) error {
	var pe *ParamError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pe):
		return &api.Error{Status: http.StatusBadRequest, Type: api.TypeInvalidRequest, Code: "invalid_value", Param: pe.Param, Message: pe.Message}
	case errors.Is(err, ErrNotFound):
		return &api.Error{Status: http.StatusNotFound, Type: api.TypeNotFound, Code: "not_found", Message: err.Error()}
	case errors.Is(err, ErrResidency):
		return api.Refusal(api.ErrForbidden, err.Error())
	case errors.Is(err, ErrTooLarge):
		return &api.Error{Status: http.StatusRequestEntityTooLarge, Type: api.TypeInvalidRequest, Code: "file_too_large", Param: "file", Message: err.Error()}
	case errors.Is(err, ErrBusy):
		return &api.Error{Status: http.StatusTooManyRequests, Type: api.TypeRateLimit, Code: "too_many_jobs", Message: err.Error()}
	case errors.Is(err, ErrFinished):
		return &api.Error{Status: http.StatusBadRequest, Type: api.TypeInvalidRequest, Code: "job_finished", Message: err.Error()}
	case errors.Is(err, ErrNoTrainer):
		return &api.Error{Status: http.StatusNotImplemented, Type: api.TypeServer, Code: "not_implemented", Message: err.Error()}
	case errors.Is(err, audit.ErrUnavailable):
		return fmt.Errorf("%w: %w", api.ErrUnavailable, err)
	}
	return err
}

// call runs do for the request's owner.
func call[T any](ctx context.Context, do func(Owner) (T, error)) (T, error) {
	o, err := owner(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := do(o)
	return v, apiError(err)
}

func page2(p api.ListPage) Page { return Page{After: p.After, Limit: p.Limit} }

// mapped converts a listing.
func mapped[T, U any](list []T, more bool, err error, f func(T) U) ([]U, bool, error) {
	if err != nil {
		return nil, false, err
	}
	out := make([]U, len(list))
	for i, v := range list {
		out[i] = f(v)
	}
	return out, more, nil
}

type listing[T any] struct {
	items []T
	more  bool
}

func (h Hook) UploadFile(ctx context.Context, f api.FileUpload) (api.FileObject, error) {
	return call(ctx, func(o Owner) (api.FileObject, error) {
		x, err := h.m.UploadFile(ctx, o, f.Filename, f.Purpose, f.Content)
		return fileObject(x), err
	})
}

func (h Hook) Files(ctx context.Context, purpose string, p api.ListPage) ([]api.FileObject, bool, error) {
	l, err := call(ctx, func(o Owner) (listing[File], error) {
		items, more, err := h.m.Files(ctx, o, purpose, page2(p))
		return listing[File]{items, more}, err
	})
	return mapped(l.items, l.more, err, fileObject)
}

func (h Hook) File(ctx context.Context, id string) (api.FileObject, error) {
	return call(ctx, func(o Owner) (api.FileObject, error) {
		x, err := h.m.File(ctx, o, id)
		return fileObject(x), err
	})
}

func (h Hook) DeleteFile(ctx context.Context, id string) error {
	_, err := call(ctx, func(o Owner) (struct{}, error) { return struct{}{}, h.m.DeleteFile(ctx, o, id) })
	return err
}

func (h Hook) CreateJob(ctx context.Context, r api.FineTuningRequest) (api.FineTuningJob, error) {
	return call(ctx, func(o Owner) (api.FineTuningJob, error) {
		hp := r.Hyper
		j, err := h.m.Create(ctx, o, CreateRequest{Model: r.Model, TrainingFile: r.TrainingFile, ValidationFile: r.ValidationFile,
			Params: Params{Epochs: hp.NEpochs, Batch: hp.BatchSize, LRMultiplier: hp.LearningRateMultiplier, Rank: hp.Rank, Alpha: hp.Alpha,
				Dropout: hp.Dropout, Targets: hp.Targets, Seq: hp.Seq},
			Seed: r.Seed, Suffix: r.Suffix, Metadata: r.Metadata})
		return jobObject(o, j), err
	})
}

func (h Hook) Jobs(ctx context.Context, p api.ListPage) ([]api.FineTuningJob, bool, error) {
	var who Owner
	l, err := call(ctx, func(o Owner) (listing[Job], error) {
		who = o
		items, more, err := h.m.Jobs(ctx, o, page2(p))
		return listing[Job]{items, more}, err
	})
	return mapped(l.items, l.more, err, func(j Job) api.FineTuningJob { return jobObject(who, j) })
}

func (h Hook) Job(ctx context.Context, id string) (api.FineTuningJob, error) {
	return call(ctx, func(o Owner) (api.FineTuningJob, error) {
		j, err := h.m.Job(ctx, o, id)
		return jobObject(o, j), err
	})
}

func (h Hook) CancelJob(ctx context.Context, id string) (api.FineTuningJob, error) {
	return call(ctx, func(o Owner) (api.FineTuningJob, error) {
		j, err := h.m.Cancel(ctx, o, id)
		return jobObject(o, j), err
	})
}

func (h Hook) JobEvents(ctx context.Context, id string, p api.ListPage) ([]api.FineTuningEvent, bool, error) {
	l, err := call(ctx, func(o Owner) (listing[Event], error) {
		items, more, err := h.m.Events(ctx, o, id, page2(p))
		return listing[Event]{items, more}, err
	})
	return mapped(l.items, l.more, err, func(e Event) api.FineTuningEvent {
		data := e.Data
		if data == nil {
			data = map[string]any{}
		}
		return api.FineTuningEvent{ID: e.ID, Object: "fine_tuning.job.event", CreatedAt: e.Created.Unix(), Level: e.Level,
			Message: e.Message, Type: e.Type, Data: data}
	})
}

func (h Hook) JobCheckpoints(ctx context.Context, id string, p api.ListPage) ([]api.FineTuningCheckpoint, bool, error) {
	l, err := call(ctx, func(o Owner) (listing[Checkpoint], error) {
		items, more, err := h.m.Checkpoints(ctx, o, id, page2(p))
		return listing[Checkpoint]{items, more}, err
	})
	return mapped(l.items, l.more, err, func(c Checkpoint) api.FineTuningCheckpoint {
		return api.FineTuningCheckpoint{ID: c.ID, Object: "fine_tuning.job.checkpoint", CreatedAt: c.Created.Unix(),
			FineTunedModelCheckpoint: c.Model, FineTuningJobID: c.JobID, StepNumber: c.Step, Metrics: c.Metrics}
	})
}

func fileObject(f File) api.FileObject {
	return api.FileObject{ID: f.ID, Object: "file", Bytes: f.Bytes, CreatedAt: f.Created.Unix(), Filename: f.Filename, Purpose: f.Purpose,
		Status: "processed"}
}

// unix is t in Unix seconds, nil when zero.
func unix(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	s := t.Unix()
	return &s
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// jobObject is j as OpenAI's fine_tuning.job; the organisation is the
// owner's tenant.
func jobObject(o Owner, j Job) api.FineTuningJob {
	p := j.Params
	hp := api.NewFineTuningHyperparameters(api.FineTuningHyper{NEpochs: p.Epochs, BatchSize: p.Batch, LearningRateMultiplier: p.LRMultiplier,
		Rank: p.Rank, Alpha: p.Alpha, Dropout: p.Dropout, Targets: p.Targets, Seq: p.Seq})
	out := api.FineTuningJob{ID: j.ID, Object: "fine_tuning.job", CreatedAt: j.Created.Unix(), FineTunedModel: nonEmpty(j.FineTunedModel),
		FinishedAt: unix(j.Finished), Hyperparameters: hp, Model: j.Model, OrganizationID: o.Tenant.Name, ResultFiles: []string{},
		Seed: j.Seed, Status: j.Status, TrainingFile: j.TrainingFile, ValidationFile: nonEmpty(j.ValidationFile),
		EstimatedFinish: unix(j.EstimatedFinish), Metadata: j.Metadata, UserProvidedSuffix: nonEmpty(j.Suffix)}
	out.Method.Type = "supervised"
	out.Method.Supervised.Hyperparameters = hp
	if finished(j.Status) {
		out.TrainedTokens = &j.TrainedTokens
	}
	if e := j.Error; e != nil {
		out.Error = &api.FineTuningError{Code: e.Code, Message: e.Message, Param: nonEmpty(e.Param)}
	}
	return out
}
