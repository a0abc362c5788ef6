package admin

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/tenant"
)

// The erase route checks its request before anything is erased, reports
// an incomplete erasure as a 502 naming the node, and a node with no
// capture store says it has nothing to erase.
func TestEraseRoute(t *testing.T) {
	f := newFixture(t)
	adminKey, _ := f.key(t, "ops", tenant.ScopeAdmin)
	f.key(t, "acme", tenant.ScopeInference)
	f.wantError(t, adminKey, "POST", "/admin/v1/tenants/acme/erase", `{"user":"bob"}`, 501, typeInvalidRequest, "not_supported", "no captured data")

	ctx := context.Background()
	p, err := f.store.Authenticate(ctx, adminKey)
	if err != nil {
		t.Fatal(err)
	}
	var calls []EraseRequest
	down := false
	h := New(Config{Tenants: f.store, Erase: func(_ context.Context, tn tenant.Tenant, req EraseRequest) (EraseReport, error) {
		calls = append(calls, req)
		rep := EraseReport{Erased: 2, Done: !down, Nodes: []NodeErase{{Node: "node-a", Erased: 2}}}
		if down {
			rep.Nodes = append(rep.Nodes, NodeErase{Node: "node-b", Jurisdiction: "NG", Error: "offline"})
		}
		return rep, nil
	}})
	post := func(path, body string) (int, map[string]any) {
		req := httptest.NewRequest("POST", path, strings.NewReader(body)).WithContext(tenant.WithPrincipal(ctx, p))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out map[string]any
		json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out
	}
	for _, c := range []struct {
		body string
		code int
	}{
		{`{"user":"bob"}`, 200},
		{`{"response_id":" chatcmpl-1 "}`, 200},
		{`{"all":true}`, 200},
		{`{}`, 400},
		{`{"all":true,"user":"bob"}`, 400},
		{`{"all":false}`, 400},
		{`{"user":"bob","response_id":"chatcmpl-1"}`, 400},
		{`{"user":"  "}`, 400},
		{`{"users":"bob"}`, 400},
		{`not json`, 400},
	} {
		if code, out := post("/admin/v1/tenants/acme/erase", c.body); code != c.code {
			t.Errorf("%s: %d %v, want %d", c.body, code, out, c.code)
		}
	}
	if len(calls) != 3 || calls[0].User != "bob" || calls[1].ResponseID != "chatcmpl-1" || !calls[2].All {
		t.Errorf("erasures made: %+v", calls)
	}
	if code, _ := post("/admin/v1/tenants/nobody/erase", `{"user":"bob"}`); code != 404 {
		t.Errorf("unknown tenant: %d, want 404", code)
	}
	down = true
	code, out := post("/admin/v1/tenants/acme/erase", `{"user":"bob"}`)
	msg, _ := out["error"].(map[string]any)["message"].(string)
	if code != 502 || !strings.Contains(msg, "node-b") || out["report"] == nil {
		t.Errorf("incomplete erasure: %d %v", code, out)
	}
}
