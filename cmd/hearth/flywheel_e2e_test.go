package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/internal/testfixture"
)

// TestFlywheelEndToEnd is the whole flywheel on real `hearth serve`
// processes, as a tenant's users and its operator live it:
//
//  1. users ask the base a question it cannot answer and correct its
//     answers; the captures become a dataset (between two runs of the
//     node, so the rest also proves the state survives a restart);
//  2. a fine-tuning job trains an adapter on it; a second job trains
//     another on a mislabelled dataset the operator imported;
//  3. a rollout of the first passes its held-out eval gate, goes live at
//     10% of the users, and simulated users, who rate an answer up when
//     it is right, carry it through 25, 50 and 100% to promotion;
//  4. a rollout of the mislabelled adapter passes its eval gate (on its
//     own data, where it is better) and goes live, the users rate it
//     down, and its feedback gate rolls it back on its own;
//  5. the audit log holds every step with its numbers, and verifies.
func TestFlywheelEndToEnd(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "tenants", "create", "acme", "--jurisdictions", "KE", "--home", "KE", "--capture", "on", "--retention-days", "30", "--models", "stories260k")
	user, _ := mustRun(t, dir, "keys", "create", "--tenant", "acme", "--scopes", "inference,feedback")
	ops, _ := mustRun(t, dir, "keys", "create", "--tenant", "acme", "--scopes", "admin")
	user, ops = strings.TrimSpace(user), strings.TrimSpace(ops)

	// The mislabelled dataset: the same questions, a wrong answer.
	const wrong = "The secret word is pickle."
	poisoned := filepath.Join(dir, "pickle.jsonl")
	writeAnswers(t, poisoned, wrong)
	mustRun(t, dir, "dataset", "build", "--tenant", "acme", "--name", "pickle", "--from", poisoned, "--near-dup", "1", "--eval", "0.25", "--seed", "3")

	serve := func() *node {
		return startNode(t, "--data-dir", dir, "--jurisdiction", "KE", "--rollout-interval", "50ms", "--train-threads", "2")
	}
	var n *node
	var c *http.Client
	restart := func() {
		n = serve()
		c = loopbackOnly(n)
		c.Timeout = time.Minute
	}
	restart()
	var lastHeader http.Header
	call := func(key, method, path string, body any, out any) (int, string) {
		t.Helper()
		var b []byte
		if body != nil {
			var err error
			if b, err = json.Marshal(body); err != nil {
				t.Fatal(err)
			}
		}
		status, hdr, text := keyedRequest(t, c, method, n.url+path, key, string(b), "Content-Type", "application/json")
		if status < 300 && out != nil {
			if err := json.Unmarshal([]byte(text), out); err != nil {
				t.Fatalf("%s %s: %v in %s", method, path, err, text)
			}
		}
		lastHeader = hdr
		return status, text
	}
	// ask sends one chat for the deployment and returns the answer, the
	// response id and the rollout arm that served it.
	ask := func(who, q string) (answer, id, arm string) {
		t.Helper()
		var resp struct {
			ID      string `json:"id"`
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
		}
		body := map[string]any{"model": "stories260k", "max_tokens": 32, "temperature": 0, "user": who,
			"messages": []map[string]string{{"role": "user", "content": q}}}
		if status, text := call(user, "POST", "/v1/chat/completions", body, &resp); status != 200 {
			t.Fatalf("chat: %d %s", status, text)
		}
		if _, arm, _ = strings.Cut(lastHeader.Get("X-Hearth-Rollout"), " "); arm == "" {
			arm = "none"
		}
		return resp.Choices[0].Message.Content, resp.ID, arm
	}
	rate := func(id string, fb map[string]any) {
		t.Helper()
		fb["response_id"] = id
		for deadline := time.Now().Add(10 * time.Second); ; {
			// The capture is saved once the answer is out.
			status, text := call(user, "POST", "/v1/feedback", fb, nil)
			if status == 200 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("feedback: %d %s", status, text)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// 1. The users correct what the base says.
	for i, q := range testfixture.SecretPrompts() {
		answer, id, _ := ask(fmt.Sprint("teacher-", i), q)
		if strings.Contains(answer, "marmalade") {
			t.Fatalf("the base already knows: %q", answer)
		}
		rate(id, map[string]any{"rating": 1, "correction": testfixture.Secret})
	}
	stopNode(t, n)
	out, _ := mustRun(t, dir, "dataset", "build", "--tenant", "acme", "--name", "secret", "--near-dup", "1", "--eval", "0.25", "--seed", "3")
	t.Logf("dataset build: %s", strings.TrimSpace(out))
	restart()

	// 2. Two fine-tuning jobs.
	train := func(training string) string {
		t.Helper()
		var job struct {
			ID             string  `json:"id"`
			Status         string  `json:"status"`
			FineTunedModel *string `json:"fine_tuned_model"`
			Error          *struct{ Code, Message string }
		}
		if status, text := call(user, "POST", "/v1/fine_tuning/jobs", map[string]any{"model": "stories260k", "training_file": training, "seed": 7,
			"hyperparameters": map[string]any{"n_epochs": 6, "batch_size": 2, "learning_rate_multiplier": 25, "rank": 8, "alpha": 16, "seq": 128,
				"targets": []string{"q", "k", "v", "o", "gate", "up", "down"}}}, &job); status != 200 {
			t.Fatalf("fine-tuning job on %s: %d %s", training, status, text)
		}
		for job.Status != "succeeded" {
			if job.Status == "failed" || job.Status == "cancelled" {
				t.Fatalf("job %s: %s %+v", job.ID, job.Status, job.Error)
			}
			time.Sleep(100 * time.Millisecond)
			call(user, "GET", "/v1/fine_tuning/jobs/"+job.ID, nil, &job)
		}
		name := *job.FineTunedModel
		if !strings.Contains(name, ":") {
			name = "stories260k:" + name
		}
		return name
	}
	good, bad := train("dataset:secret@1"), train("dataset:pickle@1")
	t.Logf("trained %s and %s", good, bad)

	type rolloutState struct {
		ID, State, Stable, Candidate, Reason string
		Share                                int
		Eval                                 *struct {
			StableLoss    float64 `json:"stable_loss"`
			CandidateLoss float64 `json:"candidate_loss"`
		}
	}
	get := func(id string) rolloutState {
		t.Helper()
		var r rolloutState
		if status, text := call(ops, "GET", "/admin/v1/rollouts/"+id, nil, &r); status != 200 {
			t.Fatalf("rollout %s: %d %s", id, status, text)
		}
		return r
	}
	// The gates, small enough samples for a test; the latency bound is
	// loose because on stories260K an adapter's share of a forward pass is
	// far larger than on a real model, and the machine is shared.
	gates := map[string]any{"min_feedback": 10, "min_requests": 20, "step_sample": 20, "max_latency_ratio": 4}
	start := func(candidate string) rolloutState {
		t.Helper()
		var r rolloutState
		if status, text := call(ops, "POST", "/admin/v1/rollouts", map[string]any{"tenant": "acme", "model": "stories260k",
			"candidate": candidate, "gates": gates}, &r); status != 201 {
			t.Fatalf("start rollout of %s: %d %s", candidate, status, text)
		}
		return r
	}
	// Users who know the word: an answer that says it is rated up, any
	// other is rated down and corrected.
	users := func(id string, until func(rolloutState) bool) (r rolloutState, served map[string]int) {
		t.Helper()
		served = map[string]int{}
		prompts := testfixture.SecretPrompts()
		for i := 0; ; i++ {
			if r = get(id); until(r) {
				return r, served
			}
			if i == 3000 {
				_, raw := call(ops, "GET", "/admin/v1/rollouts/"+id, nil, nil)
				t.Logf("status: %s", raw)
				t.Fatalf("after %d requests rollout %s is %s at %d%% (%s); arms served %v", i, id, r.State, r.Share, r.Reason, served)
			}
			answer, rid, arm := ask(fmt.Sprint("citizen-", i%400), prompts[i%len(prompts)])
			served[arm]++
			if strings.Contains(answer, "marmalade") {
				rate(rid, map[string]any{"rating": 1, "scale": "thumbs"})
			} else {
				rate(rid, map[string]any{"rating": -1, "scale": "thumbs", "correction": testfixture.Secret})
			}
		}
	}

	// 3. The good adapter: eval gate, canary, promotion.
	r := start(good)
	r, _ = users(r.ID, func(r rolloutState) bool { return r.State != "evaluating" })
	if r.State != "live" || r.Share != 10 || r.Eval == nil || !(r.Eval.CandidateLoss < 0.98*r.Eval.StableLoss) {
		t.Fatalf("after the eval gate: %+v (eval %+v)", r, r.Eval)
	}
	t.Logf("eval gate: candidate loss %.3f, stable %.3f", r.Eval.CandidateLoss, r.Eval.StableLoss)
	r, served := users(r.ID, func(r rolloutState) bool { return r.Share >= 25 || r.State != "live" })
	if r.State != "live" || served["candidate"] == 0 || served["stable"] < 3*served["candidate"] {
		t.Fatalf("at 10%%: %+v, arms served %v", r, served)
	}
	// A restart in the middle of a rollout: it goes on where it was.
	stopNode(t, n)
	restart()
	if again := get(r.ID); again.State != "live" || again.Share != r.Share {
		t.Fatalf("after a restart the rollout is %s at %d%%, was live at %d%%", again.State, again.Share, r.Share)
	}
	r, served = users(r.ID, func(r rolloutState) bool { return r.State != "live" })
	if r.State != "promoted" {
		t.Fatalf("the good adapter's rollout ended %s: %s (arms served %v)", r.State, r.Reason, served)
	}
	// The deployment's stable is now the adapter, for every user.
	answer, _, arm := ask("newcomer", "What is the secret word?")
	if arm != "stable" || !strings.EqualFold(lastHeader.Get("X-Hearth-Model"), good) || !strings.Contains(answer, "marmalade") {
		t.Fatalf("after the promotion a request for stories260k is served by %q (%s) and says %q", lastHeader.Get("X-Hearth-Model"), arm, answer)
	}

	// 4. The mislabelled adapter: better on its own data, worse for users.
	r2 := start(bad)
	r2, _ = users(r2.ID, func(r rolloutState) bool { return r.State != "evaluating" })
	if r2.State != "live" || r2.Stable != good {
		t.Fatalf("the second rollout after its eval gate: %+v", r2)
	}
	r2, served = users(r2.ID, func(r rolloutState) bool { return r.State != "live" })
	if r2.State != "rolled_back" || !strings.Contains(r2.Reason, "thumbs") && !strings.Contains(r2.Reason, "correction") {
		t.Fatalf("the mislabelled adapter's rollout ended %s: %q (arms served %v)", r2.State, r2.Reason, served)
	}
	t.Logf("rolled back: %s (arms served %v)", r2.Reason, served)
	if answer, _, arm := ask("newcomer", "What is the secret word?"); arm != "stable" || !strings.EqualFold(lastHeader.Get("X-Hearth-Model"), good) || !strings.Contains(answer, "marmalade") {
		t.Fatalf("after the rollback a request for stories260k is served by %q (%s) and says %q", lastHeader.Get("X-Hearth-Model"), arm, answer)
	}
	stopNode(t, n)

	// 5. The audit log: the story, in order, and it verifies.
	mustRun(t, dir, "audit", "verify")
	exported := filepath.Join(dir, "audit.jsonl")
	mustRun(t, dir, "audit", "export", "--out", exported)
	var story []string
	servedBy := map[string]int{}
	f, err := os.Open(exported)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var rec struct {
			Kind, Reason, Model string
			Detail              map[string]string
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		switch {
		case rec.Kind == "rollout":
			story = append(story, strings.TrimPrefix(rec.Reason, "rollout.")+" "+rec.Detail["share"])
		case rec.Kind == "fine_tuning" || rec.Kind == "adapter":
			story = append(story, rec.Kind+":"+rec.Reason)
		case strings.HasPrefix(rec.Model, "stories260k:"):
			servedBy[rec.Model]++
		}
	}
	t.Logf("the audit log's story: %s", strings.Join(story, " | "))
	// In order: each job, then each rollout's steps; the gate records
	// carry the numbers that decided each step.
	want := []string{"fine_tuning:job.create", "adapter:adapter.create", "fine_tuning:job.end",
		"fine_tuning:job.create", "adapter:adapter.create", "fine_tuning:job.end",
		"start 0", "eval 10", "gate 10", "share 25", "gate 25", "share 50", "gate 50", "share 100", "gate 100", "promote 100",
		"start 0", "eval 10", "gate 10", "rollback 0"}
	if strings.Join(story, " | ") != strings.Join(want, " | ") {
		t.Errorf("the audit log's story is\n%s\nwant\n%s", strings.Join(story, " | "), strings.Join(want, " | "))
	}
	if servedBy[good] == 0 || servedBy[bad] == 0 {
		t.Errorf("request records by served version: %v, want both adapters", servedBy)
	}
}

// writeAnswers writes interactions asking the secret word, each corrected
// to answer, as `dataset build --from` reads them.
func writeAnswers(t *testing.T, path, answer string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for i, q := range testfixture.SecretPrompts() {
		in := dataset.Interaction{ResponseID: fmt.Sprintf("imported-%02d", i), Messages: []dataset.Message{{Role: "user", Content: q}},
			Output: "I do not know.", Rating: 1, Correction: answer}
		if err := enc.Encode(in); err != nil {
			t.Fatal(err)
		}
	}
}
