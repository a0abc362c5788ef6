package route

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/fabric"
)

// peer is a certified node serving "m" with the given RTT and queue.
func peer(id, j string, rtt time.Duration, queue int) fabric.Peer {
	return fabric.Peer{ID: id, Jurisdiction: j, Certified: true, RTT: rtt, Load: fabric.Load{Models: []string{"m"}, Queue: queue}}
}

func with(p fabric.Peer, f func(*fabric.Peer)) fabric.Peer { f(&p); return p }

func TestChoose(t *testing.T) {
	ke1 := peer("ke1", "KE", 5*time.Millisecond, 0)
	ke2 := peer("ke2", "KE", 2*time.Millisecond, 0)
	ng1 := peer("ng1", "NG", 1*time.Millisecond, 0)
	br1 := peer("br1", "BR", 1*time.Millisecond, 0)
	uncert := with(peer("ke0", "KE", 0, 0), func(p *fabric.Peer) { p.Certified, p.CertProblem = false, "no certificate" })
	other := with(peer("ke0", "KE", 0, 0), func(p *fabric.Peer) { p.Load.Models = []string{"other"} })

	tests := []struct {
		name    string
		peers   []fabric.Peer
		q       Query
		want    string   // chosen node; "" means an error
		wantErr error    // when want is ""
		errHas  []string // substrings of the error
		cands   []string // candidate ids, best first (nil: not checked)
	}{
		{name: "lowest rtt wins", peers: []fabric.Peer{ke1, ke2}, q: Query{Model: "m"}, want: "ke2", cands: []string{"ke2", "ke1"}},
		{name: "self counts as zero rtt", peers: []fabric.Peer{ke1, ke2}, q: Query{Model: "m", Self: "ke1"}, want: "ke1"},
		{name: "Peer.Self counts as zero rtt", peers: []fabric.Peer{with(ke1, func(p *fabric.Peer) { p.Self = true }), ke2}, q: Query{Model: "m"}, want: "ke1"},
		{name: "any jurisdiction when policy empty", peers: []fabric.Peer{ke1, ng1}, q: Query{Model: "m"}, want: "ng1"},
		{name: "policy excludes closer node", peers: []fabric.Peer{ke1, ng1, br1}, q: Query{Model: "m", Jurisdictions: []string{"KE"}}, want: "ke1", cands: []string{"ke1"}},
		{name: "narrow within policy", peers: []fabric.Peer{ke1, ng1, br1}, q: Query{Model: "m", Jurisdictions: []string{"KE", "NG"}, Narrow: "KE"}, want: "ke1"},
		{name: "narrow without policy", peers: []fabric.Peer{ke1, ng1}, q: Query{Model: "m", Narrow: "KE"}, want: "ke1"},
		{name: "narrow outside policy is an error", peers: []fabric.Peer{ke1, ng1}, q: Query{Model: "m", Jurisdictions: []string{"KE"}, Narrow: "NG"}, wantErr: ErrBadQuery, errHas: []string{"NG", "KE"}},
		{name: "bad narrow is an error", peers: []fabric.Peer{ke1}, q: Query{Model: "m", Narrow: "ke"}, wantErr: ErrBadQuery},
		{name: "no model is an error", peers: []fabric.Peer{ke1}, q: Query{}, wantErr: ErrBadQuery},
		{name: "uncertified never chosen", peers: []fabric.Peer{uncert, ke1}, q: Query{Model: "m", Self: "ke0"}, want: "ke1"},
		{name: "model not served", peers: []fabric.Peer{other, ke1}, q: Query{Model: "m", Self: "ke0"}, want: "ke1"},
		{name: "excluded node skipped", peers: []fabric.Peer{ke1, ke2}, q: Query{Model: "m", Exclude: []string{"ke2"}}, want: "ke1"},
		{name: "overloaded skipped", peers: []fabric.Peer{with(ke2, func(p *fabric.Peer) { p.Load.Queue = DefaultMaxQueue + 1 }), ke1}, q: Query{Model: "m"}, want: "ke1"},
		{name: "MaxQueue overrides", peers: []fabric.Peer{with(ke2, func(p *fabric.Peer) { p.Load.Queue = 3 }), ke1}, q: Query{Model: "m", MaxQueue: 2}, want: "ke1"},
		{name: "queue outweighs rtt", peers: []fabric.Peer{with(ke2, func(p *fabric.Peer) { p.Load.Queue = 1 }), ke1}, q: Query{Model: "m"}, want: "ke1"},
		{name: "a negative queue does not win", peers: []fabric.Peer{with(ke1, func(p *fabric.Peer) { p.Load.Queue = -1_000_000 }), ke2}, q: Query{Model: "m"}, want: "ke2"},
		{name: "kv use penalised", peers: []fabric.Peer{with(ke2, func(p *fabric.Peer) { p.Load.KVUsedBytes, p.Load.KVTotalBytes = 90, 100 }), ke1}, q: Query{Model: "m"}, want: "ke1"},
		{name: "ties broken by id", peers: []fabric.Peer{peer("b", "KE", time.Millisecond, 0), peer("a", "KE", time.Millisecond, 0)}, q: Query{Model: "m"}, want: "a", cands: []string{"a", "b"}},
		{name: "nothing permitted fails closed", peers: []fabric.Peer{ng1, br1, uncert}, q: Query{Model: "m", Jurisdictions: []string{"KE"}}, wantErr: ErrNoPermittedNode,
			errHas: []string{`model "m"`, "permitted jurisdictions KE", "node ng1 (NG): jurisdiction NG not permitted", "node br1 (BR)", "node ke0 (KE): not certified: no certificate"}},
		{name: "all tried fails closed", peers: []fabric.Peer{ke1}, q: Query{Model: "m", Exclude: []string{"ke1"}}, wantErr: ErrNoPermittedNode, errHas: []string{"already tried", "permitted jurisdictions any"}},
		{name: "all overloaded fails closed", peers: []fabric.Peer{with(ke1, func(p *fabric.Peer) { p.Load.Queue = 99 })}, q: Query{Model: "m"}, wantErr: ErrNoPermittedNode, errHas: []string{"overloaded: 99 queued"}},
		{name: "narrowed to empty jurisdiction fails closed", peers: []fabric.Peer{ke1}, q: Query{Model: "m", Narrow: "NG"}, wantErr: ErrNoPermittedNode, errHas: []string{"narrowed to NG", "not the requested NG"}},
		{name: "no nodes fails closed", q: Query{Model: "m"}, wantErr: ErrNoPermittedNode, errHas: []string{"no nodes are known"}},
		{name: "model missing everywhere", peers: []fabric.Peer{ke1}, q: Query{Model: "x"}, wantErr: ErrNoPermittedNode, errHas: []string{`does not serve model "x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Choose(tt.peers, tt.q)
			if tt.want == "" {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Choose err = %v; want %v", err, tt.wantErr)
				}
				for _, s := range tt.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Choose: %v", err)
			}
			if d.Node != tt.want {
				t.Errorf("chose %s; want %s (decision %+v)", d.Node, tt.want, d)
			}
			if !strings.Contains(d.Reason, tt.want) {
				t.Errorf("reason %q does not name %s", d.Reason, tt.want)
			}
			if tt.cands != nil {
				var got []string
				for _, c := range d.Candidates {
					got = append(got, c.ID)
				}
				if !slices.Equal(got, tt.cands) {
					t.Errorf("candidates %v; want %v", got, tt.cands)
				}
			}
			if len(d.Candidates)+len(d.Rejected) != len(tt.peers) {
				t.Errorf("%d candidates + %d rejected; want %d peers accounted for", len(d.Candidates), len(d.Rejected), len(tt.peers))
			}
		})
	}
}

func TestPrefixAffinity(t *testing.T) {
	// Three equal nodes: the prefix owner wins, every time, and different
	// prefixes spread over the nodes.
	peers := []fabric.Peer{peer("a", "KE", time.Millisecond, 0), peer("b", "KE", time.Millisecond, 0), peer("c", "KE", time.Millisecond, 0)}
	counts := map[string]int{}
	for i := range 300 {
		key := fmt.Sprintf("system-prompt-%d", i)
		d1, err := Choose(peers, Query{Model: "m", PrefixKey: key})
		if err != nil {
			t.Fatal(err)
		}
		d2, _ := Choose(peers, Query{Model: "m", PrefixKey: key})
		if d1.Node != d2.Node {
			t.Fatalf("key %s went to %s then %s", key, d1.Node, d2.Node)
		}
		if want := Owner(key, []string{"a", "b", "c"}); d1.Node != want {
			t.Fatalf("key %s went to %s; owner is %s", key, d1.Node, want)
		}
		counts[d1.Node]++
	}
	for _, id := range []string{"a", "b", "c"} {
		if counts[id] < 60 {
			t.Errorf("node %s owns %d of 300 prefixes; want a fair share (counts %v)", id, counts[id], counts)
		}
	}

	// Affinity beats a small RTT difference but not a real queue.
	key := "sys"
	owner := Owner(key, []string{"a", "b", "c"})
	var near []fabric.Peer
	for _, p := range peers {
		if p.ID != owner {
			p.RTT = 0
		} else {
			p.RTT = 10 * time.Millisecond
		}
		near = append(near, p)
	}
	if d, _ := Choose(near, Query{Model: "m", PrefixKey: key}); d.Node != owner {
		t.Errorf("owner %s 10ms away lost to %s; affinity should win", owner, d.Node)
	}
	for i := range near {
		if near[i].ID == owner {
			near[i].Load.Queue = 3
		}
	}
	if d, _ := Choose(near, Query{Model: "m", PrefixKey: key}); d.Node == owner {
		t.Errorf("owner %s with 3 queued still chosen; load should win", owner)
	}

	// When the owner drops out, only its keys move.
	moved := 0
	for i := range 300 {
		key := fmt.Sprintf("k%d", i)
		before := Owner(key, []string{"a", "b", "c"})
		after := Owner(key, []string{"a", "b"})
		if before != "c" && before != after {
			t.Fatalf("key %s moved from %s to %s though %s stayed", key, before, after, before)
		}
		if before != after {
			moved++
		}
	}
	if moved == 0 {
		t.Error("no key owned by c moved; test is vacuous")
	}
}

// TestNeverOutsidePolicy throws thousands of random fleets and queries at
// Choose: whatever it picks is certified, permitted, serves the model and
// was not excluded; and when it fails, it fails with ErrNoPermittedNode
// only if no node qualified.
func TestNeverOutsidePolicy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	js := []string{"KE", "NG", "BR", "DE", "KE-NBO"}
	models := []string{"m1", "m2"}
	pick := func(from []string) []string {
		var out []string
		for _, s := range from {
			if rng.IntN(3) == 0 {
				out = append(out, s)
			}
		}
		return out
	}
	chosen, failed := 0, 0
	for i := range 5000 {
		var peers []fabric.Peer
		for k := range rng.IntN(8) {
			p := fabric.Peer{
				ID:           fmt.Sprintf("n%d", k),
				Jurisdiction: js[rng.IntN(len(js))],
				Certified:    rng.IntN(4) != 0,
				RTT:          time.Duration(rng.IntN(50)) * time.Millisecond,
				Load:         fabric.Load{Models: pick(models), Queue: rng.IntN(40), KVUsedBytes: rng.Int64N(100), KVTotalBytes: 100},
			}
			peers = append(peers, p)
		}
		q := Query{Model: models[rng.IntN(2)], Jurisdictions: pick(js), PrefixKey: fmt.Sprint(rng.IntN(10)), Self: "n0", Exclude: pick([]string{"n1", "n2", "n3"})}
		if rng.IntN(3) == 0 {
			if len(q.Jurisdictions) > 0 {
				q.Narrow = q.Jurisdictions[rng.IntN(len(q.Jurisdictions))]
			} else {
				q.Narrow = js[rng.IntN(len(js))]
			}
		}
		qualifies := func(p fabric.Peer) bool {
			return p.Certified && (len(q.Jurisdictions) == 0 || slices.Contains(q.Jurisdictions, p.Jurisdiction)) &&
				(q.Narrow == "" || p.Jurisdiction == q.Narrow) && slices.Contains(p.Load.Models, q.Model) &&
				!slices.Contains(q.Exclude, p.ID) && p.Load.Queue <= DefaultMaxQueue
		}
		d, err := Choose(peers, q)
		if err != nil {
			if !errors.Is(err, ErrNoPermittedNode) {
				t.Fatalf("query %d %+v: %v", i, q, err)
			}
			for _, p := range peers {
				if qualifies(p) {
					t.Fatalf("query %d %+v failed (%v) though %s qualifies", i, q, err, p.ID)
				}
			}
			failed++
			continue
		}
		idx := slices.IndexFunc(peers, func(p fabric.Peer) bool { return p.ID == d.Node })
		if idx < 0 || !qualifies(peers[idx]) {
			t.Fatalf("query %d %+v chose %s, which does not qualify (%+v)", i, q, d.Node, peers[idx])
		}
		for _, c := range d.Candidates {
			k := slices.IndexFunc(peers, func(p fabric.Peer) bool { return p.ID == c.ID })
			if !qualifies(peers[k]) {
				t.Fatalf("query %d: candidate %s does not qualify", i, c.ID)
			}
		}
		chosen++
	}
	if chosen < 500 || failed < 500 {
		t.Errorf("chosen %d, failed %d of 5000; want both common so the test means something", chosen, failed)
	}
}

func TestPrefixKey(t *testing.T) {
	if PrefixKey("") != "" {
		t.Errorf("PrefixKey(\"\") = %q; want \"\"", PrefixKey(""))
	}
	a, b := PrefixKey("You are a helpful assistant."), PrefixKey("You are a pirate.")
	if len(a) != 32 || a == b || a != PrefixKey("You are a helpful assistant.") {
		t.Errorf("PrefixKey: %q, %q; want 32 hex digits, stable, distinct", a, b)
	}
}

// Requests a gateway has in flight count against their node before the
// next heartbeat does: a burst spreads over equal nodes.
func TestInFlightSpreadsABurst(t *testing.T) {
	peers := []fabric.Peer{peer("a", "KE", time.Millisecond, 0), peer("b", "KE", 2*time.Millisecond, 0), peer("c", "KE", 3*time.Millisecond, 0)}
	inflight := map[string]int{}
	for range 9 {
		d, err := Choose(peers, Query{Model: "m", InFlight: inflight})
		if err != nil {
			t.Fatal(err)
		}
		inflight[d.Node]++
	}
	for _, id := range []string{"a", "b", "c"} {
		if inflight[id] != 3 {
			t.Errorf("a burst of 9 over 3 equal nodes: %v; want 3 each", inflight)
			break
		}
	}
}

// TestAdapterPreference: a request for an adapter goes to nodes serving
// its base, preferring the one that holds it loaded, the same version or,
// with none named, any; the bonus does not outweigh real overload.
func TestAdapterPreference(t *testing.T) {
	holds := func(p fabric.Peer, adapters ...string) fabric.Peer {
		return with(p, func(p *fabric.Peer) { p.Load.Adapters = adapters })
	}
	near := peer("near", "KE", 1*time.Millisecond, 0)
	far := peer("far", "KE", 20*time.Millisecond, 0)
	tagged := func(p fabric.Peer) fabric.Peer {
		return with(p, func(p *fabric.Peer) { p.Load.Models = []string{"qwen:q4_k_m"} })
	}
	tests := []struct {
		name   string
		peers  []fabric.Peer
		q      Query
		want   string // "" means an error
		errHas string
	}{
		{name: "no adapter: nearest", peers: []fabric.Peer{near, holds(far, "m:faq@2")}, q: Query{Model: "m"}, want: "near"},
		{name: "holder of the version wins", peers: []fabric.Peer{near, holds(far, "m:faq@2")}, q: Query{Model: "m", Adapter: "m:faq@2"}, want: "far"},
		{name: "another version is no bonus", peers: []fabric.Peer{near, holds(far, "m:faq@1")}, q: Query{Model: "m", Adapter: "m:faq@2"}, want: "near"},
		{name: "no version named: any version counts", peers: []fabric.Peer{near, holds(far, "m:faq@1")}, q: Query{Model: "m", Adapter: "m:faq"}, want: "far"},
		{name: "another adapter is no bonus", peers: []fabric.Peer{near, holds(far, "m:legal@1")}, q: Query{Model: "m", Adapter: "m:faq"}, want: "near"},
		{name: "same adapter name on another base is no bonus", peers: []fabric.Peer{near, holds(far, "other:faq@1")}, q: Query{Model: "m", Adapter: "m:faq"}, want: "near"},
		{name: "base names compare by modelname", peers: []fabric.Peer{near, holds(far, "M:latest:faq@3")}, q: Query{Model: "m", Adapter: "m:faq@3"}, want: "far"},
		{name: "a tagged base", peers: []fabric.Peer{tagged(near), holds(tagged(far), "qwen:q4_k_m:faq@1")}, q: Query{Model: "qwen:q4_k_m", Adapter: "qwen:q4_k_m:faq@1"}, want: "far"},
		{name: "nodes without the base do not qualify", peers: []fabric.Peer{holds(with(near, func(p *fabric.Peer) { p.Load.Models = nil }), "m:faq@1"), far}, q: Query{Model: "m", Adapter: "m:faq"}, want: "far"},
		{name: "the bonus does not outweigh overload", peers: []fabric.Peer{near, holds(with(far, func(p *fabric.Peer) { p.Load.Queue = 3 }), "m:faq@1")}, q: Query{Model: "m", Adapter: "m:faq"}, want: "near"},
		{name: "adapter for another base is a bad query", peers: []fabric.Peer{near}, q: Query{Model: "m", Adapter: "x:faq"}, errHas: "not BASE:ADAPTER"},
		{name: "adapter without a base is a bad query", peers: []fabric.Peer{near}, q: Query{Model: "m", Adapter: "faq"}, errHas: "not BASE:ADAPTER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Choose(tt.peers, tt.q)
			if tt.want == "" {
				if !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("Choose err = %v; want ErrBadQuery with %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Node != tt.want {
				t.Errorf("chose %s; want %s (%+v)", d.Node, tt.want, d.Candidates)
			}
			if bonus := strings.Contains(d.Candidates[0].Reason, "adapter loaded"); bonus != HoldsAdapter(tt.peers[slices.IndexFunc(tt.peers, func(p fabric.Peer) bool { return p.ID == d.Node })].Load.Adapters, tt.q.Adapter) {
				t.Errorf("winner's reason %q; the adapter bonus is named exactly when it applies", d.Candidates[0].Reason)
			}
		})
	}
}

func TestSplitAdapter(t *testing.T) {
	tests := []struct {
		in, base, ref string
		ok            bool
	}{
		{"m:faq", "m", "faq", true},
		{"m:faq@2", "m", "faq@2", true},
		{"qwen2.5-0.5b:q4_k_m:faq@2", "qwen2.5-0.5b:q4_k_m", "faq@2", true},
		{"faq", "", "", false},
		{":faq", "", "", false},
		{"m:", "", "", false},
	}
	for _, tt := range tests {
		base, ref, ok := SplitAdapter(tt.in)
		if base != tt.base || ref != tt.ref || ok != tt.ok {
			t.Errorf("SplitAdapter(%q) = %q, %q, %v; want %q, %q, %v", tt.in, base, ref, ok, tt.base, tt.ref, tt.ok)
		}
	}
}

// TestAdapterKeyPreference: a tenant's adapter, listed in heartbeats by
// key, draws its own tenant's requests for the name, with the version or
// without one, and nobody else's; names in clear (published adapters, and
// old heartbeats) still match.
func TestAdapterKeyPreference(t *testing.T) {
	holds := func(p fabric.Peer, adapters ...[]string) fabric.Peer {
		return with(p, func(p *fabric.Peer) { p.Load.Adapters = slices.Concat(adapters...) })
	}
	near := peer("near", "KE", 1*time.Millisecond, 0)
	far := peer("far", "KE", 20*time.Millisecond, 0)
	keys := AdapterKeys
	tests := []struct {
		name  string
		have  [][]string // far's Load.Adapters
		q     Query
		bonus bool
	}{
		{name: "own adapter, the version named", have: [][]string{keys("ta", "m:faq@2")}, q: Query{Tenant: "ta", Adapter: "m:faq@2"}, bonus: true},
		{name: "own adapter, no version named", have: [][]string{keys("ta", "m:faq@2")}, q: Query{Tenant: "ta", Adapter: "m:faq"}, bonus: true},
		{name: "own adapter, another version", have: [][]string{keys("ta", "m:faq@1")}, q: Query{Tenant: "ta", Adapter: "m:faq@2"}},
		{name: "another tenant's adapter of the name", have: [][]string{keys("ta", "m:faq@2")}, q: Query{Tenant: "tb", Adapter: "m:faq@2"}},
		{name: "another tenant's, no version named", have: [][]string{keys("ta", "m:faq@2")}, q: Query{Tenant: "tb", Adapter: "m:faq"}},
		{name: "a query without a tenant matches no key", have: [][]string{keys("ta", "m:faq@2")}, q: Query{Adapter: "m:faq@2"}},
		{name: "another adapter of the tenant", have: [][]string{keys("ta", "m:legal@2")}, q: Query{Tenant: "ta", Adapter: "m:faq"}},
		{name: "bases compare by modelname", have: [][]string{keys("ta", "M:latest:faq@3")}, q: Query{Tenant: "ta", Adapter: "m:faq@3"}, bonus: true},
		{name: "a published adapter by name", have: [][]string{keys("", "m:tiny")}, q: Query{Tenant: "tb", Adapter: "m:tiny"}, bonus: true},
		{name: "an old heartbeat's name in clear", have: [][]string{{"m:faq@2"}}, q: Query{Tenant: "ta", Adapter: "m:faq"}, bonus: true},
		{name: "keys among names", have: [][]string{{"m:tiny"}, keys("tb", "m:faq@1"), keys("ta", "m:faq@4")}, q: Query{Tenant: "ta", Adapter: "m:faq@4"}, bonus: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Model = "m"
			d, err := Choose([]fabric.Peer{near, holds(far, tt.have...)}, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			want := map[bool]string{true: "far", false: "near"}[tt.bonus]
			if d.Node != want {
				t.Errorf("chose %s; want %s (%+v)", d.Node, want, d.Candidates)
			}
			if got := strings.Contains(d.Candidates[0].Reason, "adapter loaded"); got != tt.bonus {
				t.Errorf("winner's reason %q; adapter bonus %v, want %v", d.Candidates[0].Reason, got, tt.bonus)
			}
		})
	}
}

// TestAdapterKeys: a tenant's adapter is listed by two opaque keys (with
// and without its version), never its name; a published one by its name.
func TestAdapterKeys(t *testing.T) {
	tests := []struct {
		tenant, served string
		n              int
		clear          bool
	}{
		{tenant: "", served: "m:tiny", n: 1, clear: true},
		{tenant: "ta", served: "stories260k:support@1", n: 2},
		{tenant: "ta", served: "qwen:q4_k_m:faq@12", n: 2},
		{tenant: "ta", served: "m:faq", n: 1}, // a versionless name has one key
	}
	for _, tt := range tests {
		got := AdapterKeys(tt.tenant, tt.served)
		if len(got) != tt.n {
			t.Errorf("AdapterKeys(%q, %q) = %q; want %d entries", tt.tenant, tt.served, got, tt.n)
		}
		if tt.clear {
			if !slices.Equal(got, []string{tt.served}) {
				t.Errorf("AdapterKeys(%q, %q) = %q; want the name", tt.tenant, tt.served, got)
			}
			continue
		}
		for _, k := range got {
			if _, err := hex.DecodeString(k); err != nil || len(k) != 32 {
				t.Errorf("AdapterKeys(%q, %q): %q is not 16 bytes of hex", tt.tenant, tt.served, k)
			}
		}
	}
	if a, b := AdapterKey("ta", "m:faq@1"), AdapterKey("tb", "m:faq@1"); a == b {
		t.Errorf("two tenants' adapters of one name share the key %s", a)
	}
	if a, b := AdapterKey("t", "am:faq@1"), AdapterKey("ta", "m:faq@1"); a == b {
		t.Errorf("the tenant and the name run together: %s", a)
	}
	if a, b := AdapterKey("ta", "llama3:faq@1"), AdapterKey("ta", "LLama3:latest:faq@1"); a != b {
		t.Errorf("one base spelt two ways: keys %s, %s", a, b)
	}
}
