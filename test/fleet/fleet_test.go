package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tenantSpec is a tenant of the test fleet and where it may run.
type tenantSpec struct {
	name          string
	jurisdictions []string // empty: anywhere
	home          string
}

var tenants = []tenantSpec{
	{"ke-gov", []string{"KE"}, "KE"},
	{"ng-health", []string{"NG"}, "NG"},
	{"pan-africa", []string{"KE", "NG"}, "KE"},
	{"br-bank", []string{"BR"}, "BR"},
	{"de-insurer", []string{"DE"}, "DE"}, // no node in DE: always 503
	{"open", nil, ""},
}

func (t tenantSpec) permits(j string) bool {
	return len(t.jurisdictions) == 0 || slices.Contains(t.jurisdictions, j)
}

var prompts = []string{
	"Tell me a story about a cat.",
	"Once upon a time there was a dragon",
	"What did the little girl find in the garden?",
	"Lily and Ben went to the park",
}

// requests is how many requests TestFleetUnderChaos sends.
func requests() int {
	if testing.Short() {
		return 300
	}
	return 2000
}

// TestFleetUnderChaos runs six certified nodes in KE, NG and BR (two
// each), one node with a forged certificate and one with an expired
// certificate, both claiming KE. Thousands of requests from tenants with
// different policies enter through one node per jurisdiction while the
// other node of each jurisdiction is killed (SIGKILL) and restarted over
// and over. Then, from each node's own audit log: no request ran outside
// its tenant's jurisdictions; the forged and expired nodes served
// nothing; every answered request is on record where it ran; captured
// interactions (every tenant captures) are kept only on nodes in their
// tenant's home jurisdiction, forwarded there when served elsewhere. From the
// clients' side: every permitted request got its whole answer (streams
// continued across the deaths of their nodes, token for token as an
// uninterrupted greedy run), and every request with no permitted node got
// a 503 naming its policy.
func TestFleetUnderChaos(t *testing.T) {
	f := New(t, 250*time.Millisecond)
	spec := func(name, j string, c CertKind) Spec {
		return Spec{Name: name, Jurisdiction: j, Cert: c, StepDelay: 2 * time.Millisecond}
	}
	var entries, victims []*Node
	for _, j := range []string{"KE", "NG", "BR"} {
		a := f.Add(spec(strings.ToLower(j)+"-a", j, CertValid))
		b := f.Add(spec(strings.ToLower(j)+"-b", j, CertValid))
		entries, victims = append(entries, a), append(victims, b)
	}
	forged := f.Add(spec("ke-forged", "KE", CertForged))
	expired := f.Add(spec("ke-expired", "KE", CertExpired))
	for _, tn := range tenants {
		f.CreateTenant(tn.name, tn.jurisdictions, tn.home, "--capture", "on", "--retention-days", "30")
	}
	keys := map[string]map[string]string{} // entry node name -> tenant -> key
	for _, e := range entries {
		keys[e.Name] = map[string]string{}
		for _, tn := range tenants {
			keys[e.Name][tn.name] = e.Key(tn.name)
		}
	}
	time.Sleep(time.Second) // the expired node's certificate runs out
	for _, n := range f.Nodes() {
		n.Start()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	for _, e := range entries {
		if err := f.WaitCertified(ctx, e, append(slices.Clone(entries), victims...)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := f.Status(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	// With TLS routes (the default for certified nodes) a node whose
	// certificate does not verify cannot even join the cluster; were it
	// listed, it must not be certified.
	for _, bad := range []*Node{forged, expired} {
		if p, ok := st[bad.ID]; ok && p.Certified {
			t.Fatalf("node %s is listed as certified", bad.Name)
		}
	}

	// What each prompt gets from an uninterrupted greedy run, through
	// each API (Ollama's default options differ from OpenAI's: a repeat
	// penalty, for one).
	const maxTokens = 24
	type ref struct {
		prompt string
		ollama bool
	}
	want := map[ref]string{}
	for _, p := range prompts {
		for _, ollama := range []bool{false, true} {
			r := call(ctx, entries[0].URL, keys[entries[0].Name]["open"], "", p, maxTokens, false, ollama)
			if r.err != nil || r.status != 200 || r.text == "" {
				t.Fatalf("reference run for %q: %d %v %s", p, r.status, r.err, r.body)
			}
			want[ref{p, ollama}] = r.text
		}
	}

	// Chaos: kill one victim at a time, restart it a little later.
	stop := make(chan struct{})
	var kills atomic.Int64
	var chaos sync.WaitGroup
	chaos.Go(func() {
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				return
			case <-time.After(400 * time.Millisecond):
			}
			v := victims[rng.IntN(len(victims))]
			v.Kill()
			kills.Add(1)
			select {
			case <-stop:
			case <-time.After(500 * time.Millisecond):
			}
			v.Start()
		}
	})

	type outcome struct {
		tenant tenantSpec
		prompt string
		entry  *Node
		stream bool
		ollama bool
		result
	}
	n := requests()
	out := make([]outcome, n)
	var next atomic.Int64
	var load sync.WaitGroup
	for range 12 {
		load.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				rng := rand.New(rand.NewPCG(uint64(i), 7))
				o := outcome{tenant: tenants[rng.IntN(len(tenants))], prompt: prompts[rng.IntN(len(prompts))],
					entry: entries[rng.IntN(len(entries))], stream: rng.IntN(10) < 7, ollama: rng.IntN(5) == 0}
				o.result = call(ctx, o.entry.URL, keys[o.entry.Name][o.tenant.name], "", o.prompt, maxTokens, o.stream, o.ollama)
				out[i] = o
			}
		})
	}
	load.Wait()
	close(stop)
	chaos.Wait()
	t.Logf("%d requests while %d nodes were killed and restarted", n, kills.Load())
	if kills.Load() < 3 {
		t.Errorf("only %d kills during the run; the test did not exercise failover", kills.Load())
	}

	// What the clients saw.
	var served, refused, lost, bad int
	servedIDs := map[string]tenantSpec{}
	for i, o := range out {
		r := o.result
		switch {
		case len(o.tenant.jurisdictions) == 1 && o.tenant.jurisdictions[0] == "DE":
			if r.err != nil || r.status != 503 || !strings.Contains(r.body, "DE") {
				bad++
				t.Errorf("request %d (%s): status %d err %v body %s; want a 503 naming DE", i, o.tenant.name, r.status, r.err, r.body)
			}
			refused++
		case lostRunning(r):
			// Its node was killed while running it: the gateway does not
			// send such a request on (it may be what killed the node) and
			// says so; the client can retry it.
			lost++
		case r.err != nil || r.status != 200:
			bad++
			t.Errorf("request %d (%s via %s, stream %v, ollama %v): status %d err %v body %s", i, o.tenant.name, o.entry.Name, o.stream, o.ollama, r.status, r.err, r.body)
		case r.text != want[ref{o.prompt, o.ollama}]:
			bad++
			t.Errorf("request %d (%s via %s, stream %v, ollama %v): text %q, want %q", i, o.tenant.name, o.entry.Name, o.stream, o.ollama, r.text, want[ref{o.prompt, o.ollama}])
		default:
			served++
			if r.id != "" {
				servedIDs[r.id] = o.tenant
			}
		}
		if bad > 20 {
			t.Fatalf("too many failures")
		}
	}
	t.Logf("clients: %d served whole, %d refused with 503, %d lost with their node (502 or a stream's error, not retried), %d wrong", served, refused, lost, bad)
	if lost > n/10 {
		t.Errorf("%d of %d requests were lost with their node; the kills should reach far fewer", lost, n)
	}

	// What the nodes say: each node's own audit log, verified.
	f.StopAll()
	byName := map[string]tenantSpec{}
	for _, tn := range tenants {
		byName[tn.name] = tn
	}
	recorded := map[string]bool{}
	resumed := 0
	for _, node := range f.Nodes() {
		if out, err := exec.Command(f.bin, "audit", "verify", "--data-dir", node.Dir).CombinedOutput(); err != nil {
			t.Errorf("node %s: audit verify: %v\n%s", node.Name, err, out)
		}
		recs := auditRecords(t, f, node)
		servedHere := 0
		for _, r := range recs {
			if r.Kind == "route" && r.Detail["resume"] == "true" {
				resumed++
			}
			if r.Kind != "request" || r.Decision != "allow" {
				continue
			}
			servedHere++
			tn, ok := byName[r.Tenant]
			if !ok {
				t.Errorf("node %s served unknown tenant %q", node.Name, r.Tenant)
				continue
			}
			if r.Jurisdiction != node.Jurisdiction || !tn.permits(r.Jurisdiction) {
				t.Errorf("node %s (%s) records serving %s in %s; permitted: %v", node.Name, node.Jurisdiction, r.Tenant, r.Jurisdiction, tn.jurisdictions)
			}
			recorded[r.ResponseID] = true
		}
		if (node == forged || node == expired) && servedHere > 0 {
			t.Errorf("node %s (certificate %v) served %d requests", node.Name, node.Cert, servedHere)
		}
		t.Logf("node %s (%s): %d requests served", node.Name, node.Jurisdiction, servedHere)
	}
	// Captured interactions (every tenant captures everything) are kept
	// only in their tenant's home jurisdiction, whichever node served
	// them; a tenant with no home keeps them where they ran.
	for _, tn := range tenants {
		if tn.home == "DE" {
			continue // never served
		}
		home := 0
		for _, node := range f.Nodes() {
			c := node.Captures(tn.name)
			if tn.home != "" && node.Jurisdiction != tn.home && c > 0 {
				t.Errorf("node %s (%s) keeps %d captures of %s, whose home is %s", node.Name, node.Jurisdiction, c, tn.name, tn.home)
			}
			if tn.home == "" || node.Jurisdiction == tn.home {
				home += c
			}
		}
		if home == 0 {
			t.Errorf("tenant %s: no captures kept at home (%q)", tn.name, tn.home)
		}
		t.Logf("tenant %s: %d captures at home %q", tn.name, home, tn.home)
	}
	t.Logf("%d streams continued on another node after theirs died", resumed)
	if resumed == 0 {
		t.Errorf("no stream was continued on another node: the kills never hit a stream mid-way")
	}
	missing := 0
	for id := range servedIDs {
		if !recorded[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d answered responses are in no node's audit log", missing, len(servedIDs))
	}
}

type auditRecord struct {
	Kind         string            `json:"kind"`
	Tenant       string            `json:"tenant"`
	Jurisdiction string            `json:"jurisdiction"`
	Decision     string            `json:"decision"`
	Reason       string            `json:"reason"`
	ResponseID   string            `json:"response_id"`
	Detail       map[string]string `json:"detail"`
}

func auditRecords(t *testing.T, f *Fleet, n *Node) []auditRecord {
	t.Helper()
	out, err := exec.Command(f.bin, "audit", "export", "--data-dir", n.Dir).Output()
	if err != nil {
		t.Fatalf("node %s: audit export: %v", n.Name, err)
	}
	var recs []auditRecord
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var r auditRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("node %s: audit line %q: %v", n.Name, line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestFleetPrefersNearAndIdle: with two NG nodes, one 15 ms further away
// than the other, a KE gateway sends NG traffic to the near one; once the
// near one is saturated and has requests queued, to the far one.
func TestFleetPrefersNearAndIdle(t *testing.T) {
	f := New(t, 200*time.Millisecond)
	ke := f.Add(Spec{Name: "ke-a", Jurisdiction: "KE"})
	near := f.Add(Spec{Name: "ng-near", Jurisdiction: "NG", Parallel: 1, StepDelay: 20 * time.Millisecond})
	far := f.Add(Spec{Name: "ng-far", Jurisdiction: "NG", Latency: 15 * time.Millisecond})
	f.CreateTenant("ng-health", []string{"NG"}, "NG")
	key := ke.Key("ng-health")
	nearKey := near.Key("ng-health")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.StartAll(ctx, ke); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a few round-trip probes

	count := func(k int) map[string]int {
		got := map[string]int{}
		for range k {
			r := call(ctx, ke.URL, key, "", "Hello", 2, false, false)
			if r.err != nil || r.status != 200 {
				t.Fatalf("request: %d %v %s", r.status, r.err, r.body)
			}
			got[r.node]++
		}
		return got
	}
	got := count(20)
	if got[near.ID] < 18 {
		t.Errorf("idle fleet: %d of 20 requests went to the near node, %d to the far one", got[near.ID], got[far.ID])
	}

	// Saturate the near node: one slot, long generations, more queued.
	busy, stopBusy := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for busy.Err() == nil {
				call(busy, near.URL, nearKey, "", "Tell me a long story", 200, true, false)
			}
		})
	}
	time.Sleep(time.Second) // heartbeats carry the queue
	st, _ := f.Status(ke)
	got = count(10)
	stopBusy()
	wg.Wait()
	if got[far.ID] < 8 {
		t.Errorf("near node saturated (%+v): %d of 10 requests went to the far node, %d to the near one", st[near.ID].Load, got[far.ID], got[near.ID])
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("HEARTH_SKIP_FLEET") != "" {
		fmt.Println("fleet tests skipped: HEARTH_SKIP_FLEET is set")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// lostRunning reports whether a request failed because its node was lost
// while running it, as the gateway says: a 502 before any answer, or a
// stream's error event after a second loss.
func lostRunning(r result) bool {
	const why = "not sent to another node"
	return r.status == 502 && strings.Contains(r.body, why) || r.err != nil && strings.Contains(r.err.Error(), why)
}
