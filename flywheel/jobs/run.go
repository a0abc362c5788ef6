package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/flywheel/dataset"
)

var (
	errCancelled = errors.New("cancelled by the client")
	errShutdown  = errors.New("the node is shutting down")
)

// run is the job training now.
type run struct {
	id     string
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// Start queues again the job that was training when the node last
// stopped (it resumes from its newest checkpoint) and starts the loop
// that validates jobs' files and trains the queued jobs one at a time.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.stopped:
		return errors.New("jobs: shut down")
	case m.started:
		return errors.New("jobs: already started")
	}
	ids, err := m.jobIDs(ctx, StatusRunning)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := m.requeue(ctx, id); err != nil {
			return err
		}
	}
	m.started = true
	loopCtx, cancel := context.WithCancelCause(context.Background())
	m.cancel = func() { cancel(errShutdown) }
	m.done = make(chan struct{})
	go m.loop(loopCtx)
	return nil
}

// requeue puts a job that was running back in the queue, first in line.
func (m *Manager) requeue(ctx context.Context, id string) error {
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("jobs: requeue %s: %w", id, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE ft_jobs SET status = 'queued', estimated_finish = 0 WHERE id = ? AND status = 'running'`, id); err != nil {
		return fmt.Errorf("jobs: requeue %s: %w", id, err)
	}
	if err := m.event(ctx, tx, id, LevelInfo, EventMessage, "The node restarted; the job resumes from its last checkpoint", nil); err != nil {
		return err
	}
	return tx.Commit()
}

// Shutdown stops the loop and the job training, at the trainer's next
// step boundary, and waits for them until ctx ends. The job stays
// "running" for the next Start to resume.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.stopped = true
	if !m.started {
		m.mu.Unlock()
		return nil
	}
	m.cancel()
	done := m.done
	m.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("jobs: the training job did not stop in time: %w", ctx.Err())
	}
}

func (m *Manager) jobIDs(ctx context.Context, status string) ([]string, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT id FROM ft_jobs WHERE status = ? ORDER BY seq`, status)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// loop validates new jobs' files and starts the oldest queued job
// whenever none is training, until ctx ends; then it waits for the job
// training to stop.
func (m *Manager) loop(ctx context.Context) {
	defer close(m.done)
	var finished chan struct{}
	for {
		m.validatePending(ctx)
		if finished == nil {
			finished = m.startNext(ctx)
		}
		select {
		case <-ctx.Done():
			if finished != nil {
				<-finished
			}
			return
		case <-m.wake:
		case <-finished:
			finished = nil
		}
	}
}

// validatePending reads the data of every job still validating and
// queues it, or fails it saying what is wrong with its data.
func (m *Manager) validatePending(ctx context.Context) {
	ids, err := m.jobIDs(ctx, StatusValidating)
	if err != nil {
		if ctx.Err() == nil {
			m.log.Error("fine-tuning: list jobs to validate", "err", err)
		}
		return
	}
	for _, id := range ids {
		j, err := m.job(ctx, tenantOf(ctx, m, id), id)
		if err != nil {
			continue
		}
		train, eval, _, err := m.data(ctx, j)
		if err != nil {
			m.fail(ctx, j, "invalid_training_file", "training_file", fmt.Sprintf("the job's data cannot be used: %v", err))
			continue
		}
		msg := fmt.Sprintf("Files validated: %d training examples, %d validation examples; the job is queued", len(train), len(eval))
		m.transition(ctx, j.ID, StatusValidating, StatusQueued, msg)
	}
}

// tenantOf is the tenant of job id, for the loop, which acts for every
// tenant.
func tenantOf(ctx context.Context, m *Manager, id string) string {
	var t string
	m.db.QueryRowContext(ctx, `SELECT tenant_id FROM ft_jobs WHERE id = ?`, id).Scan(&t)
	return t
}

// transition moves job id from one status to another with an event,
// unless it has left from meanwhile (a cancel). It reports whether it
// did.
func (m *Manager) transition(ctx context.Context, id, from, to, msg string) bool {
	return m.change(ctx, id, LevelInfo, msg, `UPDATE ft_jobs SET status = ? WHERE id = ? AND status = ?`, to, id, from)
}

// change runs update, a conditional update of job id's row, and, when it
// changed the row, appends the event msg in the same transaction. It
// reports whether the row changed; a failure is logged.
func (m *Manager) change(ctx context.Context, id, level, msg, update string, args ...any) bool {
	err := func() error {
		tx, err := m.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		res, err := tx.ExecContext(ctx, update, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errUnchanged
		}
		if err := m.event(ctx, tx, id, level, EventMessage, msg, nil); err != nil {
			return err
		}
		return tx.Commit()
	}()
	if err != nil && !errors.Is(err, errUnchanged) {
		m.log.Error("fine-tuning: job status", "job", id, "err", err)
	}
	return err == nil
}

// errUnchanged: the job had left the status a change expected.
var errUnchanged = errors.New("job status changed meanwhile")

// data reads a job's training and validation examples, and the content
// hash of the dataset version it trains on (empty for a file).
func (m *Manager) data(ctx context.Context, j Job) (train, eval []dataset.Example, hash string, err error) {
	train, v, err := m.examples(ctx, j.TenantID, j.TrainingFile, dataset.Train)
	if err != nil {
		return nil, nil, "", err
	}
	if v != nil {
		train, eval, hash = v.Train, v.Eval, v.ContentHash()
	}
	if j.ValidationFile != "" {
		if eval, v, err = m.examples(ctx, j.TenantID, j.ValidationFile, dataset.Eval); err != nil {
			return nil, nil, "", err
		}
		if v != nil {
			eval = v.Eval
		}
	}
	if len(train) == 0 {
		return nil, nil, "", errors.New("no training examples")
	}
	return train, eval, hash, nil
}

// examples reads what a job's training or validation reference names: a
// file's examples, as split, or else the dataset version.
func (m *Manager) examples(ctx context.Context, tenantID, s, split string) ([]dataset.Example, *dataset.Version, error) {
	ref, _ := parseRef(s)
	if ref.file != "" {
		ex, err := m.fileExamples(ctx, tenantID, ref.file, split)
		return ex, nil, err
	}
	if m.cfg.Datasets == nil {
		return nil, nil, errors.New("this node keeps no datasets")
	}
	v, err := m.cfg.Datasets.Get(ctx, tenantID, ref.dataset, ref.version)
	return nil, v, err
}

// startNext starts the oldest queued job, if any, and returns a channel
// closed when it has stopped; nil when none is queued.
func (m *Manager) startNext(ctx context.Context) chan struct{} {
	ids, err := m.jobIDs(ctx, StatusQueued)
	if err != nil || len(ids) == 0 {
		if err != nil && ctx.Err() == nil {
			m.log.Error("fine-tuning: list queued jobs", "err", err)
		}
		return nil
	}
	j, err := m.job(ctx, tenantOf(ctx, m, ids[0]), ids[0])
	if err != nil {
		m.log.Error("fine-tuning: read queued job", "job", ids[0], "err", err)
		return nil
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	r := &run{id: j.ID, cancel: cancel, done: make(chan struct{})}
	m.mu.Lock()
	m.running = r
	m.mu.Unlock()
	go func() {
		defer close(r.done)
		defer func() {
			m.mu.Lock()
			m.running = nil
			m.mu.Unlock()
			cancel(nil)
		}()
		m.train(runCtx, j)
	}()
	return r.done
}

// train runs job j to its end: succeeded, failed, cancelled, or stopped
// by a shutdown (still running, for the next Start).
func (m *Manager) train(ctx context.Context, j Job) {
	resumed, _ := m.lastCheckpoint(ctx, j.ID)
	msg := "Fine-tuning job started"
	if resumed > 0 {
		msg = fmt.Sprintf("Fine-tuning job resumed from its checkpoint at step %d", resumed)
	}
	if !m.transition(ctx, j.ID, StatusQueued, StatusRunning, msg) {
		return // cancelled meanwhile
	}
	j.Status = StatusRunning
	fail := func(code, param string, err error) { m.fail(context.WithoutCancel(ctx), j, code, param, err.Error()) }
	train, eval, hash, err := m.data(ctx, j)
	if err != nil {
		fail("invalid_training_file", "training_file", fmt.Errorf("the job's data cannot be used: %w", err))
		return
	}
	base, err := m.cfg.Models.Path(j.Model)
	if err != nil {
		fail("invalid_model", "model", fmt.Errorf("model %s: %w", j.Model, err))
		return
	}
	dir := filepath.Join(m.cfg.Dir, j.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fail("internal_error", "", fmt.Errorf("the job's directory: %w", err))
		return
	}
	spec := Spec{BasePath: base, Train: train, Eval: eval, Hyper: m.hyper(j), Threads: m.cfg.Threads, Dir: dir}
	m.log.Info("fine-tuning job training", "job", j.ID, "tenant", j.TenantID, "model", j.Model, "threads", spec.Threads,
		"train_examples", len(train), "eval_examples", len(eval), "resumed_at_step", resumed)
	res, err := m.cfg.Trainer.Train(ctx, spec, func(p Progress) { m.progress(ctx, j, p) })
	switch cause := context.Cause(ctx); {
	case err == nil && !errors.Is(cause, errCancelled):
		m.succeed(context.WithoutCancel(ctx), j, spec, res, hash)
	case errors.Is(cause, errShutdown):
		m.event(context.WithoutCancel(ctx), m.db, j.ID, LevelInfo, EventMessage,
			"The node is shutting down; the job stops here and resumes from its last checkpoint when the node starts again", nil)
		m.log.Info("fine-tuning job paused by the shutdown", "job", j.ID)
	case errors.Is(cause, errCancelled):
		m.log.Info("fine-tuning job cancelled", "job", j.ID)
		m.audit(ctx, audit.Record{Tenant: j.TenantID, Model: j.Model, Reason: "job.end", Detail: map[string]string{"job_id": j.ID, "status": StatusCancelled}})
		os.RemoveAll(dir) // nothing left to resume; the weights are the tenant's data
	default:
		fail("training_failed", "", err)
	}
}

// progress records a step's metrics event and, at a checkpoint, the
// checkpoint.
func (m *Manager) progress(ctx context.Context, j Job, p Progress) {
	ctx = context.WithoutCancel(ctx)
	data := map[string]any{"step": p.Step, "total_steps": p.Steps, "train_loss": p.Loss, "learning_rate": p.LR, "epoch": p.Epoch,
		"tokens": p.Tokens, "tokens_per_second": p.TokensPerSec}
	if err := m.event(ctx, m.db, j.ID, LevelInfo, EventMetrics, fmt.Sprintf("Step %d/%d: training loss=%.4f", p.Step, p.Steps, p.Loss), data); err != nil {
		m.log.Warn("fine-tuning: step event", "job", j.ID, "err", err)
	}
	var eta int64
	if p.ETA > 0 {
		eta = m.now().Add(p.ETA).UnixNano()
	}
	if _, err := m.db.ExecContext(ctx, `UPDATE ft_jobs SET trained_tokens = ?, estimated_finish = ? WHERE id = ? AND status = 'running'`,
		p.Tokens, eta, j.ID); err != nil {
		m.log.Warn("fine-tuning: job progress", "job", j.ID, "err", err)
	}
	if !p.Checkpoint {
		return
	}
	metrics := fmt.Sprintf(`{"step":%d,"train_loss":%s}`, p.Step, strconv.FormatFloat(p.Loss, 'g', -1, 64))
	if _, err := m.db.ExecContext(ctx, `INSERT INTO ft_checkpoints (id, job_id, created, step, metrics, model) VALUES (?, ?, ?, ?, ?, ?)`,
		newID("ftckpt-"), j.ID, m.now().UnixNano(), p.Step, metrics, m.modelName(j)+":ckpt-step-"+strconv.Itoa(p.Step)); err != nil {
		m.log.Warn("fine-tuning: checkpoint record", "job", j.ID, "err", err)
	}
}

// lastCheckpoint is the step of the job's newest checkpoint, 0 if none.
func (m *Manager) lastCheckpoint(ctx context.Context, id string) (int, error) {
	var step int
	err := m.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(step), 0) FROM ft_checkpoints WHERE job_id = ?`, id).Scan(&step)
	return step, err
}

// modelName is what the adapter is called before the registry names
// it: OpenAI's "ft:MODEL:ORG:SUFFIX:ID" with the tenant for the
// organisation.
func (m *Manager) modelName(j Job) string {
	return strings.Join([]string{"ft", j.Model, j.TenantID, j.Suffix, strings.TrimPrefix(j.ID, "ftjob-")}, ":")
}

// adapterName is the name the registry keeps the adapter under.
func adapterName(j Job) string {
	if j.Suffix != "" {
		return j.Suffix
	}
	name, _, _ := strings.Cut(j.Model, ":")
	return name + "-ft"
}

// succeed registers a finished run's adapter and marks the job
// succeeded.
func (m *Manager) succeed(ctx context.Context, j Job, spec Spec, res *Result, hash string) {
	if res == nil || res.Adapter == "" {
		m.fail(ctx, j, "training_failed", "", "the trainer returned no adapter")
		return
	}
	// The training data must still be readable: a shred of the tenant's
	// key (or an erasure of its file) while the job trained leaves an
	// adapter of data that no longer exists, which is not kept.
	if _, _, _, err := m.data(ctx, j); err != nil {
		m.fail(ctx, j, "training_data_erased", "training_file", fmt.Sprintf("the job's training data is no longer readable, so its adapter is not kept: %v", err))
		return
	}
	name := m.modelName(j)
	if m.cfg.Registry != nil {
		a := Adapter{TenantID: j.TenantID, Name: adapterName(j), Path: res.Adapter, Base: j.Model, BasePath: spec.BasePath, JobID: j.ID,
			Hyper: spec.Hyper, Result: *res}
		if ref, _ := parseRef(j.TrainingFile); ref.dataset != "" {
			a.Dataset, a.DatasetVersion = ref.dataset, ref.version
			a.DatasetHash = hash
		} else {
			a.TrainingFile = j.TrainingFile
		}
		var err error
		if name, err = m.cfg.Registry.Register(ctx, a); err != nil {
			m.fail(ctx, j, "registry_failed", "", fmt.Sprintf("the adapter could not be registered: %v", err))
			return
		}
	}
	msg := fmt.Sprintf("The job has successfully completed: %s (%d steps, %d tokens, training loss %.4f", name, res.Steps, res.Tokens, res.TrainLoss)
	if len(spec.Eval) > 0 {
		msg += fmt.Sprintf(", validation loss %.4f", res.EvalLoss)
	}
	if !m.change(ctx, j.ID, LevelInfo, msg+")", `UPDATE ft_jobs SET status = 'succeeded', finished = ?, fine_tuned_model = ?, trained_tokens = ?,
		estimated_finish = 0 WHERE id = ? AND status = 'running'`, m.now().UnixNano(), name, res.Tokens, j.ID) {
		return // cancelled as it finished
	}
	m.audit(ctx, audit.Record{Tenant: j.TenantID, Model: j.Model, Reason: "job.end", Detail: map[string]string{"job_id": j.ID,
		"status": StatusSucceeded, "fine_tuned_model": name, "trained_tokens": strconv.FormatInt(res.Tokens, 10)}})
	m.log.Info("fine-tuning job succeeded", "job", j.ID, "model", name, "steps", res.Steps, "tokens", res.Tokens)
	if m.cfg.Registry != nil {
		// The registry keeps the adapter, sealed; the directory's
		// checkpoints are the tenant's data in the clear.
		os.RemoveAll(spec.Dir)
	}
}

// fail marks job j failed with an error event, unless it was cancelled
// meanwhile.
func (m *Manager) fail(ctx context.Context, j Job, code, param, msg string) {
	jerr, err := json.Marshal(JobError{Code: code, Message: msg, Param: param})
	if err != nil {
		m.log.Error("fine-tuning: fail job", "job", j.ID, "err", err)
		return
	}
	if !m.change(ctx, j.ID, LevelError, "The job failed: "+msg, `UPDATE ft_jobs SET status = 'failed', finished = ?, error = ?, estimated_finish = 0
		WHERE id = ? AND status IN ('validating_files', 'queued', 'running')`, m.now().UnixNano(), string(jerr), j.ID) {
		return
	}
	m.audit(ctx, audit.Record{Tenant: j.TenantID, Model: j.Model, Reason: "job.end", Detail: map[string]string{"job_id": j.ID,
		"status": StatusFailed, "error": code}})
	m.log.Warn("fine-tuning job failed", "job", j.ID, "code", code, "err", msg)
	os.RemoveAll(filepath.Join(m.cfg.Dir, j.ID))
}
