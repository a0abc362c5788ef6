package fleet

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// TestFleetSDKStreamSurvivesKill: the official Go SDK streams a chat
// completion through a KE routing node from the nearer of two NG nodes;
// that node is killed (SIGKILL) mid-stream. The SDK sees one unbroken
// stream whose accumulated answer and usage are exactly those of an
// uninterrupted run.
func TestFleetSDKStreamSurvivesKill(t *testing.T) {
	f := New(t, 200*time.Millisecond)
	ke := f.Add(Spec{Name: "ke-a", Jurisdiction: "KE"})
	near := f.Add(Spec{Name: "ng-near", Jurisdiction: "NG", StepDelay: 25 * time.Millisecond})
	far := f.Add(Spec{Name: "ng-far", Jurisdiction: "NG", StepDelay: 25 * time.Millisecond, Latency: 30 * time.Millisecond})
	f.CreateTenant("ng-health", []string{"NG"}, "NG")
	key := ke.Key("ng-health")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.StartAll(ctx, ke); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // round-trip probes: the near node wins

	c := openai.NewClient(option.WithBaseURL(ke.URL+"/v1"), option.WithAPIKey(key),
		option.WithHTTPClient(&http.Client{}), option.WithMaxRetries(0))
	params := openai.ChatCompletionNewParams{
		Model:       Model,
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me a story about a brave little fox")},
		MaxTokens:   openai.Int(60),
		Temperature: openai.Float(0),
	}
	want, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}

	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := c.Chat.Completions.NewStreaming(ctx, params)
	acc := openai.ChatCompletionAccumulator{}
	chunks := 0
	var last time.Time
	var stall time.Duration // the longest wait between chunks: the failover
	for stream.Next() {
		if now := time.Now(); !last.IsZero() {
			stall = max(stall, now.Sub(last))
		}
		last = time.Now()
		ch := stream.Current()
		acc.AddChunk(ch)
		if len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
			chunks++
			if chunks == 6 {
				near.Kill()
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("the SDK's stream broke: %v", err)
	}
	if chunks <= 6 {
		t.Fatalf("the stream had only %d text chunks; the kill came too late", chunks)
	}
	t.Logf("%d chunks; the longest gap, the failover: %v", chunks, stall.Round(time.Millisecond))
	got := acc.Choices[0].Message.Content
	if got != want.Choices[0].Message.Content {
		t.Errorf("streamed through the kill:\n%q\nuninterrupted:\n%q", got, want.Choices[0].Message.Content)
	}
	if acc.ID != "" && acc.ID == want.ID {
		t.Errorf("the stream reused another response's id")
	}
	if acc.Usage.CompletionTokens != want.Usage.CompletionTokens || acc.Usage.PromptTokens != want.Usage.PromptTokens {
		t.Errorf("streamed usage %+v; uninterrupted %+v", acc.Usage, want.Usage)
	}
	// The far node finished it, under the same response id, and says so.
	f.StopAll()
	found := false
	for _, r := range auditRecords(t, f, far) {
		if r.Kind == "request" && r.Decision == "allow" && r.ResponseID == acc.ID {
			found = true
		}
	}
	if !found {
		t.Errorf("the far node's audit log has no record of response %s: the stream was not continued there", acc.ID)
	}
}
