package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// OpenAI's files and fine-tuning API, served when Config.FineTuning is
// set:
//
//	POST   /v1/files                             upload (multipart: purpose=fine-tune, file=JSONL)
//	GET    /v1/files                             list (after, limit, purpose)
//	GET    /v1/files/{id}                        one file
//	DELETE /v1/files/{id}                        delete it
//	POST   /v1/fine_tuning/jobs                  create a job
//	GET    /v1/fine_tuning/jobs                  list (after, limit)
//	GET    /v1/fine_tuning/jobs/{id}             one job
//	GET    /v1/fine_tuning/jobs/{id}/events      its events (after, limit)
//	GET    /v1/fine_tuning/jobs/{id}/checkpoints its checkpoints (after, limit)
//	POST   /v1/fine_tuning/jobs/{id}/cancel      cancel it
//
// The bodies are OpenAI's objects ("file", "fine_tuning.job",
// "fine_tuning.job.event", "fine_tuning.job.checkpoint") and lists
// ({"object": "list", "data": [...], "has_more": ...}, newest first).
// Hearth's LoRA settings travel in the hyperparameters object beside
// OpenAI's three (n_epochs, batch_size, learning_rate_multiplier): rank,
// alpha, dropout, targets (of q, k, v, o, gate, up, down) and seq (tokens
// per training sequence), each a number (a list for targets) or "auto".

// FineTuner keeps fine-tuning files and jobs for the caller's tenant (in
// ctx, where the gate put it). Its errors are *Error values or the API's
// sentinels (ErrForbidden, ErrUnavailable, ...).
type FineTuner interface {
	UploadFile(ctx context.Context, f FileUpload) (FileObject, error)
	Files(ctx context.Context, purpose string, p ListPage) ([]FileObject, bool, error)
	File(ctx context.Context, id string) (FileObject, error)
	DeleteFile(ctx context.Context, id string) error
	CreateJob(ctx context.Context, req FineTuningRequest) (FineTuningJob, error)
	Jobs(ctx context.Context, p ListPage) ([]FineTuningJob, bool, error)
	Job(ctx context.Context, id string) (FineTuningJob, error)
	CancelJob(ctx context.Context, id string) (FineTuningJob, error)
	JobEvents(ctx context.Context, id string, p ListPage) ([]FineTuningEvent, bool, error)
	JobCheckpoints(ctx context.Context, id string, p ListPage) ([]FineTuningCheckpoint, bool, error)
}

// ListPage is a listing's cursor: the items after the one with id After,
// at most Limit of them (0: the FineTuner's default).
type ListPage struct {
	After string
	Limit int
}

// FileUpload is an uploaded file.
type FileUpload struct {
	Filename string
	Purpose  string
	Content  []byte
}

// FineTuningRequest is the body of POST /v1/fine_tuning/jobs, decoded:
// a zero number is "auto".
type FineTuningRequest struct {
	Model          string
	TrainingFile   string
	ValidationFile string
	Hyper          FineTuningHyper
	Seed           *int64
	Suffix         string
	Metadata       map[string]string
}

// FineTuningHyper are the hyper-parameters a client asked for; zero is
// "auto".
type FineTuningHyper struct {
	NEpochs, BatchSize     int
	LearningRateMultiplier float64
	Rank                   int
	Alpha, Dropout         float64
	Targets                []string
	Seq                    int
}

// FileObject is OpenAI's file object.
type FileObject struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"` // "file"
	Bytes         int64   `json:"bytes"`
	CreatedAt     int64   `json:"created_at"`
	Filename      string  `json:"filename"`
	Purpose       string  `json:"purpose"`
	Status        string  `json:"status"` // "processed": checked at upload
	StatusDetails *string `json:"status_details"`
	ExpiresAt     *int64  `json:"expires_at"`
}

// FineTuningJob is OpenAI's fine_tuning.job object.
type FineTuningJob struct {
	ID                 string                    `json:"id"`
	Object             string                    `json:"object"` // "fine_tuning.job"
	CreatedAt          int64                     `json:"created_at"`
	Error              *FineTuningError          `json:"error"`
	FineTunedModel     *string                   `json:"fine_tuned_model"`
	FinishedAt         *int64                    `json:"finished_at"`
	Hyperparameters    FineTuningHyperparameters `json:"hyperparameters"`
	Model              string                    `json:"model"`
	OrganizationID     string                    `json:"organization_id"`
	ResultFiles        []string                  `json:"result_files"`
	Seed               int64                     `json:"seed"`
	Status             string                    `json:"status"`
	TrainedTokens      *int64                    `json:"trained_tokens"`
	TrainingFile       string                    `json:"training_file"`
	ValidationFile     *string                   `json:"validation_file"`
	EstimatedFinish    *int64                    `json:"estimated_finish"`
	Integrations       []any                     `json:"integrations"`
	Metadata           map[string]string         `json:"metadata"`
	Method             FineTuningMethod          `json:"method"`
	UserProvidedSuffix *string                   `json:"user_provided_suffix"`
}

// FineTuningError is why a job failed.
type FineTuningError struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Param   *string `json:"param"`
}

// FineTuningHyperparameters are a job's hyper-parameters on the wire:
// each a number or "auto" (NewFineTuningHyperparameters).
type FineTuningHyperparameters struct {
	NEpochs                any `json:"n_epochs"`
	BatchSize              any `json:"batch_size"`
	LearningRateMultiplier any `json:"learning_rate_multiplier"`
	Rank                   any `json:"rank"`
	Alpha                  any `json:"alpha"`
	Dropout                any `json:"dropout"`
	Targets                any `json:"targets"`
	Seq                    any `json:"seq"`
}

// NewFineTuningHyperparameters is h on the wire, "auto" for its zeros.
func NewFineTuningHyperparameters(h FineTuningHyper) FineTuningHyperparameters {
	auto := func(v any, zero bool) any {
		if zero {
			return "auto"
		}
		return v
	}
	return FineTuningHyperparameters{
		NEpochs: auto(h.NEpochs, h.NEpochs == 0), BatchSize: auto(h.BatchSize, h.BatchSize == 0),
		LearningRateMultiplier: auto(h.LearningRateMultiplier, h.LearningRateMultiplier == 0),
		Rank:                   auto(h.Rank, h.Rank == 0), Alpha: auto(h.Alpha, h.Alpha == 0), Dropout: auto(h.Dropout, h.Dropout == 0),
		Targets: auto(h.Targets, len(h.Targets) == 0), Seq: auto(h.Seq, h.Seq == 0),
	}
}

// FineTuningMethod is the job's method: always supervised here.
type FineTuningMethod struct {
	Type       string `json:"type"`
	Supervised struct {
		Hyperparameters FineTuningHyperparameters `json:"hyperparameters"`
	} `json:"supervised"`
}

// FineTuningEvent is OpenAI's fine_tuning.job.event object.
type FineTuningEvent struct {
	ID        string         `json:"id"`
	Object    string         `json:"object"` // "fine_tuning.job.event"
	CreatedAt int64          `json:"created_at"`
	Level     string         `json:"level"`
	Message   string         `json:"message"`
	Type      string         `json:"type"`
	Data      map[string]any `json:"data"`
}

// FineTuningCheckpoint is OpenAI's fine_tuning.job.checkpoint object.
type FineTuningCheckpoint struct {
	ID                       string             `json:"id"`
	Object                   string             `json:"object"` // "fine_tuning.job.checkpoint"
	CreatedAt                int64              `json:"created_at"`
	FineTunedModelCheckpoint string             `json:"fine_tuned_model_checkpoint"`
	FineTuningJobID          string             `json:"fine_tuning_job_id"`
	StepNumber               int                `json:"step_number"`
	Metrics                  map[string]float64 `json:"metrics"`
}

// listObject is OpenAI's list object.
type listObject[T any] struct {
	Object  string  `json:"object"` // "list"
	Data    []T     `json:"data"`
	HasMore bool    `json:"has_more"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
}

func writeList[T any](w http.ResponseWriter, data []T, more bool, id func(T) string) {
	l := listObject[T]{Object: "list", Data: data, HasMore: more}
	if l.Data == nil {
		l.Data = []T{}
	}
	if len(data) > 0 {
		first, last := id(data[0]), id(data[len(data)-1])
		l.FirstID, l.LastID = &first, &last
	}
	writeJSON(w, http.StatusOK, l)
}

// answerList answers a listing: the page the query asks for, of what list
// returns, each item named by id.
func answerList[T any](w http.ResponseWriter, r *http.Request, list func(ListPage) ([]T, bool, error), id func(T) string) error {
	p, err := listPage(r)
	if err != nil {
		return err
	}
	items, more, err := list(p)
	if err != nil {
		return err
	}
	writeList(w, items, more, id)
	return nil
}

// DefaultMaxFileBytes is Config.MaxFileBytes's default.
const DefaultMaxFileBytes = 64 << 20

// multipartSlack is what a multipart body may hold besides the file: the
// purpose, the boundaries and the parts' headers.
const multipartSlack = 64 << 10

// listPage reads after and limit from the query.
func listPage(r *http.Request) (ListPage, error) {
	q := r.URL.Query()
	p := ListPage{After: q.Get("after")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return p, badRequest("limit", "'limit' must be a positive integer, got '%s'", clientText(s))
		}
		p.Limit = n
	}
	return p, nil
}

// files is /v1/files.
func (s *Server) files(w http.ResponseWriter, r *http.Request) error {
	ft := s.cfg.FineTuning
	if r.Method == http.MethodPost {
		up, err := s.readUpload(w, r)
		if err != nil {
			return err
		}
		f, err := ft.UploadFile(r.Context(), up)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, f)
		return nil
	}
	if o := r.URL.Query().Get("order"); o != "" && o != "desc" {
		return unsupported("order", "files are listed newest first: 'order' may only be 'desc'")
	}
	return answerList(w, r, func(p ListPage) ([]FileObject, bool, error) {
		return ft.Files(r.Context(), r.URL.Query().Get("purpose"), p)
	},
		func(f FileObject) string { return f.ID })
}

// readUpload reads a multipart upload: its "purpose" field and its
// "file", at most MaxFileBytes of it (413 beyond).
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request) (FileUpload, error) {
	var up FileUpload
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		return up, badRequest("file", "upload files as multipart/form-data with the fields 'purpose' and 'file'")
	}
	limit := s.cfg.MaxFileBytes
	r.Body = http.MaxBytesReader(w, r.Body, limit+multipartSlack)
	mr, err := r.MultipartReader()
	if err != nil {
		return up, badRequest("file", "reading the multipart body: %v", err)
	}
	sawFile := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return up, uploadError(err)
		}
		switch part.FormName() {
		case "purpose":
			b, err := io.ReadAll(io.LimitReader(part, 65))
			if err != nil {
				return up, uploadError(err)
			}
			if len(b) > 64 {
				return up, badRequest("purpose", "'purpose' is longer than 64 bytes")
			}
			up.Purpose = strings.TrimSpace(string(b))
		case "file":
			if sawFile {
				return up, badRequest("file", "the upload holds more than one file")
			}
			sawFile = true
			var buf bytes.Buffer
			n, err := io.Copy(&buf, io.LimitReader(part, limit+1))
			if err != nil {
				return up, uploadError(err)
			}
			if n > limit {
				return up, &Error{Status: http.StatusRequestEntityTooLarge, Type: TypeInvalidRequest, Code: "file_too_large", Param: "file",
					Message: "the file exceeds this node's limit of " + strconv.FormatInt(limit, 10) + " bytes"}
			}
			up.Filename, up.Content = part.FileName(), buf.Bytes()
		default:
			// Other fields (expires_after) are read past.
			if _, err := io.Copy(io.Discard, part); err != nil {
				return up, uploadError(err)
			}
		}
	}
	switch {
	case !sawFile:
		return up, badRequest("file", "'file' is required: the JSONL file to upload")
	case up.Purpose == "":
		return up, badRequest("purpose", "'purpose' is required: 'fine-tune'")
	}
	return up, nil
}

// uploadError is a failure reading the upload: 413 for a body over the
// limit, else a 400.
func uploadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return badRequest("file", "reading the multipart body: %v", err)
}

// file is /v1/files/{id}.
func (s *Server) file(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if r.Method == http.MethodDelete {
		if err := s.cfg.FineTuning.DeleteFile(r.Context(), id); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Deleted bool   `json:"deleted"`
		}{id, "file", true})
		return nil
	}
	f, err := s.cfg.FineTuning.File(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, f)
	return nil
}

// fineTuningRequest is the body of POST /v1/fine_tuning/jobs as sent.
// Numbers are kept raw: each may be "auto", and is checked by name.
type fineTuningRequest struct {
	Model           string            `json:"model"`
	TrainingFile    string            `json:"training_file"`
	ValidationFile  *string           `json:"validation_file"`
	Hyperparameters *hyperparameters  `json:"hyperparameters"`
	Method          *methodParam      `json:"method"`
	Seed            *int64            `json:"seed"`
	Suffix          *string           `json:"suffix"`
	Metadata        map[string]string `json:"metadata"`
	Integrations    []json.RawMessage `json:"integrations"`
}

type methodParam struct {
	Type       string `json:"type"`
	Supervised *struct {
		Hyperparameters *hyperparameters `json:"hyperparameters"`
	} `json:"supervised"`
}

type hyperparameters struct {
	NEpochs                json.RawMessage `json:"n_epochs"`
	BatchSize              json.RawMessage `json:"batch_size"`
	LearningRateMultiplier json.RawMessage `json:"learning_rate_multiplier"`
	Rank                   json.RawMessage `json:"rank"`
	Alpha                  json.RawMessage `json:"alpha"`
	Dropout                json.RawMessage `json:"dropout"`
	Targets                json.RawMessage `json:"targets"`
	Seq                    json.RawMessage `json:"seq"`
}

// isAuto reports whether a raw value is absent, null or "auto".
func isAuto(raw json.RawMessage) bool {
	return isNull(raw) || string(bytes.TrimSpace(raw)) == `"auto"`
}

// number reads a raw hyper-parameter: "auto" (or absent) is 0, else a
// finite number; integer fields must hold an integer of at least 1. Range
// checks are the FineTuner's, which knows its bounds; this bounds only
// what a Go int can hold.
func number(raw json.RawMessage, name string, integer bool) (float64, error) {
	if isAuto(raw) {
		return 0, nil
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, badRequest("hyperparameters."+name, "'%s' must be a number or \"auto\"", name)
	}
	if integer && (f != math.Trunc(f) || f < 1 || f > math.MaxInt32) {
		return 0, badRequest("hyperparameters."+name, "'%s' must be a positive integer or \"auto\", got %g", name, f)
	}
	if !integer && f <= 0 && name != "dropout" {
		return 0, badRequest("hyperparameters."+name, "'%s' must be above 0 or \"auto\", got %g", name, f)
	}
	return f, nil
}

func (h *hyperparameters) decode() (FineTuningHyper, error) {
	var out FineTuningHyper
	if h == nil {
		return out, nil
	}
	ints := []struct {
		raw  json.RawMessage
		name string
		dst  *int
	}{{h.NEpochs, "n_epochs", &out.NEpochs}, {h.BatchSize, "batch_size", &out.BatchSize}, {h.Rank, "rank", &out.Rank}, {h.Seq, "seq", &out.Seq}}
	for _, f := range ints {
		v, err := number(f.raw, f.name, true)
		if err != nil {
			return out, err
		}
		*f.dst = int(v)
	}
	reals := []struct {
		raw  json.RawMessage
		name string
		dst  *float64
	}{{h.LearningRateMultiplier, "learning_rate_multiplier", &out.LearningRateMultiplier}, {h.Alpha, "alpha", &out.Alpha}, {h.Dropout, "dropout", &out.Dropout}}
	for _, f := range reals {
		v, err := number(f.raw, f.name, false)
		if err != nil {
			return out, err
		}
		*f.dst = v
	}
	if !isAuto(h.Targets) {
		if err := json.Unmarshal(h.Targets, &out.Targets); err != nil {
			return out, badRequest("hyperparameters.targets", "'targets' must be a list of projections (q, k, v, o, gate, up, down) or \"auto\"")
		}
	}
	return out, nil
}

// fineTuningJobs is /v1/fine_tuning/jobs.
func (s *Server) fineTuningJobs(w http.ResponseWriter, r *http.Request) error {
	ft := s.cfg.FineTuning
	if r.Method == http.MethodGet {
		return answerList(w, r, func(p ListPage) ([]FineTuningJob, bool, error) { return ft.Jobs(r.Context(), p) },
			func(j FineTuningJob) string { return j.ID })
	}
	var body fineTuningRequest
	if err := s.decodeJSON(w, r, &body); err != nil {
		return err
	}
	req := FineTuningRequest{Model: body.Model, TrainingFile: body.TrainingFile, Seed: body.Seed, Metadata: body.Metadata}
	if body.ValidationFile != nil {
		req.ValidationFile = *body.ValidationFile
	}
	if body.Suffix != nil {
		req.Suffix = *body.Suffix
	}
	if len(body.Integrations) > 0 {
		return unsupported("integrations", "'integrations' are not supported: a node reports to no third party")
	}
	hp := body.Hyperparameters
	if m := body.Method; m != nil {
		if m.Type != "" && m.Type != "supervised" {
			return unsupported("method.type", "only the 'supervised' method is supported, not '%s'", clientText(m.Type))
		}
		if m.Supervised != nil && m.Supervised.Hyperparameters != nil {
			if hp != nil {
				return badRequest("hyperparameters", "give the hyperparameters once: in 'method.supervised.hyperparameters' or in 'hyperparameters'")
			}
			hp = m.Supervised.Hyperparameters
		}
	}
	var err error
	if req.Hyper, err = hp.decode(); err != nil {
		return err
	}
	j, err := ft.CreateJob(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// fineTuningJob is /v1/fine_tuning/jobs/{id}.
func (s *Server) fineTuningJob(w http.ResponseWriter, r *http.Request) error {
	return s.oneJob(w, r, s.cfg.FineTuning.Job)
}

// fineTuningCancel is /v1/fine_tuning/jobs/{id}/cancel.
func (s *Server) fineTuningCancel(w http.ResponseWriter, r *http.Request) error {
	return s.oneJob(w, r, s.cfg.FineTuning.CancelJob)
}

// oneJob answers with what do does to the job the path names.
func (s *Server) oneJob(w http.ResponseWriter, r *http.Request, do func(context.Context, string) (FineTuningJob, error)) error {
	j, err := do(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// fineTuningEvents is /v1/fine_tuning/jobs/{id}/events.
func (s *Server) fineTuningEvents(w http.ResponseWriter, r *http.Request) error {
	return answerList(w, r, func(p ListPage) ([]FineTuningEvent, bool, error) {
		return s.cfg.FineTuning.JobEvents(r.Context(), r.PathValue("id"), p)
	}, func(e FineTuningEvent) string { return e.ID })
}

// fineTuningCheckpoints is /v1/fine_tuning/jobs/{id}/checkpoints.
func (s *Server) fineTuningCheckpoints(w http.ResponseWriter, r *http.Request) error {
	return answerList(w, r, func(p ListPage) ([]FineTuningCheckpoint, bool, error) {
		return s.cfg.FineTuning.JobCheckpoints(r.Context(), r.PathValue("id"), p)
	}, func(c FineTuningCheckpoint) string { return c.ID })
}
