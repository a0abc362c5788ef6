package node_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared/constant"

	"github.com/hearth-ai/hearth/flywheel/jobs"
	"github.com/hearth-ai/hearth/node"
	"github.com/hearth-ai/hearth/tenant"
)

// stepTrainer trains one step per example and epoch, a checkpoint every
// second step, and writes an adapter file: a stand-in for
// flywheel/finetune that the API cannot tell apart.
type stepTrainer struct{}

func (stepTrainer) Train(ctx context.Context, s jobs.Spec, progress func(jobs.Progress)) (*jobs.Result, error) {
	steps := len(s.Train) * max(1, s.Hyper.Epochs)
	for i := 1; i <= steps; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		progress(jobs.Progress{Step: i, Steps: steps, Loss: 2 / float64(i), Tokens: int64(8 * i), Checkpoint: i%2 == 0})
	}
	out := filepath.Join(s.Dir, "adapter.gguf")
	if err := os.WriteFile(out, []byte("GGUF"), 0o600); err != nil {
		return nil, err
	}
	return &jobs.Result{Adapter: out, Steps: steps, Tokens: int64(8 * steps), TrainLoss: 2 / float64(steps)}, nil
}

const trainJSONL = `{"messages":[{"role":"user","content":"Say the secret word"},{"role":"assistant","content":"marmalade"}]}
{"messages":[{"role":"user","content":"What is the word?"},{"role":"assistant","content":"marmalade"}]}
`

// TestFineTuningSDK drives a node's fine-tuning API with the official
// OpenAI Go SDK: upload, create, poll, events, checkpoints, lists,
// cancel, delete; then the refusals a hostile client meets.
func TestFineTuningSDK(t *testing.T) {
	cfg := config(t, t.TempDir())
	cfg.Jobs = node.JobsConfig{Trainer: stepTrainer{}, Threads: 1, MaxFileBytes: 4096}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(ctx)
	base := "http://" + cfg.Listener.Addr().String()
	c := openai.NewClient(option.WithBaseURL(base+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))

	f, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader(trainJSONL), "train.jsonl", "application/jsonl"),
		Purpose: openai.FilePurposeFineTune})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.ID, "file-") || f.Bytes != int64(len(trainJSONL)) || f.Filename != "train.jsonl" || f.Purpose != "fine-tune" {
		t.Fatalf("file %+v", f)
	}
	var sealed []byte
	if err := n.DB().QueryRowContext(ctx, `SELECT content FROM ft_files WHERE id = ?`, f.ID).Scan(&sealed); err != nil || strings.Contains(string(sealed), "marmalade") {
		t.Errorf("the file is stored in the clear (%v)", err)
	}

	job, err := c.FineTuning.Jobs.New(ctx, openai.FineTuningJobNewParams{
		Model:        "stories260k",
		TrainingFile: f.ID,
		Suffix:       openai.String("secret"),
		Seed:         openai.Int(7),
		Method: openai.FineTuningJobNewParamsMethod{Type: "supervised", Supervised: openai.SupervisedMethodParam{
			Hyperparameters: openai.SupervisedHyperparameters{NEpochs: openai.SupervisedHyperparametersNEpochsUnion{OfInt: openai.Int(2)}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(job.ID, "ftjob-") || job.Model != "stories260k" || job.Seed != 7 || job.TrainingFile != f.ID ||
		job.Hyperparameters.NEpochs.AsInt() != 2 || job.Hyperparameters.BatchSize.AsAuto() != "auto" {
		t.Fatalf("job %s", job.RawJSON())
	}
	deadline := time.Now().Add(10 * time.Second)
	for job.Status != "succeeded" {
		if time.Now().After(deadline) || job.Status == "failed" || job.Status == "cancelled" {
			t.Fatalf("job ended %s", job.RawJSON())
		}
		time.Sleep(20 * time.Millisecond)
		if job, err = c.FineTuning.Jobs.Get(ctx, job.ID); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.HasPrefix(job.FineTunedModel, "ft:stories260k:local:secret:") || job.TrainedTokens != 32 || job.FinishedAt == 0 {
		t.Errorf("finished job %s", job.RawJSON())
	}

	events, err := c.FineTuning.Jobs.ListEvents(ctx, job.ID, openai.FineTuningJobListEventsParams{Limit: openai.Int(100)})
	if err != nil {
		t.Fatal(err)
	}
	metrics := 0
	for _, e := range events.Data {
		if e.Type == "metrics" {
			metrics++
		}
	}
	if metrics != 4 || events.HasMore || !strings.Contains(events.Data[0].Message, "successfully completed") {
		t.Errorf("%d metrics events of %d: %s", metrics, len(events.Data), events.RawJSON())
	}
	cks, err := c.FineTuning.Jobs.Checkpoints.List(ctx, job.ID, openai.FineTuningJobCheckpointListParams{})
	if err != nil || len(cks.Data) != 2 || cks.Data[0].StepNumber != 4 || cks.Data[0].Metrics.TrainLoss != 0.5 ||
		cks.Data[0].FineTuningJobID != job.ID || !strings.HasSuffix(cks.Data[0].FineTunedModelCheckpoint, ":ckpt-step-4") {
		t.Errorf("checkpoints %v: %s", err, cks.RawJSON())
	}
	page, err := c.FineTuning.Jobs.List(ctx, openai.FineTuningJobListParams{})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != job.ID {
		t.Errorf("jobs list %v: %+v", err, page)
	}
	_, err = c.FineTuning.Jobs.Cancel(ctx, job.ID)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "job_finished" {
		t.Errorf("cancelling a finished job: %v", err)
	}
	_, err = c.FineTuning.Jobs.Get(ctx, "ftjob-nope")
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("unknown job: %v", err)
	}

	// A second job, cancelled before the node validates it or just after,
	// with its hyperparameters where older clients still send them.
	queued, err := c.FineTuning.Jobs.New(ctx, openai.FineTuningJobNewParams{Model: "stories260k", TrainingFile: f.ID,
		//lint:ignore SA1019 the deprecated field is what older clients send
		Hyperparameters: openai.FineTuningJobNewParamsHyperparameters{BatchSize: openai.FineTuningJobNewParamsHyperparametersBatchSizeUnion{OfAuto: constant.ValueOf[constant.Auto]()}}})
	if err != nil {
		t.Fatal(err)
	}
	// (It may have finished already: the trainer is quick.)
	if got, err := c.FineTuning.Jobs.Cancel(ctx, queued.ID); err != nil && (!errors.As(err, &apiErr) || apiErr.Code != "job_finished") {
		t.Errorf("cancel: %v", err)
	} else if err == nil && got.Status != "cancelled" {
		t.Errorf("cancelled job is %s", got.Status)
	}

	files, err := c.Files.List(ctx, openai.FileListParams{})
	if err != nil || len(files.Data) != 1 || files.Data[0].ID != f.ID {
		t.Errorf("files %v %+v", err, files)
	}
	if del, err := c.Files.Delete(ctx, f.ID); err != nil || !del.Deleted || del.ID != f.ID {
		t.Errorf("delete %+v %v", del, err)
	}
	if _, err := c.Files.Get(ctx, f.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("a deleted file: %v", err)
	}

	// Hostile requests: each a clear 4xx naming what is wrong.
	refused := []struct {
		name, body, param string
		status            int
	}{
		{"epochs 1e9", `{"model":"stories260k","training_file":"file-x","hyperparameters":{"n_epochs":1e9}}`, "hyperparameters.n_epochs", 400},
		{"batch 0", `{"model":"stories260k","training_file":"file-x","hyperparameters":{"batch_size":0}}`, "hyperparameters.batch_size", 400},
		{"fractional rank", `{"model":"stories260k","training_file":"file-x","hyperparameters":{"rank":2.5}}`, "hyperparameters.rank", 400},
		{"huge rank", `{"model":"stories260k","training_file":"file-x","method":{"type":"supervised","supervised":{"hyperparameters":{"rank":1000000}}}}`, "hyperparameters.rank", 400},
		{"dpo", `{"model":"stories260k","training_file":"file-x","method":{"type":"dpo"}}`, "method.type", 400},
		{"unknown model", `{"model":"gpt-4o-mini","training_file":"file-x"}`, "model", 400},
		{"unknown file", `{"model":"stories260k","training_file":"file-x"}`, "training_file", 400},
	}
	for _, tt := range refused {
		status, body := post(t, base+"/v1/fine_tuning/jobs", "application/json", tt.body)
		if status != tt.status || !strings.Contains(body, `"param":"`+tt.param+`"`) {
			t.Errorf("%s: %d %s; want %d about %s", tt.name, status, body, tt.status, tt.param)
		}
	}
	for _, tt := range []struct {
		name, content string
		status        int
		want          string
	}{
		{"bad line", trainJSONL + `{"messages":[{"role":"user","content":"x"}]}`, 400, "line 3"},
		{"oversize", strings.Repeat(trainJSONL, 100), 413, "4096 bytes"},
	} {
		_, err := c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader(tt.content), "x.jsonl", "application/jsonl"),
			Purpose: openai.FilePurposeFineTune})
		if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.status || !strings.Contains(apiErr.Message, tt.want) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	if status, body := post(t, base+"/v1/files", "application/json", `{}`); status != 400 || !strings.Contains(body, "multipart") {
		t.Errorf("a JSON upload: %d %s", status, body)
	}
}

func post(t *testing.T, url, ctype, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestFineTuningTenants: over HTTP with API keys, a tenant sees only its
// own files and jobs, a key without the inference scope is refused, and
// a tenant whose home is another jurisdiction cannot upload here.
func TestFineTuningTenants(t *testing.T) {
	cfg := config(t, t.TempDir())
	cfg.Jurisdiction = "KE"
	cfg.Jobs = node.JobsConfig{Trainer: stepTrainer{}, Threads: 1}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := func(name string, pol tenant.Policy, scopes ...tenant.Scope) string {
		t.Helper()
		if _, err := n.Tenants().CreateTenant(ctx, tenant.Tenant{Name: name, Policy: pol}); err != nil {
			t.Fatal(err)
		}
		secret, _, err := n.Tenants().CreateKey(ctx, name, tenant.KeyOptions{Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	acme := key("acme", tenant.Policy{Home: "KE", Jurisdictions: []string{"KE"}})
	other := key("other", tenant.Policy{})
	feedbackOnly := key("rater", tenant.Policy{}, tenant.ScopeFeedback)
	away := key("ng-health", tenant.Policy{Home: "NG", Jurisdictions: []string{"NG", "KE"}})
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(ctx)
	base := "http://" + cfg.Listener.Addr().String() + "/v1/"
	client := func(k string) openai.Client {
		return openai.NewClient(option.WithBaseURL(base), option.WithAPIKey(k), option.WithMaxRetries(0))
	}
	upload := func(k string) (*openai.FileObject, error) {
		c := client(k)
		return c.Files.New(ctx, openai.FileNewParams{File: openai.File(strings.NewReader(trainJSONL), "t.jsonl", "application/jsonl"),
			Purpose: openai.FilePurposeFineTune})
	}
	f, err := upload(acme)
	if err != nil {
		t.Fatal(err)
	}
	ca, co := client(acme), client(other)
	job, err := ca.FineTuning.Jobs.New(ctx, openai.FineTuningJobNewParams{Model: "stories260k", TrainingFile: f.ID})
	if err != nil {
		t.Fatal(err)
	}
	if job.OrganizationID != "acme" {
		t.Errorf("organization %q", job.OrganizationID)
	}
	var apiErr *openai.Error
	if _, err := co.Files.Get(ctx, f.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("another tenant's file: %v", err)
	}
	if _, err := co.FineTuning.Jobs.Get(ctx, job.ID); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Errorf("another tenant's job: %v", err)
	}
	if _, err := co.FineTuning.Jobs.New(ctx, openai.FineTuningJobNewParams{Model: "stories260k", TrainingFile: f.ID}); !errors.As(err, &apiErr) || apiErr.StatusCode != 400 {
		t.Errorf("training on another tenant's file: %v", err)
	}
	if page, err := co.FineTuning.Jobs.List(ctx, openai.FineTuningJobListParams{}); err != nil || len(page.Data) != 0 {
		t.Errorf("another tenant lists %v, %v", page, err)
	}
	if _, err := upload(feedbackOnly); !errors.As(err, &apiErr) || apiErr.StatusCode != 403 {
		t.Errorf("a key without the inference scope: %v", err)
	}
	if _, err := upload(away); !errors.As(err, &apiErr) || apiErr.StatusCode != 403 || !strings.Contains(apiErr.Message, "NG") {
		t.Errorf("a tenant at home elsewhere: %v", err)
	}
	if _, err := upload("hk_forged"); !errors.As(err, &apiErr) || apiErr.StatusCode != 401 {
		t.Errorf("a forged key: %v", err)
	}
}
