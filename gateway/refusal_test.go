package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/route"
)

// slowAudit is an audit log whose appends wait until released, as an
// fsync on a slow disk does.
type slowAudit struct {
	appending chan struct{} // closed by the first Append
	release   chan struct{}
}

func (a *slowAudit) Append(ctx context.Context, r audit.Record) (audit.Record, error) {
	select {
	case <-a.appending:
	default:
		close(a.appending)
	}
	<-a.release
	return r, nil
}

// TestRefusalArrivesBeforeAudit checks that a refused request's answer
// (no permitted node, and an overloaded node's 503 passed on) is whole at
// the client, its length declared, while the refusal's audit record is
// still being written: the audit fsync must not delay the client.
func TestRefusalArrivesBeforeAudit(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		busy       *busyAnswer
		wantStatus int
		check      func(t *testing.T, body []byte)
	}{
		{name: "openai", path: "/v1/chat/completions", wantStatus: 503, check: func(t *testing.T, body []byte) {
			var e struct {
				Error struct {
					Message, Type string
					Param, Code   *string
				}
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Type != "no_permitted_node" || e.Error.Code == nil || *e.Error.Code != "no_permitted_node" || e.Error.Param != nil {
				t.Errorf("body %s (%v); want OpenAI's error object, type and code no_permitted_node", body, err)
			}
		}},
		{name: "ollama", path: "/api/chat", wantStatus: 503, check: func(t *testing.T, body []byte) {
			var e struct{ Error string }
			if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
				t.Errorf("body %s (%v); want Ollama's {\"error\": ...}", body, err)
			}
		}},
		{name: "busy", path: "/v1/chat/completions", wantStatus: 503,
			busy: &busyAnswer{node: "n1", header: map[string]string{"Retry-After": "2", "Content-Type": "application/json"}, body: []byte(`{"error":{"message":"full"}}` + "\n")},
			check: func(t *testing.T, body []byte) {
				if string(body) != `{"error":{"message":"full"}}`+"\n" {
					t.Errorf("body %q; want the overloaded node's answer", body)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aud := &slowAudit{appending: make(chan struct{}), release: make(chan struct{})}
			rt := &Router{cfg: Config{Audit: aud}, log: slog.New(slog.DiscardHandler), inflight: map[string]int{}}
			returned := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(returned)
				x := &exchange{rt: rt, w: w, r: r, model: "m", busy: tc.busy}
				x.fail(fmt.Errorf("%w: tenant allowed only in BR", route.ErrNoPermittedNode))
				x.writeAudit()
			}))
			defer srv.Close()
			defer close(aud.release)

			type result struct {
				resp *http.Response
				body []byte
				err  error
			}
			got := make(chan result, 1)
			go func() {
				resp, err := http.Post(srv.URL+tc.path, "application/json", nil)
				if err != nil {
					got <- result{err: err}
					return
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				got <- result{resp, body, err}
			}()
			var res result
			select {
			case res = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("no whole answer while the audit append waits")
			}
			select {
			case <-aud.appending:
			case <-time.After(10 * time.Second):
				t.Fatal("the answer arrived but the refusal was never audited")
			}
			select {
			case <-returned:
				t.Fatal("the handler returned before its audit append was released")
			default: // the client had its answer while the append waited
			}
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d; want %d", res.resp.StatusCode, tc.wantStatus)
			}
			if cl := res.resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(res.body)) {
				t.Errorf("Content-Length %q for a %d-byte body", cl, len(res.body))
			}
			tc.check(t, res.body)
		})
	}
}
