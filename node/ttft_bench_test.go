package node_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/node"
	"github.com/hearth-ai/hearth/runner"
)

// BenchmarkTTFTWhileTraining measures the time to first token of chat
// requests on an idle node and on the same node while a fine-tuning job
// trains on its thread budget, in rounds that alternate the two: each
// round sends ttftBatch requests idle, starts a job, sends ttftBatch
// while it trains, and cancels it. It reports p50 and p99 of each, in
// milliseconds. HEARTH_TTFT_MODEL names another GGUF file to serve and
// train on (stories260K by default).
func BenchmarkTTFTWhileTraining(b *testing.B) {
	const ttftBatch = 16
	model := os.Getenv("HEARTH_TTFT_MODEL")
	if model == "" {
		model = stories
	}
	if _, err := os.Stat(model); err != nil {
		b.Skipf("model not available: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	cfg := node.Config{DataDir: b.TempDir(), Listener: ln, Runner: runner.Config{Files: []string{model}}}
	n, err := node.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := n.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer n.Shutdown(ctx)
	base := "http://" + ln.Addr().String()
	name := modelName(b, base)
	file := uploadTraining(b, base)

	var idle, busy []time.Duration
	b.ResetTimer()
	for b.Loop() {
		for range ttftBatch {
			idle = append(idle, ttft(b, base, name))
		}
		job := startJob(b, base, name, file)
		for range ttftBatch {
			busy = append(busy, ttft(b, base, name))
		}
		cancelJob(b, base, job)
	}
	b.StopTimer()
	report := func(what string, ds []time.Duration) {
		slices.Sort(ds)
		at := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))]) / float64(time.Millisecond) }
		b.ReportMetric(at(0.50), what+"-p50-ms")
		b.ReportMetric(at(0.99), what+"-p99-ms")
	}
	report("idle", idle)
	report("training", busy)
	b.ReportMetric(float64(len(idle)), "requests/phase")
}

// modelName is the id under which the node serves its one model.
func modelName(b *testing.B, base string) string {
	resp, err := http.Get(base + "/v1/models")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var models list[struct{ ID string }]
	if err := json.NewDecoder(resp.Body).Decode(&models); err != nil || len(models.Data) == 0 {
		b.Fatalf("models: %v %+v", err, models)
	}
	return models.Data[0].ID
}

// uploadTraining uploads a training file of distinct chats and returns
// its id.
func uploadTraining(b *testing.B, base string) string {
	var jsonl strings.Builder
	for _, p := range testfixture.SecretPrompts() {
		line, _ := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "user", "content": p}, {"role": "assistant", "content": secret}}})
		jsonl.Write(append(line, '\n'))
	}
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("purpose", "fine-tune")
	f, _ := w.CreateFormFile("file", "secret.jsonl")
	f.Write([]byte(jsonl.String()))
	w.Close()
	resp, err := http.Post(base+"/v1/files", w.FormDataContentType(), &body)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("upload: %d %v", resp.StatusCode, err)
	}
	return out.ID
}

type jobState struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func jobCall(b *testing.B, method, url string, body any) jobState {
	var j []byte
	if body != nil {
		j, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, url, bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	var out jobState
	if err == nil {
		err = json.Unmarshal(text, &out)
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("%s %s: %d %v %s", method, url, resp.StatusCode, err, text)
	}
	return out
}

// startJob creates a job far longer than the round and waits until it
// has trained its first step.
func startJob(b *testing.B, base, model, file string) string {
	j := jobCall(b, "POST", base+"/v1/fine_tuning/jobs", map[string]any{"model": model, "training_file": file,
		"hyperparameters": map[string]any{"n_epochs": 50, "seq": 128, "targets": []string{"q", "k", "v", "o", "gate", "up", "down"}}})
	for deadline := time.Now().Add(time.Minute); !trained(b, base, j.ID); {
		if time.Now().After(deadline) {
			b.Fatalf("job %s has not trained a step", j.ID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return j.ID
}

// trained reports whether the job's newest event is a step's metrics.
func trained(b *testing.B, base, id string) bool {
	resp, err := http.Get(base + "/v1/fine_tuning/jobs/" + id + "/events?limit=1")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var events list[struct{ Type, Level string }]
	if err := json.NewDecoder(resp.Body).Decode(&events); err != nil {
		b.Fatal(err)
	}
	if len(events.Data) > 0 && events.Data[0].Level == "error" {
		b.Fatalf("job %s failed", id)
	}
	return len(events.Data) > 0 && events.Data[0].Type == "metrics"
}

// cancelJob cancels the job and waits until no job trains.
func cancelJob(b *testing.B, base, id string) {
	jobCall(b, "POST", base+"/v1/fine_tuning/jobs/"+id+"/cancel", nil)
	for deadline := time.Now().Add(time.Minute); ; {
		if j := jobCall(b, "GET", base+"/v1/fine_tuning/jobs/"+id, nil); j.Status == "cancelled" {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("job %s not cancelled", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the trainer stops at its step boundary
}

// ttft streams a chat completion and returns the time until its first
// chunk with content.
func ttft(b *testing.B, base, model string) time.Duration {
	body, _ := json.Marshal(map[string]any{"model": model, "max_tokens": 4, "stream": true,
		"messages": []map[string]string{{"role": "user", "content": "Tell me a story about a cat."}}})
	start := time.Now()
	resp, err := http.Post(base+"/v1/chat/completions", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("chat: %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
		}
		if json.Unmarshal([]byte(data), &chunk) == nil && len(chunk.Choices) > 0 && chunk.Choices[0].Delta.Content != "" {
			d := time.Since(start)
			for sc.Scan() { // the rest of the stream, so the connection is reused
			}
			return d
		}
	}
	b.Fatal(fmt.Errorf("chat: no content in the stream: %v", sc.Err()))
	return 0
}
