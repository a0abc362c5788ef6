package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/tenant"
)

// fakeTrainer trains one step per training example and epoch, writing a
// checkpoint file every second step and resuming from the newest one in
// the job's directory, as flywheel/finetune does. With steps set, each
// step waits for a value from it.
type fakeTrainer struct {
	steps chan struct{}
	fail  error // returned instead of training

	mu     sync.Mutex
	specs  []Spec
	starts []int // the step each run resumed after
}

func (f *fakeTrainer) Train(ctx context.Context, s Spec, progress func(Progress)) (*Result, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	total := len(s.Train) * max(1, s.Hyper.Epochs)
	start := 0
	entries, _ := os.ReadDir(s.Dir)
	for _, e := range entries {
		if n, ok := strings.CutPrefix(e.Name(), "ckpt-"); ok {
			k, _ := strconv.Atoi(n)
			start = max(start, k)
		}
	}
	f.mu.Lock()
	f.specs, f.starts = append(f.specs, s), append(f.starts, start)
	f.mu.Unlock()
	for i := start + 1; i <= total; i++ {
		if f.steps != nil {
			select {
			case <-f.steps:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		ckpt := i%2 == 0
		if ckpt {
			if err := os.WriteFile(filepath.Join(s.Dir, "ckpt-"+strconv.Itoa(i)), nil, 0o600); err != nil {
				return nil, err
			}
		}
		progress(Progress{Step: i, Steps: total, Loss: 1 / float64(i), LR: 1e-4, Tokens: int64(10 * i), Checkpoint: ckpt, ETA: time.Minute})
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	out := filepath.Join(s.Dir, "adapter.gguf")
	if err := os.WriteFile(out, []byte("adapter"), 0o600); err != nil {
		return nil, err
	}
	return &Result{Adapter: out, Steps: total, Tokens: int64(10 * total), TrainLoss: 1 / float64(total)}, nil
}

func (f *fakeTrainer) runs() ([]Spec, []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.specs), slices.Clone(f.starts)
}

type models map[string]string

func (m models) Path(name string) (string, error) {
	if p, ok := m[name]; ok {
		return p, nil
	}
	return "", errors.New("model not found")
}

// registry keeps what it is given.
type registry struct {
	mu  sync.Mutex
	got []Adapter
}

func (r *registry) Register(_ context.Context, a Adapter) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, a)
	return fmt.Sprintf("%s@%d", a.Name, len(r.got)), nil
}

const twoExamples = `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}
{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"bye"},{"role":"assistant","content":"ciao"}]}
`

type env struct {
	t       *testing.T
	db      *db.DB
	dir     string
	trainer *fakeTrainer
	audit   *testfixture.Audit
	cfg     Config
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	d, err := db.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	e := &env{t: t, db: d, dir: dir, trainer: &fakeTrainer{}, audit: &testfixture.Audit{}}
	e.cfg = Config{DB: d, Dir: filepath.Join(dir, "jobs"), Trainer: e.trainer, Models: models{"stories260k": "/models/stories.gguf"},
		Audit: e.audit, Node: "node-1", Jurisdiction: "KE", Threads: 3}
	return e
}

// open opens a Manager on the env's database and starts it; it is shut
// down when the test ends.
func (e *env) open(start bool) *Manager {
	e.t.Helper()
	m, err := Open(context.Background(), e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	if start {
		if err := m.Start(context.Background()); err != nil {
			e.t.Fatal(err)
		}
	}
	e.t.Cleanup(func() { m.Shutdown(context.Background()) })
	return m
}

var acme = Owner{Tenant: tenant.Tenant{ID: "tnt_acme", Name: "acme"}, KeyID: "key_1"}

func upload(t *testing.T, m *Manager, o Owner, content string) File {
	t.Helper()
	f, err := m.UploadFile(context.Background(), o, "train.jsonl", PurposeFineTune, []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func waitStatus(t *testing.T, m *Manager, o Owner, id, status string) Job {
	t.Helper()
	var j Job
	testfixture.WaitFor(t, "job "+id+" "+status, func() bool {
		var err error
		j, err = m.Job(context.Background(), o, id)
		return err == nil && j.Status == status
	})
	return j
}

// TestJobTrains: an uploaded file trains to a registered adapter, with a
// metrics event per step, a checkpoint record per checkpoint, the node's
// thread budget, and audit records of the upload, the creation and the
// end.
func TestJobTrains(t *testing.T) {
	e := newEnv(t)
	reg := &registry{}
	e.cfg.Registry = reg
	m := e.open(true)
	ctx := context.Background()
	f := upload(t, m, acme, twoExamples)
	if f.Examples != 2 || f.Bytes != int64(len(twoExamples)) || !strings.HasPrefix(f.ID, "file-") {
		t.Fatalf("file %+v", f)
	}
	j, err := m.Create(ctx, acme, CreateRequest{Model: "stories260k", TrainingFile: f.ID, Params: Params{Epochs: 2, LRMultiplier: 0.5, Rank: 4},
		Suffix: "greeter"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(j.ID, "ftjob-") || j.Status != StatusValidating || j.Seed < 0 {
		t.Fatalf("created %+v", j)
	}
	j = waitStatus(t, m, acme, j.ID, StatusSucceeded)
	if j.FineTunedModel != "greeter@1" || j.TrainedTokens != 40 || j.Finished.IsZero() || j.Error != nil {
		t.Errorf("finished job %+v", j)
	}
	specs, _ := e.trainer.runs()
	if len(specs) != 1 {
		t.Fatalf("%d runs", len(specs))
	}
	s := specs[0]
	if s.Threads != 3 || s.BasePath != "/models/stories.gguf" || len(s.Train) != 2 || s.Hyper.LR != 0.5*BaseLR || s.Hyper.Rank != 4 ||
		s.Hyper.Seed != uint64(j.Seed) || s.Train[1].Messages[2].Content != "ciao" {
		t.Errorf("spec %+v", s)
	}
	if len(reg.got) != 1 || reg.got[0].TrainingFile != f.ID || reg.got[0].TenantID != acme.Tenant.ID || reg.got[0].Result.Steps != 4 {
		t.Errorf("registered %+v", reg.got)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("the job's directory outlived the registration: %v", err)
	}
	events, more, err := m.Events(ctx, acme, j.ID, Page{})
	if err != nil || more {
		t.Fatal(err, more)
	}
	var metrics, messages int
	for _, ev := range events {
		if ev.Type == EventMetrics {
			metrics++
		} else {
			messages++
		}
	}
	if metrics != 4 || messages < 4 || !strings.Contains(events[0].Message, "successfully completed") {
		t.Errorf("%d metrics and %d message events, newest %q", metrics, messages, events[0].Message)
	}
	cks, _, err := m.Checkpoints(ctx, acme, j.ID, Page{})
	if err != nil || len(cks) != 2 || cks[0].Step != 4 || cks[1].Step != 2 || cks[0].Metrics["train_loss"] != 0.25 {
		t.Errorf("checkpoints %+v, %v", cks, err)
	}
	testfixture.WaitFor(t, "the job's end audited", func() bool { return slices.Contains(e.audit.Reasons(), "job.end") })
	if got := e.audit.Reasons(); !slices.Equal(got, []string{"file.upload", "job.create", "job.end"}) {
		t.Errorf("audit reasons %v", got)
	}
	for _, r := range e.audit.Records() {
		if r.Kind != KindFineTuning || r.Tenant != acme.Tenant.ID || r.Node != "node-1" || r.Jurisdiction != "KE" {
			t.Errorf("audit record %+v", r)
		}
	}
}

// TestRestartResumes: a node stopped while a job trains leaves it
// running; the next start resumes it from its last checkpoint and it
// finishes as it would have.
func TestRestartResumes(t *testing.T) {
	e := newEnv(t)
	e.trainer.steps = make(chan struct{})
	m := e.open(true)
	ctx := context.Background()
	f := upload(t, m, acme, twoExamples)
	j, err := m.Create(ctx, acme, CreateRequest{Model: "stories260k", TrainingFile: f.ID, Params: Params{Epochs: 3}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // steps 1..3: a checkpoint at 2
		e.trainer.steps <- struct{}{}
	}
	waitStatus(t, m, acme, j.ID, StatusRunning)
	testfixture.WaitFor(t, "the checkpoint at step 2", func() bool {
		c, _, _ := m.Checkpoints(ctx, acme, j.ID, Page{})
		return len(c) == 1
	})
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Job(ctx, acme, j.ID); got.Status != StatusRunning {
		t.Fatalf("after shutdown the job is %s; want it left running", got.Status)
	}

	e.trainer.steps = nil // the second node trains freely
	m2 := e.open(true)
	got := waitStatus(t, m2, acme, j.ID, StatusSucceeded)
	_, starts := e.trainer.runs()
	if !slices.Equal(starts, []int{0, 2}) || got.TrainedTokens != 60 {
		t.Errorf("runs resumed after steps %v, trained %d tokens; want [0 2], 60", starts, got.TrainedTokens)
	}
	events, _, _ := m2.Events(ctx, acme, j.ID, Page{Limit: MaxLimit})
	var msgs []string
	for _, ev := range events {
		if ev.Type == EventMessage {
			msgs = append(msgs, ev.Message)
		}
	}
	joined := strings.Join(msgs, "\n")
	for _, want := range []string{"shutting down", "restarted", "resumed from its checkpoint at step 2", "successfully completed"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no event says %q:\n%s", want, joined)
		}
	}
}

// TestCancel: a queued job is cancelled at once; a training one stops
// at a step boundary, and the job queued behind it runs next. Neither
// can be cancelled twice.
func TestCancel(t *testing.T) {
	e := newEnv(t)
	e.trainer.steps = make(chan struct{})
	m := e.open(true)
	ctx := context.Background()
	f := upload(t, m, acme, twoExamples)
	req := CreateRequest{Model: "stories260k", TrainingFile: f.ID}
	first, err := m.Create(ctx, acme, req)
	if err != nil {
		t.Fatal(err)
	}
	e.trainer.steps <- struct{}{}
	waitStatus(t, m, acme, first.ID, StatusRunning)
	second, err := m.Create(ctx, acme, req)
	if err != nil {
		t.Fatal(err)
	}
	third, err := m.Create(ctx, acme, req)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, acme, third.ID, StatusQueued)
	if j, err := m.Cancel(ctx, acme, third.ID); err != nil || j.Status != StatusCancelled {
		t.Fatalf("cancel queued: %+v, %v", j, err)
	}
	if j, err := m.Cancel(ctx, acme, first.ID); err != nil || j.Status != StatusCancelled {
		t.Fatalf("cancel running: %+v, %v", j, err)
	}
	// The second trains now: two steps.
	e.trainer.steps <- struct{}{}
	e.trainer.steps <- struct{}{}
	waitStatus(t, m, acme, second.ID, StatusSucceeded)
	if j, _ := m.Job(ctx, acme, first.ID); j.Status != StatusCancelled || j.FineTunedModel != "" {
		t.Errorf("cancelled job became %+v", j)
	}
	if _, err := m.Cancel(ctx, acme, first.ID); !errors.Is(err, ErrFinished) {
		t.Errorf("second cancel: %v", err)
	}
	if _, err := m.Cancel(ctx, acme, second.ID); !errors.Is(err, ErrFinished) {
		t.Errorf("cancel of a finished job: %v", err)
	}
	specs, _ := e.trainer.runs()
	if len(specs) != 2 {
		t.Errorf("%d runs; want the first and second only", len(specs))
	}
	if _, err := os.Stat(filepath.Join(e.cfg.Dir, first.ID)); !os.IsNotExist(err) {
		t.Errorf("a cancelled job's directory is left: %v", err)
	}
}

// TestBadRequests: absurd or unknown values are each a ParamError naming
// the field, and nothing is stored.
func TestBadRequests(t *testing.T) {
	e := newEnv(t)
	m := e.open(false)
	ctx := context.Background()
	f := upload(t, m, acme, twoExamples)
	seed := int64(-1)
	ok := CreateRequest{Model: "stories260k", TrainingFile: f.ID}
	tests := []struct {
		name  string
		edit  func(*CreateRequest)
		param string
	}{
		{"epochs 1e9", func(r *CreateRequest) { r.Params.Epochs = 1e9 }, "hyperparameters.n_epochs"},
		{"negative batch", func(r *CreateRequest) { r.Params.Batch = -1 }, "hyperparameters.batch_size"},
		{"huge batch", func(r *CreateRequest) { r.Params.Batch = 1 << 20 }, "hyperparameters.batch_size"},
		{"huge rank", func(r *CreateRequest) { r.Params.Rank = 1 << 30 }, "hyperparameters.rank"},
		{"huge seq", func(r *CreateRequest) { r.Params.Seq = 1 << 30 }, "hyperparameters.seq"},
		{"tiny seq", func(r *CreateRequest) { r.Params.Seq = 2 }, "hyperparameters.seq"},
		{"lr", func(r *CreateRequest) { r.Params.LRMultiplier = 1e6 }, "hyperparameters.learning_rate_multiplier"},
		{"dropout 1", func(r *CreateRequest) { r.Params.Dropout = 1 }, "hyperparameters.dropout"},
		{"unknown target", func(r *CreateRequest) { r.Params.Targets = []string{"q", "lm_head"} }, "hyperparameters.targets"},
		{"target twice", func(r *CreateRequest) { r.Params.Targets = []string{"q", "q"} }, "hyperparameters.targets"},
		{"no model", func(r *CreateRequest) { r.Model = "" }, "model"},
		{"unknown model", func(r *CreateRequest) { r.Model = "gpt-4o" }, "model"},
		{"long model", func(r *CreateRequest) { r.Model = strings.Repeat("m", 10000) }, "model"},
		{"no file", func(r *CreateRequest) { r.TrainingFile = "" }, "training_file"},
		{"unknown file", func(r *CreateRequest) { r.TrainingFile = "file-nope" }, "training_file"},
		{"not a reference", func(r *CreateRequest) { r.TrainingFile = "s3://bucket/x" }, "training_file"},
		{"bad dataset version", func(r *CreateRequest) { r.TrainingFile = "dataset:support@0" }, "training_file"},
		{"no datasets here", func(r *CreateRequest) { r.TrainingFile = "dataset:support@1" }, "training_file"},
		{"unknown validation file", func(r *CreateRequest) { r.ValidationFile = "file-nope" }, "validation_file"},
		{"suffix", func(r *CreateRequest) { r.Suffix = "a b" }, "suffix"},
		{"seed", func(r *CreateRequest) { r.Seed = &seed }, "seed"},
		{"metadata", func(r *CreateRequest) {
			r.Metadata = map[string]string{}
			for i := range 17 {
				r.Metadata[strconv.Itoa(i)] = "x"
			}
		}, "metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ok
			tt.edit(&r)
			_, err := m.Create(ctx, acme, r)
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Param != tt.param || !errors.Is(err, ErrInvalid) {
				t.Errorf("got %v; want a ParamError about %s", err, tt.param)
			}
		})
	}
	if jobs, _, err := m.Jobs(ctx, acme, Page{}); err != nil || len(jobs) != 0 {
		t.Errorf("refused requests left jobs %+v, %v", jobs, err)
	}

	// Uploads.
	for name, content := range map[string]string{
		"bad line":  twoExamples + `{"messages":[{"role":"user","content":"no answer"}]}` + "\n",
		"not json":  "hello\n",
		"empty":     "",
		"wrong key": `{"prompt":"a","completion":"b"}` + "\n",
	} {
		_, err := m.UploadFile(ctx, acme, "x.jsonl", PurposeFineTune, []byte(content))
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Param != "file" {
			t.Errorf("%s: %v", name, err)
		}
		if name == "bad line" && !strings.Contains(err.Error(), "line 3") {
			t.Errorf("bad line: %v does not name line 3", err)
		}
	}
	if _, err := m.UploadFile(ctx, acme, "x.jsonl", "assistants", []byte(twoExamples)); !errors.Is(err, ErrInvalid) {
		t.Errorf("purpose assistants: %v", err)
	}
	e.cfg.MaxFileBytes = 100
	small := e.open(false)
	if _, err := small.UploadFile(ctx, acme, "x.jsonl", PurposeFineTune, []byte(twoExamples)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversize: %v", err)
	}
	if _, _, err := m.Jobs(ctx, acme, Page{Limit: MaxLimit + 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("limit over the bound: %v", err)
	}
	if _, _, err := m.Files(ctx, acme, "", Page{After: "file-nope"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown cursor: %v", err)
	}
	files, _, _ := m.Files(ctx, acme, "", Page{})
	if len(files) != 1 {
		t.Errorf("refused uploads left %d files", len(files)-1)
	}
}

// TestTenantsApart: a tenant sees only its own files and jobs, and cannot
// train on another's file.
func TestTenantsApart(t *testing.T) {
	e := newEnv(t)
	m := e.open(false)
	ctx := context.Background()
	other := Owner{Tenant: tenant.Tenant{ID: "tnt_other", Name: "other"}}
	f := upload(t, m, acme, twoExamples)
	j, err := m.Create(ctx, acme, CreateRequest{Model: "stories260k", TrainingFile: f.ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.File(ctx, other, f.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another tenant's file: %v", err)
	}
	if err := m.DeleteFile(ctx, other, f.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting another tenant's file: %v", err)
	}
	if _, err := m.Create(ctx, other, CreateRequest{Model: "stories260k", TrainingFile: f.ID}); !errors.Is(err, ErrInvalid) {
		t.Errorf("training on another tenant's file: %v", err)
	}
	for name, err := range map[string]error{
		"get":    second(m.Job(ctx, other, j.ID)),
		"cancel": second(m.Cancel(ctx, other, j.ID)),
		"events": third(m.Events(ctx, other, j.ID, Page{})),
		"ckpts":  third(m.Checkpoints(ctx, other, j.ID, Page{})),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of another tenant's job: %v", name, err)
		}
	}
	if list, _, _ := m.Jobs(ctx, other, Page{}); len(list) != 0 {
		t.Errorf("another tenant lists %d jobs", len(list))
	}
	if list, _, _ := m.Files(ctx, other, "", Page{}); len(list) != 0 {
		t.Errorf("another tenant lists %d files", len(list))
	}
	// Paging: newest first, after a cursor.
	g := upload(t, m, acme, twoExamples)
	list, more, err := m.Files(ctx, acme, "", Page{Limit: 1})
	if err != nil || len(list) != 1 || !more || list[0].ID != g.ID {
		t.Fatalf("first page %+v %v %v", list, more, err)
	}
	list, more, err = m.Files(ctx, acme, "", Page{After: g.ID, Limit: 1})
	if err != nil || len(list) != 1 || more || list[0].ID != f.ID {
		t.Errorf("second page %+v %v %v", list, more, err)
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T any](_ T, _ bool, err error) error { return err }

// TestResidency: a tenant whose home is elsewhere can neither keep files
// nor train here.
func TestResidency(t *testing.T) {
	e := newEnv(t)
	m := e.open(false)
	ctx := context.Background()
	ng := Owner{Tenant: tenant.Tenant{ID: "tnt_ng", Name: "ng-health", Policy: tenant.Policy{Jurisdictions: []string{"NG", "KE"}, Home: "NG"}}}
	if _, err := m.UploadFile(ctx, ng, "x.jsonl", PurposeFineTune, []byte(twoExamples)); !errors.Is(err, ErrResidency) || !strings.Contains(err.Error(), "NG") {
		t.Errorf("upload away from home: %v", err)
	}
	if _, err := m.Create(ctx, ng, CreateRequest{Model: "stories260k", TrainingFile: "file-x"}); !errors.Is(err, ErrResidency) {
		t.Errorf("job away from home: %v", err)
	}
	unpinned := Owner{Tenant: tenant.Tenant{ID: "tnt_br", Name: "br", Policy: tenant.Policy{Jurisdictions: []string{"BR"}}}}
	if _, err := m.UploadFile(ctx, unpinned, "x.jsonl", PurposeFineTune, []byte(twoExamples)); !errors.Is(err, ErrResidency) {
		t.Errorf("upload outside the tenant's jurisdictions: %v", err)
	}
	home := Owner{Tenant: tenant.Tenant{ID: "tnt_ke", Name: "ke", Policy: tenant.Policy{Jurisdictions: []string{"KE"}, Home: "KE"}}}
	upload(t, m, home, twoExamples)
}

// TestAuditFailure: when the audit log cannot record, an upload, a job
// and a deletion are not made.
func TestAuditFailure(t *testing.T) {
	e := newEnv(t)
	m := e.open(false)
	ctx := context.Background()
	f := upload(t, m, acme, twoExamples)
	e.audit.Fail(fmt.Errorf("disk full: %w", audit.ErrUnavailable))
	if _, err := m.UploadFile(ctx, acme, "x.jsonl", PurposeFineTune, []byte(twoExamples)); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("upload: %v", err)
	}
	if _, err := m.Create(ctx, acme, CreateRequest{Model: "stories260k", TrainingFile: f.ID}); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("create: %v", err)
	}
	if err := m.DeleteFile(ctx, acme, f.ID); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("delete: %v", err)
	}
	files, _, _ := m.Files(ctx, acme, "", Page{})
	jobs, _, _ := m.Jobs(ctx, acme, Page{})
	if len(files) != 1 || len(jobs) != 0 {
		t.Errorf("%d files and %d jobs; want the first file only", len(files), len(jobs))
	}
}

// TestDatasetAndFailures: a dataset version trains with its eval split
// as validation data; a file deleted before its job reads it, and a
// trainer's error, fail their jobs with the error saying why.
func TestDatasetAndFailures(t *testing.T) {
	e := newEnv(t)
	ds, err := dataset.Open(context.Background(), e.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := ds.Import(ctx, acme.Tenant.ID, "support", strings.NewReader(twoExamples)); err != nil {
		t.Fatal(err)
	}
	e.cfg.Datasets = ds
	m := e.open(false) // not started: the jobs wait
	j, err := m.Create(ctx, acme, CreateRequest{Model: "stories260k", TrainingFile: "dataset:support"})
	if err != nil {
		t.Fatal(err)
	}
	if j.TrainingFile != "dataset:support@1" {
		t.Errorf("training file %q; want the latest version fixed", j.TrainingFile)
	}
	if _, err := m.Create(ctx, acme, CreateRequest{Model: "stories260k", TrainingFile: "dataset:support", ValidationFile: "dataset:support"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an imported dataset has no eval split to validate with: %v", err)
	}
	f := upload(t, m, acme, twoExamples)
	gone, err := m.Create(ctx, acme, CreateRequest{Model: "stories260k", TrainingFile: f.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteFile(ctx, acme, f.ID); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	failed := waitStatus(t, m, acme, gone.ID, StatusFailed)
	if failed.Error == nil || failed.Error.Code != "invalid_training_file" || !strings.Contains(failed.Error.Message, "deleted") {
		t.Errorf("job on a deleted file: %+v", failed.Error)
	}
	waitStatus(t, m, acme, j.ID, StatusSucceeded)

	e.trainer.fail = errors.New("rank 4096 exceeds the model's dimension 64")
	bad, err := m.Create(ctx, acme, CreateRequest{Model: "stories260k", TrainingFile: "dataset:support@1"})
	if err != nil {
		t.Fatal(err)
	}
	failed = waitStatus(t, m, acme, bad.ID, StatusFailed)
	if failed.Error == nil || failed.Error.Code != "training_failed" || !strings.Contains(failed.Error.Message, "rank 4096") {
		t.Errorf("trainer error: %+v", failed.Error)
	}
	if !strings.HasPrefix(m.modelName(j), "ft:stories260k:tnt_acme::") {
		t.Errorf("model name %q", m.modelName(j))
	}
}

// TestNoTrainer: a node without a trainer keeps files and refuses jobs.
func TestNoTrainer(t *testing.T) {
	e := newEnv(t)
	e.cfg.Trainer = nil
	m := e.open(true)
	f := upload(t, m, acme, twoExamples)
	if _, err := m.Create(context.Background(), acme, CreateRequest{Model: "stories260k", TrainingFile: f.ID}); !errors.Is(err, ErrNoTrainer) {
		t.Errorf("create without a trainer: %v", err)
	}
}

// TestDataGoneWhileTraining: a job whose training data stops being
// readable while it trains (its file deleted here; a shred of the
// tenant's key does the same to a sealed file or dataset) fails instead
// of keeping an adapter of data that no longer exists.
func TestDataGoneWhileTraining(t *testing.T) {
	e := newEnv(t)
	reg := &registry{}
	e.cfg.Registry = reg
	e.trainer.steps = make(chan struct{})
	m := e.open(true)
	ctx := context.Background()
	f := upload(t, m, acme, twoExamples)
	j, err := m.Create(ctx, acme, CreateRequest{Model: "stories260k", TrainingFile: f.ID})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, m, acme, j.ID, StatusRunning)
	if err := m.DeleteFile(ctx, acme, f.ID); err != nil {
		t.Fatal(err)
	}
	close(e.trainer.steps)
	j = waitStatus(t, m, acme, j.ID, StatusFailed)
	if j.Error == nil || j.Error.Code != "training_data_erased" {
		t.Fatalf("job %+v: want the code training_data_erased", j)
	}
	if len(reg.got) != 0 {
		t.Errorf("an adapter of deleted data was registered: %+v", reg.got)
	}
	testfixture.WaitFor(t, "the failed job's directory removed", func() bool {
		_, err := os.Stat(filepath.Join(e.cfg.Dir, j.ID))
		return os.IsNotExist(err)
	})
}
