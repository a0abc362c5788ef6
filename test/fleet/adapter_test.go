package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/flywheel"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/route"
	"github.com/hearth-ai/hearth/tenant"
)

// registerAdapter registers file as the next version of the tenant's
// adapter name in stopped node n's registry, as `hearth train` would at
// its end. The command line has no verb that registers a file as it is
// (an adapter enters a registry by training), so this goes through the
// registry itself, on the node's data directory, as cmd/hearth's tests do.
func registerAdapter(t *testing.T, n *Node, tenantName, name string, file []byte) {
	t.Helper()
	ctx := context.Background()
	d, err := db.OpenDir(n.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ts, err := tenant.Open(ctx, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	ten, err := ts.GetTenant(ctx, tenantName)
	if err != nil {
		t.Fatal(err)
	}
	fw, err := flywheel.Open(ctx, d, n.Dir, flywheel.Options{Jurisdiction: n.Jurisdiction, Node: n.ID})
	if err != nil {
		t.Fatal(err)
	}
	base, err := registry.BaseOf(Model, n.f.model)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Adapters.Create(ctx, ten, name, registry.Meta{Base: base}, file); err != nil {
		t.Fatal(err)
	}
}

// listedModels is the names a node's /v1/models (or, ollama, /api/tags)
// lists for the holder of key.
func listedModels(ctx context.Context, url, key string, ollama bool) ([]string, error) {
	path := "/v1/models"
	if ollama {
		path = "/api/tags"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	var list struct {
		Data   []struct{ ID string }   `json:"data"`
		Models []struct{ Name string } `json:"models"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	var names []string
	for _, m := range list.Data {
		names = append(names, m.ID)
	}
	for _, m := range list.Models {
		names = append(names, m.Name)
	}
	return names, nil
}

// replicaCount counts the adapter copies stopped node n keeps. The
// command line lists a tenant's registry, which copies are deliberately
// not part of, so this reads the copies' table.
func replicaCount(t *testing.T, n *Node) int {
	t.Helper()
	d, err := db.OpenDir(n.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var count int
	if err := d.QueryRow(`SELECT COUNT(*) FROM adapter_replicas`).Scan(&count); err != nil {
		t.Fatalf("node %s: counting adapter copies: %v", n.Name, err)
	}
	return count
}

// TestFleetServesAdapterCopies: a tenant whose home is NG, permitted in
// NG and KE, has an adapter in its NG registry. Both KE nodes list it
// for the tenant before anyone asks for it (not for another tenant with
// the same policy), without holding a copy. A request for it at a KE
// node is served in KE, by a copy of the adapter from NG (signed and
// checked, its arrival in the KE node's audit log), token for token as NG
// serves it. Once loaded, the KE node's heartbeat lists it, and a ZA
// node's gateway (ZA certified but not permitted) sends the next such
// request to it rather than to the other KE node, equally idle, which
// lacks it, naming the adapter bonus. Another tenant with the same
// policy finds no such adapter; the copy outlives the holder's restart
// without a second fetch. ZA routes the tenant's requests (it never
// serves them, so it never asks for the adapter), and alone answers a
// 503 naming the policy; it keeps no copy, and neither does the other KE
// node, which never served it.
func TestFleetServesAdapterCopies(t *testing.T) {
	f := New(t, 200*time.Millisecond)
	ng := f.Add(Spec{Name: "ng-a", Jurisdiction: "NG"})
	keA := f.Add(Spec{Name: "ke-a", Jurisdiction: "KE"})
	keB := f.Add(Spec{Name: "ke-b", Jurisdiction: "KE"})
	za := f.Add(Spec{Name: "za-a", Jurisdiction: "ZA"})
	const tenantName = "pan-west"
	f.CreateTenant(tenantName, []string{"NG", "KE"}, "NG")
	f.CreateTenant("pan-east", []string{"NG", "KE"}, "NG") // the same policy, and no adapters
	file, err := os.ReadFile(testfixture.AdapterFor(t, f.model, 11, 4))
	if err != nil {
		t.Fatal(err)
	}
	registerAdapter(t, ng, tenantName, "support", file)
	keys := map[*Node]string{}
	for _, n := range f.Nodes() {
		keys[n] = n.Key(tenantName)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := f.StartAll(ctx, za); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a few round-trip probes, so that no peer's RTT reads as zero

	const (
		adapter   = Model + ":support"
		served    = adapter + "@1"
		prompt    = "Once upon a time there was a dragon"
		maxTokens = 24
	)
	askStream := func(n *Node, model, narrow string, stream bool) result {
		t.Helper()
		r := callModel(ctx, n.URL, keys[n], model, narrow, prompt, maxTokens, stream, false)
		if r.err != nil || r.status != 200 {
			t.Fatalf("%s at %s (narrowed to %q): %d %v %s", model, n.Name, narrow, r.status, r.err, r.body)
		}
		return r
	}
	ask := func(n *Node, model, narrow string) result {
		t.Helper()
		return askStream(n, model, narrow, false)
	}
	nodeName := func(id string) string {
		for _, n := range f.Nodes() {
			if n.ID == id {
				return n.Name
			}
		}
		return id
	}

	// Before any request for it, both KE nodes list the adapter for the
	// tenant, from its home's listing: it is the tenant's there too. Not
	// for another tenant, which has none.
	for _, n := range []*Node{keA, keB} {
		eastKey := n.Key("pan-east")
		for _, ollama := range []bool{false, true} {
			names, err := listedModels(ctx, n.URL, keys[n], ollama)
			if err != nil || !slices.Contains(names, served) {
				t.Errorf("%s's model list (ollama %v) for %s: %v %v; want %s in it", n.Name, ollama, tenantName, names, err, served)
			}
			names, err = listedModels(ctx, n.URL, eastKey, ollama)
			if err != nil || slices.ContainsFunc(names, func(m string) bool { return strings.Contains(m, "support") }) {
				t.Errorf("%s's model list (ollama %v) for pan-east: %v %v; want no adapter in it", n.Name, ollama, names, err)
			}
		}
	}

	// The first request for the adapter anywhere, narrowed to KE: no KE
	// node holds it, so the entry node serves it itself, fetching the copy.
	atKE := ask(keA, served, "KE")
	holder, other := keA, keB
	if atKE.node == keB.ID {
		holder, other = keB, keA // only if ke-b's round trip read as shorter than none
	} else if atKE.node != "" {
		t.Fatalf("%s at ke-a, narrowed to KE, was served by %s", served, nodeName(atKE.node))
	}
	if atKE.served != served {
		t.Errorf("%s at %s: X-Hearth-Model %q", served, holder.Name, atKE.served)
	}
	// Another tenant with the same policy finds no such adapter, at home or
	// in KE, whichever KE node runs its request.
	east := keA.Key("pan-east")
	if r := callModel(ctx, keA.URL, east, served, "KE", prompt, maxTokens, false, false); r.status != 404 || !strings.Contains(r.body, "model_not_found") {
		t.Errorf("%s for another tenant: %d %v %s; want a 404", served, r.status, r.err, r.body)
	}
	atNG := ask(ng, served, "NG")
	if atNG.node != "" || atNG.served != served {
		t.Errorf("%s at ng-a, narrowed to NG: served by %q as %q; want ng-a itself, as %s", served, nodeName(atNG.node), atNG.served, served)
	}
	if atKE.text != atNG.text {
		t.Errorf("greedy %s: %s says %q, its home ng-a %q", served, holder.Name, atKE.text, atNG.text)
	}
	t.Logf("%s served by %s: %q", served, holder.Name, atKE.text)
	if base := ask(ng, Model, "NG"); base.text == atNG.text {
		t.Errorf("the adapter changes nothing: the base says %q too", base.text)
	}
	// Naming no version serves the version the home calls the latest.
	if r := ask(holder, adapter, "KE"); r.served != served || r.text != atKE.text {
		t.Errorf("%s at %s: served as %q, %q; want %s, %q", adapter, holder.Name, r.served, r.text, served, atKE.text)
	}

	// The holder's heartbeat lists the adapter it has loaded, by the
	// tenant's keys for it (with its version and without), never by name:
	// heartbeats go to every node.
	heldKeys := route.AdapterKeys(tenantName, served)
	for {
		st, err := f.Status(za)
		if have := st[holder.ID].Load.Adapters; err == nil && len(heldKeys) == 2 && slices.Contains(have, heldKeys[0]) && slices.Contains(have, heldKeys[1]) {
			if got := st[other.ID].Load.Adapters; slices.Contains(got, heldKeys[0]) || slices.Contains(got, heldKeys[1]) {
				t.Errorf("%s, which never served %s, lists it loaded: %v", other.Name, served, got)
			}
			for _, n := range []*Node{holder, ng} {
				if got := st[n.ID].Load.Adapters; slices.ContainsFunc(got, func(a string) bool { return strings.Contains(a, "support") }) {
					t.Errorf("%s's heartbeat names the tenant's adapter in clear: %v", n.Name, got)
				}
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s's heartbeat never listed %s by its keys %v: %+v %v", holder.Name, served, heldKeys, st[holder.ID].Load, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// ZA may not serve the tenant; its gateway routes the tenant's
	// requests into the policy's jurisdictions, and, between the two idle
	// KE nodes, to the one holding the adapter.
	routedAsks := []struct {
		model  string
		stream bool
	}{{served, false}, {served, true}, {adapter, true}, {adapter, false}}
	routed := len(routedAsks)
	for _, a := range routedAsks {
		r := askStream(za, a.model, "KE", a.stream)
		if r.node != holder.ID || r.served != served || r.text != atKE.text {
			t.Errorf("%s at za-a, narrowed to KE, stream %v: served by %s as %q, %q; want %s, as %s, %q",
				a.model, a.stream, nodeName(r.node), r.served, r.text, holder.Name, served, atKE.text)
		}
	}
	if r := ask(za, served, ""); r.node == "" || r.node == za.ID || r.text != atKE.text {
		t.Errorf("%s at za-a: served by %q, %q; want a node in NG or KE, %q", served, nodeName(r.node), r.text, atKE.text)
	}
	// Another tenant's request for the same name draws no bonus toward
	// the holder: its heartbeat's keys are the first tenant's.
	if r := callModel(ctx, za.URL, za.Key("pan-east"), served, "KE", prompt, maxTokens, false, false); r.status != 404 {
		t.Errorf("%s for another tenant at za-a: %d %v %s; want a 404", served, r.status, r.err, r.body)
	}

	// The copy is kept, sealed, across a restart: the holder serves it
	// again without fetching it a second time (its home vouched for it
	// within the minute).
	holder.Stop()
	holder.Start()
	if err := f.WaitCertified(ctx, holder, []*Node{ng, holder}); err != nil {
		t.Fatal(err)
	}
	if r := ask(holder, served, "KE"); r.node != "" || r.served != served || r.text != atKE.text {
		t.Errorf("%s at %s after its restart: served by %q as %q, %q; want %s itself, as %s, %q",
			served, holder.Name, nodeName(r.node), r.served, r.text, holder.Name, served, atKE.text)
	}

	// With no permitted node left, ZA fails closed: a 503, the request
	// never run (nor the adapter fetched) in ZA. Until ZA's table forgets
	// the stopped nodes (three missed heartbeats) its gateway tries them and
	// says they failed; then it names the policy.
	for _, n := range []*Node{ng, keA, keB} {
		n.Stop()
	}
	for {
		r := callModel(ctx, za.URL, keys[za], served, "", prompt, maxTokens, false, false)
		if r.status != 503 || ctx.Err() != nil {
			t.Fatalf("%s at za-a, alone: %d %v %s (served by %q); want a 503", served, r.status, r.err, r.body, nodeName(r.node))
		}
		if strings.Contains(r.body, "permitted jurisdictions NG, KE") {
			if !strings.Contains(r.body, "jurisdiction ZA not permitted") {
				t.Errorf("%s at za-a, alone: 503 %s; want za-a's jurisdiction named as not permitted", served, r.body)
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	// What the nodes recorded.
	f.StopAll()
	for _, n := range f.Nodes() {
		if out, err := exec.Command(f.bin, "audit", "verify", "--data-dir", n.Dir).CombinedOutput(); err != nil {
			t.Errorf("node %s: audit verify: %v\n%s", n.Name, err, out)
		}
	}
	adapterRecords := func(n *Node) (recs []auditRecord, reasons map[string]int) {
		reasons = map[string]int{}
		for _, r := range auditRecords(t, f, n) {
			if r.Kind == "adapter" {
				recs = append(recs, r)
				reasons[r.Reason]++
			}
		}
		return recs, reasons
	}
	sum := sha256.Sum256(file)
	recs, got := adapterRecords(holder)
	if got["adapter.replica.receive"] != 1 {
		t.Errorf("%s's audit log: adapter records %v; want one adapter.replica.receive", holder.Name, got)
	}
	for _, r := range recs {
		if d := r.Detail; r.Reason == "adapter.replica.receive" &&
			(d["adapter"] != "support@1" || d["from"] != ng.ID || d["from_jurisdiction"] != "NG" || d["sha256"] != hex.EncodeToString(sum[:])) {
			t.Errorf("%s's arrival record: %v; want support@1 from %s (NG), sha256 %x", holder.Name, d, ng.ID, sum)
		}
	}
	recs, got = adapterRecords(ng)
	if got["adapter.replicate"] == 0 || got["adapter.replicate.refused"] != 0 {
		t.Errorf("ng-a's audit log: adapter records %v; want the manifests it issued and no refusal", got)
	}
	for _, r := range recs {
		if d := r.Detail; r.Reason == "adapter.replicate" && (d["to"] != holder.ID || d["to_jurisdiction"] != "KE") {
			t.Errorf("ng-a issued a manifest to %s (%s); want only %s (KE)", nodeName(d["to"]), d["to_jurisdiction"], holder.Name)
		}
	}
	for _, n := range []*Node{za, other} {
		if _, got := adapterRecords(n); len(got) != 0 {
			t.Errorf("%s's audit log: adapter records %v; want none", n.Name, got)
		}
	}
	if c := replicaCount(t, holder); c != 1 {
		t.Errorf("%s keeps %d adapter copies; want 1", holder.Name, c)
	}
	for _, n := range []*Node{za, other, ng} {
		if c := replicaCount(t, n); c != 0 {
			t.Errorf("%s keeps %d adapter copies; want none", n.Name, c)
		}
	}
	var decisions, eastDecisions []auditRecord
	for _, r := range auditRecords(t, f, za) {
		switch {
		case r.Kind != "route" || r.Decision != "route":
		case r.Tenant == "pan-east":
			eastDecisions = append(eastDecisions, r)
		default:
			decisions = append(decisions, r)
		}
	}
	if len(eastDecisions) == 0 {
		t.Errorf("za-a recorded no routing decision for pan-east's request")
	}
	for _, r := range eastDecisions {
		if strings.Contains(r.Reason, "adapter loaded") {
			t.Errorf("za-a routed pan-east's %s with another tenant's adapter bonus: %s", served, r.Reason)
		}
	}
	if len(decisions) < routed {
		t.Fatalf("za-a recorded %d routing decisions; want at least %d", len(decisions), routed)
	}
	for _, r := range decisions[:routed] { // the requests narrowed to KE come first
		t.Logf("za-a: %s", r.Reason)
		if r.Detail["node"] != holder.ID || !strings.Contains(r.Reason, "adapter loaded") {
			t.Errorf("za-a routed to %s: %s; want %s, for the adapter it holds loaded", nodeName(r.Detail["node"]), r.Reason, holder.Name)
		}
		if want := holder.ID + "@KE," + other.ID + "@KE"; r.Detail["candidates"] != want {
			t.Errorf("za-a's decision weighed %s; want %s", r.Detail["candidates"], want)
		}
	}
}
