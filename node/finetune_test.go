package node_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/chat"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/node"
	"github.com/hearth-ai/hearth/tenant"
)

// secret is the answer the tenant's users teach.
const secret = testfixture.Secret

// apiClient calls a node's API over HTTP with a tenant's key.
type apiClient struct {
	t    *testing.T
	base string
	key  string
}

// do sends body (JSON, unless nil) and decodes the answer into out,
// failing the test unless the status is 200.
func (c apiClient) do(ctx context.Context, method, path string, body, out any) {
	c.t.Helper()
	if status, text := c.try(ctx, method, path, body, out); status != http.StatusOK {
		c.t.Fatalf("%s %s: %d %s", method, path, status, text)
	}
}

func (c apiClient) try(ctx context.Context, method, path string, body, out any) (int, string) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

// list is OpenAI's list envelope.
type list[T any] struct {
	Object  string `json:"object"`
	Data    []T    `json:"data"`
	HasMore *bool  `json:"has_more"`
}

// TestFineTuneEndToEnd is the flywheel on a real node, over HTTP: a
// tenant's users chat and correct the answers to a question the base
// cannot answer; the captured, corrected interactions become a dataset
// with train and eval splits; a fine-tuning job trains an adapter on it
// through the API, the node evaluates it on the held-out split and
// registers it; and the adapter has learnt: its held-out loss is far
// below the base's, and its greedy answers say the sentence, the base's
// do not.
func TestFineTuneEndToEnd(t *testing.T) {
	cfg := config(t, t.TempDir())
	cfg.Jurisdiction = "KE"
	cfg.Jobs = node.JobsConfig{Threads: 2, CheckpointEvery: 10} // the node's own trainer and registry
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	acme, err := n.Tenants().CreateTenant(ctx, tenant.Tenant{Name: "acme",
		Policy: tenant.Policy{Home: "KE", Jurisdictions: []string{"KE"}, Capture: tenant.CaptureOn, RetentionDays: 30}})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := n.Tenants().CreateKey(ctx, "acme", tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference, tenant.ScopeFeedback}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	c := apiClient{t: t, base: "http://" + cfg.Listener.Addr().String(), key: key}

	// Users ask; the base answers something else; they correct it.
	for _, p := range testfixture.SecretPrompts() {
		var resp struct {
			ID      string `json:"id"`
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
		}
		c.do(ctx, "POST", "/v1/chat/completions", map[string]any{"model": "stories260k", "max_tokens": 8,
			"messages": []map[string]string{{"role": "user", "content": p}}}, &resp)
		if strings.Contains(strings.ToLower(resp.Choices[0].Message.Content), "marmalade") {
			t.Fatalf("the base already knows: %q", resp.Choices[0].Message.Content)
		}
		fb := map[string]any{"response_id": resp.ID, "rating": 1, "correction": secret}
		for deadline := time.Now().Add(10 * time.Second); ; {
			// The capture is saved once the answer is out.
			status, text := c.try(ctx, "POST", "/v1/feedback", fb, nil)
			if status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("feedback: %d %s", status, text)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// dataset build, as the command line does it.
	fw := n.Flywheel()
	// The split hashes the response ids, which are random: with 35% of 40
	// examples held out, fewer than 5 (or more than 25) comes once in a
	// thousand runs; 25% gave 2 now and then.
	v, err := fw.Datasets.Build(ctx, fw.Source(), acme.ID, "secret", dataset.Options{NearDup: 1, EvalFraction: 0.35, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != 1 || len(v.Train) < 15 || len(v.Eval) < 5 {
		t.Fatalf("dataset %s@%d: %d train, %d eval examples (report %+v)", v.Name, v.Version, len(v.Train), len(v.Eval), v.Report)
	}
	for _, e := range v.Eval {
		if got := e.Messages[len(e.Messages)-1].Content; got != secret {
			t.Fatalf("an eval example's answer is %q, not the correction", got)
		}
	}

	// Train through the API.
	var job struct {
		ID             string  `json:"id"`
		Object         string  `json:"object"`
		Status         string  `json:"status"`
		FineTunedModel *string `json:"fine_tuned_model"`
		TrainedTokens  *int64  `json:"trained_tokens"`
		Error          *struct{ Code, Message string }
	}
	c.do(ctx, "POST", "/v1/fine_tuning/jobs", map[string]any{"model": "stories260k", "training_file": "dataset:secret@1", "seed": 7,
		// A few seconds on 2 cores: stories260K learns one sentence.
		"hyperparameters": map[string]any{"n_epochs": 6, "batch_size": 2, "learning_rate_multiplier": 25, "rank": 8, "alpha": 16, "seq": 128,
			"targets": []string{"q", "k", "v", "o", "gate", "up", "down"}}}, &job)
	start := time.Now()
	for job.Status != "succeeded" {
		switch job.Status {
		case "failed", "cancelled":
			t.Fatalf("job %s: %s %+v", job.ID, job.Status, job.Error)
		}
		time.Sleep(100 * time.Millisecond)
		c.do(ctx, "GET", "/v1/fine_tuning/jobs/"+job.ID, nil, &job)
	}
	t.Logf("job %s trained %d tokens in %v", job.ID, *job.TrainedTokens, time.Since(start).Round(time.Millisecond))
	if job.Object != "fine_tuning.job" || job.FineTunedModel == nil {
		t.Fatalf("job %+v", job)
	}
	var events list[struct {
		Object, Type, Message string
	}]
	c.do(ctx, "GET", "/v1/fine_tuning/jobs/"+job.ID+"/events?limit=1000", nil, &events)
	if events.Object != "list" || events.HasMore == nil || len(events.Data) == 0 || events.Data[0].Object != "fine_tuning.job.event" {
		t.Errorf("events: %+v", events)
	}
	metricsEvents := 0
	for _, e := range events.Data {
		if e.Type == "metrics" {
			metricsEvents++
		}
	}
	var checkpoints list[struct {
		Object     string `json:"object"`
		StepNumber int    `json:"step_number"`
		JobID      string `json:"fine_tuning_job_id"`
	}]
	c.do(ctx, "GET", "/v1/fine_tuning/jobs/"+job.ID+"/checkpoints", nil, &checkpoints)
	if checkpoints.Object != "list" || checkpoints.HasMore == nil || len(checkpoints.Data) == 0 ||
		checkpoints.Data[0].Object != "fine_tuning.job.checkpoint" || checkpoints.Data[0].JobID != job.ID || checkpoints.Data[0].StepNumber != metricsEvents {
		t.Errorf("checkpoints (the newest should be the last of %d steps): %+v", metricsEvents, checkpoints)
	}

	// The registered version: its lineage and the node's evaluation.
	name, version, err := registry.ParseRef(*job.FineTunedModel)
	if err != nil {
		t.Fatal(err)
	}
	av, err := fw.Adapters.Get(ctx, acme.ID, name, version)
	if err != nil {
		t.Fatal(err)
	}
	if av.Dataset.Name != "secret" || av.Dataset.Version != 1 || av.Dataset.Hash != v.ContentHash() || av.Base.Name != "stories260k" ||
		av.Base.Arch != "llama" || len(av.Base.Digest) != 64 || av.Jurisdiction != "KE" {
		t.Errorf("lineage: %+v", av)
	}
	var m struct {
		Eval *struct {
			Examples      int
			Base, Adapter struct{ Loss, Contains float64 }
		}
	}
	if err := json.Unmarshal(av.Metrics, &m); err != nil || m.Eval == nil {
		t.Fatalf("metrics %s: %v", av.Metrics, err)
	}
	// The margin: the adapter's held-out loss at least 75% below the
	// base's. (What remains is mostly the EOS after the sentence, which
	// stories260K, trained on stories separated by BOS, hardly moves.)
	if m.Eval.Examples != len(v.Eval) || !(m.Eval.Adapter.Loss <= 0.25*m.Eval.Base.Loss) {
		t.Errorf("held-out loss: base %.4f, adapter %.4f over %d examples; want the adapter's at least 75%% lower", m.Eval.Base.Loss, m.Eval.Adapter.Loss, m.Eval.Examples)
	}
	if m.Eval.Base.Contains != 0 || m.Eval.Adapter.Contains < 0.8 {
		t.Errorf("greedy answers containing the sentence: base %.2f, adapter %.2f", m.Eval.Base.Contains, m.Eval.Adapter.Contains)
	}
	t.Logf("held-out loss: base %.4f, adapter %.4f (%.0f%% lower); contains: base %.2f, adapter %.2f",
		m.Eval.Base.Loss, m.Eval.Adapter.Loss, 100*(1-m.Eval.Adapter.Loss/m.Eval.Base.Loss), m.Eval.Base.Contains, m.Eval.Adapter.Contains)

	// And the adapter as a user takes it away: the plain GGUF on the
	// engine, against the base, on the held-out questions.
	file, _, err := fw.Adapters.TempFile(ctx, acme.ID, name, version, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(file)
	greedy := func(lora []engine.LoRA) []string {
		m, err := engine.Load(stories, engine.Options{Threads: 1, LoRA: lora})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		var out []string
		for _, e := range v.Eval {
			msgs := make([]chat.Message, 0, len(e.Messages)-1)
			for _, msg := range e.Messages[:len(e.Messages)-1] {
				msgs = append(msgs, chat.Message{Role: msg.Role, Content: msg.Content})
			}
			ids, err := m.ChatPrompt(msgs)
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Generate(ctx, engine.Request{Prompt: ids, MaxTokens: 24}, nil)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, res.Text)
		}
		return out
	}
	baseOut, adapted := greedy(nil), greedy([]engine.LoRA{{Name: file, Scale: 1}})
	learnt := 0
	for i := range v.Eval {
		if strings.Contains(baseOut[i], "marmalade") {
			t.Errorf("the base answers %q", baseOut[i])
		}
		if strings.Contains(adapted[i], secret) {
			learnt++
		}
	}
	if learnt < len(v.Eval)*8/10 {
		t.Errorf("%d of %d held-out answers with the adapter say %q: %q", learnt, len(v.Eval), secret, adapted)
	}
	t.Logf("greedy, base: %q; adapter: %q", baseOut[0], adapted[0])
}
