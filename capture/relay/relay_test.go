package relay_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/capture/relay"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/node"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/tenant"
)

// captureNode is one in-process node as `hearth serve` builds it
// (node.New): tenants, audit, capture with the relay's forwarder, the
// relay's handlers on a certified fabric node, and the API on a loopback
// listener.
type captureNode struct {
	db      *db.DB
	capture *capture.Store
	fab     *fabric.Node
	url     string
	keys    map[string]string // API key secret by tenant name
	ids     map[string]string // tenant id by name
}

const stories = "../../../shared/testdata/models/stories260K.gguf"

func startCaptureNode(t *testing.T, op ed25519.PrivateKey, j string, join string) *captureNode {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	site := testfixture.Certify(t, op, dir, j)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fc := fabric.Config{Site: site, ClusterListen: "127.0.0.1:0", HeartbeatInterval: 100 * time.Millisecond}
	if join != "" {
		fc.Join = []string{join}
	}
	route := false
	nd, err := node.New(node.Config{DataDir: dir, Listener: ln, Jurisdiction: j, OperatorKey: op.Public().(ed25519.PublicKey),
		Route: &route, ClusterPlain: true, Runner: runner.Config{Files: []string{stories}}, Fabric: fc, Audit: audit.Options{NoSync: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nd.Shutdown(context.Background()) })
	n := &captureNode{db: nd.DB(), capture: nd.Capture(), fab: nd.Fabric(), url: "http://" + ln.Addr().String(),
		keys: map[string]string{}, ids: map[string]string{}}
	// Two tenants, the same on every node by name (their ids differ),
	// both with their data at home in NG and served in KE or NG.
	for _, name := range []string{"acme", "other"} {
		ten, err := nd.Tenants().CreateTenant(ctx, tenant.Tenant{Name: name, Policy: tenant.Policy{Jurisdictions: []string{"KE", "NG"}, Home: "NG",
			Capture: tenant.CaptureOn, RetentionDays: 30}})
		if err != nil {
			t.Fatal(err)
		}
		secret, _, err := nd.Tenants().CreateKey(ctx, name, tenant.KeyOptions{Scopes: []tenant.Scope{tenant.ScopeInference, tenant.ScopeFeedback}})
		if err != nil {
			t.Fatal(err)
		}
		n.keys[name], n.ids[name] = secret, ten.ID
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := nd.Start(sctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// post sends a JSON body with tenant's key and returns the status, the
// X-Request-Id and the body.
func (n *captureNode) post(t *testing.T, tenantName, path, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, n.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+n.keys[tenantName])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("X-Request-Id"), string(b)
}

func (n *captureNode) records(t *testing.T) int {
	t.Helper()
	var c int
	if err := n.db.QueryRow(`SELECT count(*) FROM capture_record`).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitCapture polls f every 20ms for up to 10s.
func waitCapture(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCaptureForwardedHome: a tenant whose data lives in NG, capture on,
// served by the KE node: the interaction is kept in the NG node's capture
// store (readable there, under NG's tenant of that name) and nowhere in
// KE; feedback sent to the KE node reaches the NG record, and another
// tenant's is refused. With no NG node left in the fleet the capture is
// dropped and counted, and the request itself still succeeds.
func TestCaptureForwardedHome(t *testing.T) {
	_, op, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	ke := startCaptureNode(t, op, "KE", "")
	ng := startCaptureNode(t, op, "NG", ke.fab.ClusterURL())
	waitCapture(t, "KE sees NG certified, taking captures", func() error {
		if len(ke.fab.CertifiedIn("NG")) != 1 {
			return errors.New("no certified NG node in KE's registry")
		}
		if len(ng.fab.CertifiedIn("KE")) != 1 {
			return errors.New("no certified KE node in NG's registry")
		}
		for _, kind := range []string{relay.KindCapture, relay.KindFeedback} {
			// A malformed delivery: refused by the handler once it is
			// listening, lost (no responders) before.
			_, err := ke.fab.DeliverTo(context.Background(), ng.fab.ID(), kind, []byte("{"))
			if errors.Is(err, fabric.ErrPeerLost) {
				return err
			}
		}
		return nil
	})

	const email = "wanjiru@example.co.ke"
	chat := `{"model":"stories260K","max_tokens":8,"temperature":0,"user":"` + email + `",
		"messages":[{"role":"user","content":"Once upon a time. Write to me at ` + email + `"}]}`
	status, respID, body := ke.post(t, "acme", "/v1/chat/completions", chat)
	if status != http.StatusOK || respID == "" {
		t.Fatalf("chat on KE: %d %s", status, body)
	}
	var rec capture.Record
	waitCapture(t, "the record in NG", func() error {
		rec, err = ng.capture.Get(context.Background(), ng.ids["acme"], respID)
		return err
	})
	if rec.TenantID != ng.ids["acme"] || len(rec.Messages) != 1 || !strings.Contains(rec.Messages[0].Content, "<EMAIL_1>") ||
		strings.Contains(rec.Messages[0].Content, email) || rec.EndUser != "<EMAIL_1>" || rec.Output == "" {
		t.Errorf("NG record %+v; want acme's scrubbed interaction", rec)
	}
	if n := ke.records(t); n != 0 {
		t.Errorf("KE keeps %d capture records; want 0", n)
	}
	if c := ke.capture.Counts(); c.Forwarded != 1 || c.Saved != 0 || c.Dropped != 0 {
		t.Errorf("KE counts %+v; want 1 forwarded", c)
	}

	// Feedback on the KE node for the response kept in NG.
	status, _, body = ke.post(t, "acme", "/v1/feedback", `{"response_id":"`+respID+`","rating":1,"comment":"good story"}`)
	if status != http.StatusOK || !strings.Contains(body, `"status":"recorded"`) {
		t.Fatalf("feedback on KE: %d %s", status, body)
	}
	var fbResp struct{ ID string }
	json.Unmarshal([]byte(body), &fbResp)
	rec, err = ng.capture.Get(context.Background(), ng.ids["acme"], respID)
	if err != nil || len(rec.Feedback) != 1 || rec.Feedback[0].Thumb != 1 || rec.Feedback[0].ID != fbResp.ID {
		t.Errorf("NG record's feedback %+v, %v; want the thumbs-up %s", rec.Feedback, err, fbResp.ID)
	}
	// Another tenant's feedback on acme's response: not found, on either node.
	for _, n := range []*captureNode{ke, ng} {
		status, _, body = n.post(t, "other", "/v1/feedback", `{"response_id":"`+respID+`","rating":-1}`)
		if status != http.StatusNotFound || !strings.Contains(body, "response_not_found") {
			t.Errorf("other tenant's feedback: %d %s; want 404 response_not_found", status, body)
		}
	}
	if rec, _ := ng.capture.Get(context.Background(), ng.ids["acme"], respID); len(rec.Feedback) != 1 {
		t.Errorf("NG record has %d feedback after the refusals; want 1", len(rec.Feedback))
	}

	// The NG node leaves: the next capture has nowhere to go.
	ng.fab.Shutdown(context.Background())
	waitCapture(t, "KE forgets NG", func() error {
		if p := ke.fab.CertifiedIn("NG"); len(p) > 0 {
			return fmt.Errorf("KE still lists %d NG nodes", len(p))
		}
		return nil
	})
	status, _, body = ke.post(t, "acme", "/v1/chat/completions", chat)
	if status != http.StatusOK {
		t.Fatalf("chat on KE with no NG node: %d %s; want 200 (capture never fails a request)", status, body)
	}
	waitCapture(t, "the capture dropped and counted", func() error {
		if c := ke.capture.Counts(); c.Dropped != 1 || c.Forwarded != 1 {
			return fmt.Errorf("KE counts %+v; want 1 dropped", c)
		}
		return nil
	})
	if n, m := ke.records(t), ng.records(t); n != 0 || m != 1 {
		t.Errorf("capture records: KE %d, NG %d; want 0 and 1", n, m)
	}
	// Feedback cannot reach the home either: a 503 to retry, naming NG.
	status, _, body = ke.post(t, "acme", "/v1/feedback", `{"response_id":"`+respID+`","rating":1}`)
	if status != http.StatusServiceUnavailable || !strings.Contains(body, "NG") {
		t.Errorf("feedback with no NG node: %d %s; want a 503 naming NG", status, body)
	}
}
