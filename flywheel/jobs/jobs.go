package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/flywheel/dataset"
)

// CreateRequest is a new job as the client asks for it.
type CreateRequest struct {
	Model          string
	TrainingFile   string // "file-..." or "dataset:NAME[@VERSION]"
	ValidationFile string // the same spellings; empty: none (a dataset's eval split)
	Params         Params
	Seed           *int64 // nil: one is chosen
	Suffix         string
	Metadata       map[string]string
}

// Bounds of a job's parameters: what the trainer can be asked for
// without a client's number deciding how much the node allocates or how
// long it trains. A rank or sequence the base model cannot take is the
// trainer's to refuse when the job starts.
const (
	MaxEpochs       = 50
	MaxBatch        = 256
	MaxLRMultiplier = 100.0
	MaxRank         = 256
	MaxAlpha        = 4096.0
	MinSeq, MaxSeq  = 16, 32768
	maxSuffix       = 64
	maxModelName    = 256
	maxMetadata     = 16
	maxMetadataKey  = 64
	maxMetadataVal  = 512
)

// BaseLR is the learning rate a learning_rate_multiplier of 1 means: the
// trainer's default, flywheel/finetune's 2e-4.
const BaseLR = 2e-4

// Targets are the projections LoRA may adapt.
var Targets = []string{"q", "k", "v", "o", "gate", "up", "down"}

var suffixPattern = regexp.MustCompile(`^[A-Za-z0-9._-]*$`)

// check validates p's numbers and names.
func (p Params) check() error {
	integral := []struct {
		name   string
		v, max int
	}{{"n_epochs", p.Epochs, MaxEpochs}, {"batch_size", p.Batch, MaxBatch}, {"rank", p.Rank, MaxRank}}
	for _, f := range integral {
		if f.v < 0 || f.v > f.max {
			return paramErr("hyperparameters."+f.name, "'%s' must be 1 to %d, got %d", f.name, f.max, f.v)
		}
	}
	if p.Seq != 0 && (p.Seq < MinSeq || p.Seq > MaxSeq) {
		return paramErr("hyperparameters.seq", "'seq' must be %d to %d tokens, got %d", MinSeq, MaxSeq, p.Seq)
	}
	reals := []struct {
		name string
		v    float64
		ok   bool
		want string
	}{
		{"learning_rate_multiplier", p.LRMultiplier, p.LRMultiplier >= 0 && p.LRMultiplier <= MaxLRMultiplier, fmt.Sprintf("above 0 and at most %g", MaxLRMultiplier)},
		{"alpha", p.Alpha, p.Alpha >= 0 && p.Alpha <= MaxAlpha, fmt.Sprintf("above 0 and at most %g", MaxAlpha)},
		{"dropout", p.Dropout, p.Dropout >= 0 && p.Dropout < 1, "at least 0 and below 1"},
	}
	for _, f := range reals {
		if math.IsNaN(f.v) || !f.ok {
			return paramErr("hyperparameters."+f.name, "'%s' must be %s, got %g", f.name, f.want, f.v)
		}
	}
	if len(p.Targets) > len(Targets) {
		return paramErr("hyperparameters.targets", "'targets' lists %d projections; there are %d: %s", len(p.Targets), len(Targets), strings.Join(Targets, ", "))
	}
	for i, t := range p.Targets {
		if !slices.Contains(Targets, t) {
			return paramErr("hyperparameters.targets", "'targets' may hold %s, not %q", strings.Join(Targets, ", "), clip(t))
		}
		if slices.Contains(p.Targets[:i], t) {
			return paramErr("hyperparameters.targets", "'targets' names %q twice", t)
		}
	}
	return nil
}

// hyper is what the trainer is asked for.
func (m *Manager) hyper(j Job) Hyper {
	p := j.Params
	h := Hyper{Rank: p.Rank, Alpha: p.Alpha, Dropout: p.Dropout, Targets: p.Targets, Epochs: p.Epochs, Batch: p.Batch, Seq: p.Seq,
		Seed: uint64(j.Seed), CheckpointEvery: m.cfg.CheckpointEvery}
	if p.LRMultiplier > 0 {
		h.LR = p.LRMultiplier * BaseLR
	}
	return h
}

// dataRef is a training or validation file as a job names it.
type dataRef struct {
	file    string // "file-..."
	dataset string
	version int // 0: latest
}

const datasetPrefix = "dataset:"

func parseRef(s string) (dataRef, bool) {
	rest, ok := strings.CutPrefix(s, datasetPrefix)
	if !ok {
		return dataRef{file: s}, strings.HasPrefix(s, "file-")
	}
	name, v, err := dataset.ParseRef(rest)
	return dataRef{dataset: name, version: v}, err == nil
}

func (r dataRef) String() string {
	if r.file != "" {
		return r.file
	}
	return datasetPrefix + r.dataset + "@" + strconv.Itoa(r.version)
}

// resolve checks that the tenant's data ref exists and holds examples of
// split, and fixes a dataset's latest version.
func (m *Manager) resolve(ctx context.Context, tenantID, param, s, split string) (string, error) {
	ref, ok := parseRef(s)
	if !ok {
		return "", paramErr(param, "'%s' must be a file id (\"file-...\") or a dataset version (\"dataset:NAME@VERSION\" or \"dataset:NAME\"), got %q", param, clip(s))
	}
	if ref.file != "" {
		var purpose string
		err := m.db.QueryRowContext(ctx, `SELECT purpose FROM ft_files WHERE tenant_id = ? AND id = ?`, tenantID, ref.file).Scan(&purpose)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return "", paramErr(param, "no file %q (upload it with POST /v1/files, purpose %q)", clip(s), PurposeFineTune)
		case err != nil:
			return "", fmt.Errorf("jobs: %s: %w", param, err)
		case purpose != PurposeFineTune:
			return "", paramErr(param, "file %s has purpose %q, not %q", ref.file, purpose, PurposeFineTune)
		}
		return ref.file, nil
	}
	if m.cfg.Datasets == nil {
		return "", paramErr(param, "this node keeps no datasets")
	}
	v, err := m.cfg.Datasets.Get(ctx, tenantID, ref.dataset, ref.version)
	if errors.Is(err, dataset.ErrNotFound) || errors.Is(err, dataset.ErrInvalid) {
		return "", paramErr(param, "%v", err)
	}
	if err != nil {
		return "", fmt.Errorf("jobs: %s: %w", param, err)
	}
	if (split == dataset.Train && len(v.Train) == 0) || (split == dataset.Eval && len(v.Eval) == 0) {
		return "", paramErr(param, "dataset %s version %d has no %s examples", v.Name, v.Version, split)
	}
	ref.version = v.Version
	return ref.String(), nil
}

// Create checks r and queues the job; it trains in the background once
// its files are validated and the jobs before it are done.
func (m *Manager) Create(ctx context.Context, o Owner, r CreateRequest) (Job, error) {
	if m.cfg.Trainer == nil {
		return Job{}, ErrNoTrainer
	}
	if err := m.resident(o); err != nil {
		return Job{}, err
	}
	if err := m.checkRequest(r); err != nil {
		return Job{}, err
	}
	if _, err := m.cfg.Models.Path(r.Model); err != nil {
		return Job{}, paramErr("model", "model %q is not on this node: %v", clip(r.Model), err)
	}
	j := Job{ID: newID("ftjob-"), TenantID: o.Tenant.ID, KeyID: o.KeyID, Model: r.Model, Params: r.Params, Suffix: r.Suffix,
		Metadata: r.Metadata, Status: StatusValidating, Created: m.now().UTC()}
	var err error
	if j.TrainingFile, err = m.resolve(ctx, j.TenantID, "training_file", r.TrainingFile, dataset.Train); err != nil {
		return Job{}, err
	}
	if r.ValidationFile != "" {
		if j.ValidationFile, err = m.resolve(ctx, j.TenantID, "validation_file", r.ValidationFile, dataset.Eval); err != nil {
			return Job{}, err
		}
	}
	if r.Seed != nil {
		j.Seed = *r.Seed
	} else {
		var b [4]byte
		rand.Read(b[:])
		j.Seed = int64(binary.LittleEndian.Uint32(b[:]) >> 1)
	}
	params, err := json.Marshal(j.Params)
	if err != nil {
		return Job{}, err
	}
	var meta []byte
	if len(j.Metadata) > 0 {
		if meta, err = json.Marshal(j.Metadata); err != nil {
			return Job{}, err
		}
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return Job{}, fmt.Errorf("jobs: create: %w", err)
	}
	defer tx.Rollback()
	// The count and the insert share the transaction's write lock.
	if _, err := tx.ExecContext(ctx, `UPDATE ft_jobs SET seq = seq WHERE 0`); err != nil {
		return Job{}, fmt.Errorf("jobs: create: %w", err)
	}
	var unfinished int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM ft_jobs WHERE tenant_id = ? AND status IN ('validating_files', 'queued', 'running')`,
		j.TenantID).Scan(&unfinished); err != nil {
		return Job{}, fmt.Errorf("jobs: create: %w", err)
	}
	if unfinished >= m.cfg.MaxUnfinished {
		return Job{}, fmt.Errorf("%w: tenant %q has %d fine-tuning jobs queued or running, the most it may; wait for one to finish or cancel one",
			ErrBusy, o.Tenant.Name, unfinished)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ft_jobs (id, tenant_id, key_id, model, training_file, validation_file, params, seed, suffix,
		metadata, status, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, j.ID, j.TenantID, j.KeyID, j.Model, j.TrainingFile, j.ValidationFile,
		string(params), j.Seed, j.Suffix, string(meta), j.Status, j.Created.UnixNano()); err != nil {
		return Job{}, fmt.Errorf("jobs: create: %w", err)
	}
	if err := m.event(ctx, tx, j.ID, LevelInfo, EventMessage, "Created fine-tuning job: "+j.ID, nil); err != nil {
		return Job{}, err
	}
	if err := m.commitAudited(ctx, tx, o, audit.Record{Model: j.Model, Reason: "job.create", Detail: map[string]string{"job_id": j.ID,
		"training_file": j.TrainingFile, "validation_file": j.ValidationFile, "params": string(params), "seed": strconv.FormatInt(j.Seed, 10)}}); err != nil {
		return Job{}, err
	}
	m.poke()
	return j, nil
}

// checkRequest validates what needs nothing but the request.
func (m *Manager) checkRequest(r CreateRequest) error {
	switch {
	case r.Model == "":
		return paramErr("model", "'model' is required: the base model to fine-tune")
	case len(r.Model) > maxModelName:
		return paramErr("model", "'model' is %d bytes; a model name is at most %d", len(r.Model), maxModelName)
	case r.TrainingFile == "":
		return paramErr("training_file", "'training_file' is required: a file id or \"dataset:NAME@VERSION\"")
	case len(r.Suffix) > maxSuffix || !suffixPattern.MatchString(r.Suffix):
		return paramErr("suffix", "'suffix' must be at most %d letters, digits, '.', '_' or '-'", maxSuffix)
	case r.Seed != nil && *r.Seed < 0:
		return paramErr("seed", "'seed' must be at least 0, got %d", *r.Seed)
	case len(r.Metadata) > maxMetadata:
		return paramErr("metadata", "'metadata' holds %d keys; at most %d", len(r.Metadata), maxMetadata)
	}
	for k, v := range r.Metadata {
		if len(k) > maxMetadataKey || len(v) > maxMetadataVal || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return paramErr("metadata", "'metadata' keys are at most %d bytes and values at most %d", maxMetadataKey, maxMetadataVal)
		}
	}
	return r.Params.check()
}

// poke wakes the loop.
func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Job returns the tenant's job id.
func (m *Manager) Job(ctx context.Context, o Owner, id string) (Job, error) {
	return m.job(ctx, o.Tenant.ID, id)
}

// Jobs lists the tenant's jobs, newest first.
func (m *Manager) Jobs(ctx context.Context, o Owner, p Page) ([]Job, bool, error) {
	return page(ctx, m, "ft_jobs", jobCols, `tenant_id = ?`, []any{o.Tenant.ID}, p, scanJob)
}

// Cancel cancels the tenant's job id: a job waiting is cancelled at once,
// one training stops at the trainer's next step boundary. A finished job
// is ErrFinished.
func (m *Manager) Cancel(ctx context.Context, o Owner, id string) (Job, error) {
	j, err := m.job(ctx, o.Tenant.ID, id)
	if err != nil {
		return j, err
	}
	if finished(j.Status) {
		return j, fmt.Errorf("%w: job %s has %s", ErrFinished, j.ID, j.Status)
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return j, fmt.Errorf("jobs: cancel: %w", err)
	}
	defer tx.Rollback()
	now := m.now().UTC()
	res, err := tx.ExecContext(ctx, `UPDATE ft_jobs SET status = 'cancelled', finished = ?, estimated_finish = 0
		WHERE id = ? AND status IN ('validating_files', 'queued', 'running')`, now.UnixNano(), j.ID)
	if err != nil {
		return j, fmt.Errorf("jobs: cancel: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// It finished meanwhile.
		j, err = m.job(ctx, o.Tenant.ID, id)
		if err == nil {
			err = fmt.Errorf("%w: job %s has %s", ErrFinished, j.ID, j.Status)
		}
		return j, err
	}
	if err := m.event(ctx, tx, j.ID, LevelInfo, EventMessage, "Fine-tuning job cancelled", nil); err != nil {
		return j, err
	}
	if err := m.commitAudited(ctx, tx, o, audit.Record{Model: j.Model, Reason: "job.cancel", Detail: map[string]string{"job_id": j.ID,
		"was": j.Status}}); err != nil {
		return j, err
	}
	m.mu.Lock()
	if r := m.running; r != nil && r.id == j.ID {
		r.cancel(errCancelled)
	}
	m.mu.Unlock()
	m.poke()
	return m.job(ctx, o.Tenant.ID, id)
}

// execer is a database or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// event appends an event to job id's log.
func (m *Manager) event(ctx context.Context, x execer, jobID, level, typ, msg string, data map[string]any) error {
	var d []byte
	if data != nil {
		var err error
		if d, err = json.Marshal(data); err != nil {
			return err
		}
	}
	if _, err := x.ExecContext(ctx, `INSERT INTO ft_events (id, job_id, created, level, type, message, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		newID("ftevent-"), jobID, m.now().UnixNano(), level, typ, msg, string(d)); err != nil {
		return fmt.Errorf("jobs: event: %w", err)
	}
	return nil
}

func scanEvent(r scanner) (Event, error) {
	var (
		e       Event
		created int64
		data    string
	)
	if err := r.Scan(&e.ID, &e.JobID, &created, &e.Level, &e.Type, &e.Message, &data); err != nil {
		return e, err
	}
	e.Created = fromNano(created)
	if data != "" {
		if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
			return e, fmt.Errorf("event %s: %w", e.ID, err)
		}
	}
	return e, nil
}

// Events lists the events of the tenant's job id, newest first.
func (m *Manager) Events(ctx context.Context, o Owner, id string, p Page) ([]Event, bool, error) {
	if _, err := m.job(ctx, o.Tenant.ID, id); err != nil {
		return nil, false, err
	}
	return page(ctx, m, "ft_events", `id, job_id, created, level, type, message, data`, `job_id = ?`, []any{id}, p, scanEvent)
}

func scanCheckpoint(r scanner) (Checkpoint, error) {
	var (
		c       Checkpoint
		created int64
		metrics string
	)
	if err := r.Scan(&c.ID, &c.JobID, &created, &c.Step, &metrics, &c.Model); err != nil {
		return c, err
	}
	c.Created = fromNano(created)
	if err := json.Unmarshal([]byte(metrics), &c.Metrics); err != nil {
		return c, fmt.Errorf("checkpoint %s: %w", c.ID, err)
	}
	return c, nil
}

// Checkpoints lists the checkpoints of the tenant's job id, newest first.
func (m *Manager) Checkpoints(ctx context.Context, o Owner, id string, p Page) ([]Checkpoint, bool, error) {
	if _, err := m.job(ctx, o.Tenant.ID, id); err != nil {
		return nil, false, err
	}
	return page(ctx, m, "ft_checkpoints", `id, job_id, created, step, metrics, model`, `job_id = ?`, []any{id}, p, scanCheckpoint)
}
