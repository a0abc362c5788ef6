package gateway_test

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
)

// TestStreamLostTwiceEnds: a stream whose node is lost mid-stream goes on
// from another node once; when that node is lost too, the stream ends
// with an error event naming it, instead of being sent on to a third node
// (the request may be what kills them).
func TestStreamLostTwiceEnds(t *testing.T) {
	ke, ngs := slowFleet(t, 40*time.Millisecond, 3)
	key := ngTenant(t, ke, ngs...)
	req, _ := http.NewRequest("POST", ke.url+"/v1/chat/completions", strings.NewReader(
		`{"model":"stories260k","max_tokens":200,"temperature":0,"stream":true,"messages":[{"role":"user","content":"Tell me a story"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Whichever NG node is running the stream is cut off, twice.
	busy := func() *node {
		for _, n := range ngs {
			if _, b, _, _, _ := n.run.Load(); b > 0 {
				return n
			}
		}
		return nil
	}
	cut := map[*node]bool{}
	lost := 0
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		events = append(events, line)
		if strings.Contains(line, `"content":"`) && len(events)%6 == 0 && lost < 2 {
			if n := busy(); n != nil && !cut[n] {
				cut[n] = true
				n.fab.Drop()
				lost++
			}
		}
	}
	if lost < 2 {
		t.Fatalf("the stream ended after %d events, before two of its nodes could be cut off", len(events))
	}
	last := events[len(events)-1]
	if !strings.Contains(last, `"error"`) || !strings.Contains(last, "not sent to another node") {
		t.Errorf("the last event is %s; want an error saying the request is not sent on", last)
	}
	for _, n := range ngs {
		if !cut[n] && hasRecord(readAudit(t, n), func(r audit.Record) bool { return r.Kind == audit.KindRequest }) {
			t.Errorf("the request reached a third node, %s", n.id.ID)
		}
	}
	if got := metricValue(t, ke.reg, "hearth_route_retries_total", "stage", "mid_stream"); got != 1 {
		t.Errorf("hearth_route_retries_total{stage=mid_stream} = %v, want 1 (continued once)", got)
	}
}
