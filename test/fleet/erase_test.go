package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// chatAs sends a one-token chat request for end user user and returns the
// response id.
func chatAs(t *testing.T, n *Node, key, user string) string {
	t.Helper()
	body := fmt.Sprintf(`{"model":%q,"max_tokens":2,"user":%q,"messages":[{"role":"user","content":"Hello, I am %s"}]}`, Model, user, user)
	req, _ := http.NewRequest("POST", n.URL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil {
		t.Fatalf("chat at %s: %d %s", n.Name, resp.StatusCode, b)
	}
	return out.ID
}

type eraseReport struct {
	Erased   int  `json:"erased"`
	Complete bool `json:"complete"`
	Nodes    []struct {
		Node   string `json:"node"`
		Erased int    `json:"erased"`
		Error  string `json:"error"`
	} `json:"nodes"`
	Report *eraseReport `json:"report"` // on a 502
	Error  *struct {
		Code, Message string
	} `json:"error"`
}

func erase(t *testing.T, n *Node, adminKey, tenant, body string) (int, eraseReport) {
	t.Helper()
	req, _ := http.NewRequest("POST", n.URL+"/admin/v1/tenants/"+tenant+"/erase", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep eraseReport
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("erase: %d %s", resp.StatusCode, b)
	}
	return resp.StatusCode, rep
}

// TestFleetErasure: a tenant's captures are kept by the nodes of its home
// jurisdiction (gathered on its primary while that is up). One erasure request to a node elsewhere erases
// an end user's interactions on both; one by response id erases that
// response wherever it is; with a home node down, the erasure says it is
// incomplete and names the node, and repeating it once the node is back
// finishes the job. Erasing "all" crypto-shreds the tenant on every home
// node.
func TestFleetErasure(t *testing.T) {
	f := New(t, 250*time.Millisecond)
	ke := f.Add(Spec{Name: "ke-a", Jurisdiction: "KE"})
	ng1 := f.Add(Spec{Name: "ng-a", Jurisdiction: "NG"})
	ng2 := f.Add(Spec{Name: "ng-b", Jurisdiction: "NG"})
	f.CreateTenant("ng-health", []string{"NG"}, "NG", "--capture", "on", "--retention-days", "30")
	f.CreateTenant("ops", nil, "")
	adminKey := ke.Key("ops", "--scopes", "admin")
	keys := map[*Node]string{ng1: ng1.Key("ng-health"), ng2: ng2.Key("ng-health")}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.StartAll(ctx, ke); err != nil {
		t.Fatal(err)
	}
	// Each NG node serves its share; the captures gather on the tenant's
	// primary NG node (or stay where they were served if it is down).
	var bobIDs []string
	for _, n := range []*Node{ng1, ng2} {
		for range 3 {
			chatAs(t, n, keys[n], "alice@example.com")
			bobIDs = append(bobIDs, chatAs(t, n, keys[n], "bob"))
		}
	}
	// Both NG nodes up: the twelve gathered on the tenant's primary.
	var counts []int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		counts = []int{ng1.Captures("ng-health"), ng2.Captures("ng-health")}
		if counts[0]+counts[1] == 12 || time.Now().After(deadline) {
			break
		}
	}
	if !(counts[0] == 12 && counts[1] == 0 || counts[0] == 0 && counts[1] == 12) {
		t.Errorf("captures on ng-a and ng-b: %v; want all 12 on the tenant's primary", counts)
	}
	code, rep := erase(t, ke, adminKey, "ng-health", `{"user":"alice@example.com"}`)
	if code != 200 || rep.Erased != 6 || !rep.Complete || len(rep.Nodes) != 3 {
		t.Fatalf("erase alice: %d %+v; want 6 erased over 3 nodes", code, rep)
	}
	code, rep = erase(t, ke, adminKey, "ng-health", fmt.Sprintf(`{"response_id":%q}`, bobIDs[4]))
	if code != 200 || rep.Erased != 1 {
		t.Fatalf("erase one of bob's responses: %d %+v", code, rep)
	}
	if code, rep = erase(t, ke, adminKey, "ng-health", `{"user":"x","response_id":"y"}`); code != 400 {
		t.Errorf("erase with both fields: %d %+v, want 400", code, rep)
	}

	// A home node down: the erasure is incomplete, and says where.
	chatAs(t, ng2, keys[ng2], "carol")
	ng2.Stop()
	code, rep = erase(t, ke, adminKey, "ng-health", `{"user":"carol"}`)
	if code != 502 || rep.Error == nil || !strings.Contains(rep.Error.Message, ng2.ID) || rep.Report == nil || rep.Report.Complete {
		t.Fatalf("erase with ng-b down: %d %+v; want a 502 naming %s", code, rep, ng2.ID)
	}
	first := rep.Report.Erased // carol's one interaction, if it went to ng-a (the primary)
	ng2.Start()
	if err := f.WaitCertified(ctx, ke, f.Nodes()); err != nil {
		t.Fatal(err)
	}
	code, rep = erase(t, ke, adminKey, "ng-health", `{"user":"carol"}`)
	if code != 200 || first+rep.Erased != 1 || !rep.Complete {
		t.Fatalf("erase repeated with ng-b back: %d %+v (%d erased the first time); want carol's one interaction erased in all", code, rep, first)
	}

	// What is left on disk: bob's five other interactions, nobody else's.
	f.StopAll()
	left := 0
	held := map[*Node]bool{}
	for _, n := range []*Node{ng1, ng2} {
		out := f.run("capture", "export", "--tenant", "ng-health", "--data-dir", n.Dir)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			left++
			held[n] = true
			if !strings.Contains(line, "I am bob") || strings.Contains(line, bobIDs[4]) {
				t.Errorf("node %s still keeps %s", n.Name, line)
			}
		}
	}
	if left != 5 {
		t.Errorf("%d interactions left, want bob's 5", left)
	}

	// Crypto-shredding through one node deletes the tenant's key on every
	// home node: what is left there becomes unreadable.
	for _, n := range f.Nodes() {
		n.Start()
	}
	if err := f.WaitCertified(ctx, ke, f.Nodes()); err != nil {
		t.Fatal(err)
	}
	code, rep = erase(t, ke, adminKey, "ng-health", `{"all":true}`)
	if code != 200 || !rep.Complete || len(rep.Nodes) != 3 {
		t.Fatalf("shred: %d %+v", code, rep)
	}
	f.StopAll()
	for _, n := range []*Node{ng1, ng2} {
		if !held[n] {
			continue // nothing was kept there (the tenant's captures gathered on the other)
		}
		cmd := exec.Command(f.bin, "capture", "export", "--tenant", "ng-health", "--data-dir", n.Dir)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "key has been deleted") {
			t.Errorf("export on %s after the shred: err %v, output %s; want the deleted-key error", n.Name, err, out)
		}
	}
	if len(held) == 0 {
		t.Error("no node held the tenant's captures before the shred")
	}
	if c := ke.Captures("ng-health"); c != 0 {
		t.Errorf("the KE node keeps %d captures of an NG tenant", c)
	}
}
