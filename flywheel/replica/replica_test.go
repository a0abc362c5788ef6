package replica_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/tensor"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/flywheel/replica"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/node"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/tenant"
)

const stories = "../../../shared/testdata/models/stories260K.gguf"

// fleetNode is one in-process node as `hearth serve` builds it
// (node.New), certified for its jurisdiction, with tenant acme.
type fleetNode struct {
	nd     *node.Node
	dir    string
	tenant tenant.Tenant // acme, as this node holds it
	skew   *atomic.Int64 // added to this node's clock (node.Config.Now), in ns
}

func (n *fleetNode) id() string                { return n.nd.ID() }
func (n *fleetNode) copies() *replica.Replicas { return n.nd.Replicas() }

// startNode starts a node in j joined to join (a cluster URL, or "")
// whose tenant acme has policy pol.
func startNode(t *testing.T, op ed25519.PrivateKey, j, join string, pol tenant.Policy) *fleetNode {
	t.Helper()
	return startNodeCert(t, op, j, join, pol, true)
}

// startNodeCert starts a node as startNode does, without a fleet
// certificate unless certified: it claims j all the same.
func startNodeCert(t *testing.T, op ed25519.PrivateKey, j, join string, pol tenant.Policy, certified bool) *fleetNode {
	t.Helper()
	dir := t.TempDir()
	site := "site-" + strings.ToLower(j)
	if certified {
		testfixture.Certify(t, op, dir, j)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fc := fabric.Config{Site: site, ClusterListen: "127.0.0.1:0", HeartbeatInterval: 100 * time.Millisecond}
	if join != "" {
		fc.Join = []string{join}
	}
	n := &fleetNode{dir: dir, skew: new(atomic.Int64)}
	route := false
	nd, err := node.New(node.Config{DataDir: dir, Listener: ln, Jurisdiction: j, OperatorKey: op.Public().(ed25519.PublicKey),
		Route: &route, ClusterPlain: true, Runner: runner.Config{Files: []string{stories}}, Fabric: fc, Audit: audit.Options{NoSync: true},
		Now: func() time.Time { return time.Now().Add(time.Duration(n.skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nd.Shutdown(context.Background()) })
	n.nd = nd
	if n.tenant, err = nd.Tenants().CreateTenant(context.Background(), tenant.Tenant{Name: "acme", Policy: pol}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nd.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitMesh waits until every node holds every other certified.
func waitMesh(t *testing.T, fabs ...*fabric.Node) {
	t.Helper()
	testfixture.WaitFor(t, "the nodes to certify each other", func() bool {
		for _, a := range fabs {
			for _, b := range fabs {
				if p, ok := a.Peer(b.ID()); a != b && (!ok || !p.Certified) {
					return false
				}
			}
		}
		return true
	})
}

// auditOf reads a node's audit log (closing it: call once, at the end).
func (n *fleetNode) auditOf(t *testing.T) []audit.Record {
	t.Helper()
	n.nd.Audit().Close()
	var recs []audit.Record
	for _, r := range testfixture.AuditRecords(t, filepath.Join(n.dir, "audit")) {
		if r.Kind == registry.KindAdapter {
			recs = append(recs, r)
		}
	}
	return recs
}

// rejections reads a node's adapter.replica.rejected records (closing
// its audit log, as auditOf does), and fails unless there are want.
func (n *fleetNode) rejections(t *testing.T, want int) []audit.Record {
	t.Helper()
	var rejected []audit.Record
	for _, r := range n.auditOf(t) {
		if r.Reason == "adapter.replica.rejected" {
			rejected = append(rejected, r)
		}
	}
	if len(rejected) != want {
		t.Fatalf("%d adapter.replica.rejected records; want %d: %+v", len(rejected), want, rejected)
	}
	return rejected
}

func find(recs []audit.Record, f func(audit.Record) bool) *audit.Record {
	for i := range recs {
		if f(recs[i]) {
			return &recs[i]
		}
	}
	return nil
}

// replicaRows counts the copies in a node's database.
func (n *fleetNode) replicaRows(t *testing.T) int {
	t.Helper()
	var c int
	if err := n.nd.DB().QueryRow(`SELECT count(*) FROM adapter_replicas`).Scan(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func storiesBase(t *testing.T) registry.Base {
	t.Helper()
	b, err := registry.BaseOf("stories260k", stories)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startHomeKEZA starts tenant acme's home in NG, with policy pol (NG and
// KE), and joined to it a node in KE and a certified node in ZA whose own
// copy of the policy wrongly permits ZA.
func startHomeKEZA(t *testing.T, op ed25519.PrivateKey) (ng, ke, za *fleetNode, pol tenant.Policy) {
	t.Helper()
	pol = tenant.Policy{Jurisdictions: []string{"NG", "KE"}, Home: "NG"}
	ng = startNode(t, op, "NG", "", pol)
	ke = startNode(t, op, "KE", ng.nd.Fabric().ClusterURL(), pol)
	za = startNode(t, op, "ZA", ng.nd.Fabric().ClusterURL(), tenant.Policy{Jurisdictions: []string{"NG", "KE", "ZA"}, Home: "NG"})
	return ng, ke, za, pol
}

// TestAdapterReachesOnlyPermittedNodes: tenant acme's data lives in NG
// and it may be served in NG and KE. Its adapter, registered in NG,
// reaches the KE node, checked and sealed there; a certified node in ZA,
// whose own copy of the tenant's policy wrongly permits ZA, asks and is
// refused by the home, which records the refusal, and keeps nothing; the
// KE node never hands its copy on; and when the home retires the version
// the KE node drops its copy on next use.
func TestAdapterReachesOnlyPermittedNodes(t *testing.T) {
	_, op, _ := ed25519.GenerateKey(nil)
	ng, ke, za, pol := startHomeKEZA(t, op)
	ke2 := startNode(t, op, "KE", ng.nd.Fabric().ClusterURL(), pol)
	// A node without a certificate that claims KE.
	rogue := startNodeCert(t, op, "KE", ng.nd.Fabric().ClusterURL(), pol, false)
	waitMesh(t, ng.nd.Fabric(), ke.nd.Fabric(), ke2.nd.Fabric(), za.nd.Fabric())
	testfixture.WaitFor(t, "the rogue node to see the home", func() bool { return len(rogue.nd.Fabric().CertifiedIn("NG")) == 1 })
	ctx := context.Background()

	base := storiesBase(t)
	file := bigAdapter(t) // several chunks
	v, err := ng.nd.Flywheel().Adapters.Create(ctx, ng.tenant, "faq", registry.Meta{Base: base}, file)
	if err != nil {
		t.Fatal(err)
	}

	// KE: permitted. It gets the adapter, exactly as registered.
	a, got, err := ke.copies().Fetch(ctx, ke.tenant.ID, "faq", base)
	if err != nil {
		t.Fatalf("KE fetch: %v", err)
	}
	if got.Version != v.Version || got.SHA256 != v.SHA256 || got.Size != v.Size || got.Node != ng.id() || got.Jurisdiction != "NG" || got.TenantID != ke.tenant.ID {
		t.Errorf("KE's version %+v; want %s@%d sha256 %s from %s (NG) for its own tenant id", got, v.Name, v.Version, v.SHA256, ng.id())
	}
	if a.Arch != "llama" || len(a.LoRA) != 1 || a.LoRA["blk.0.attn_q.weight"] == nil {
		t.Errorf("KE's adapter decodes as %s with %d updates", a.Arch, len(a.LoRA))
	}
	reps, err := ke.copies().List(ctx, ke.tenant.ID)
	if err != nil || len(reps) != 1 {
		t.Fatalf("KE's copies: %v, %v", reps, err)
	}
	if m := reps[0].Manifest; m.Home != ng.id() || m.Node != ke.id() || m.SHA256 != v.SHA256 || m.Tenant != "acme" {
		t.Errorf("KE's copy's manifest %+v", m)
	}
	var sealed []byte
	if err := ke.nd.DB().QueryRow(`SELECT file FROM adapter_replicas`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, file[len(file)-32:]) {
		t.Error("KE keeps the adapter file in the clear")
	}
	// KE's own registry holds nothing: the copy is not the tenant's
	// registry there.
	if vs, _ := ke.nd.Flywheel().Adapters.List(ctx, ke.tenant.ID); len(vs) != 0 {
		t.Errorf("KE's registry lists %v", vs)
	}
	// Used again, by version or by name, the copy serves without asking
	// the home (counted below, in the home's audit log).
	for _, ref := range []string{"faq@1", "faq"} {
		if _, again, err := ke.copies().Fetch(ctx, ke.tenant.ID, ref, base); err != nil || again.SHA256 != v.SHA256 {
			t.Errorf("KE's fetch of %s again: %+v, %v", ref, again, err)
		}
	}

	// ZA: not permitted by the home's policy. Refused, nothing kept.
	_, _, err = za.copies().Fetch(ctx, za.tenant.ID, "faq@1", base)
	if !errors.Is(err, replica.ErrNotPermitted) || !strings.Contains(err.Error(), "ZA") || !strings.Contains(err.Error(), ng.id()) {
		t.Errorf("ZA fetch: %v; want ErrNotPermitted naming ZA and the home node", err)
	}
	if n := za.replicaRows(t); n != 0 {
		t.Errorf("ZA keeps %d copies", n)
	}

	// A node without a certificate is refused by the home's fabric before
	// anything is read, even claiming a permitted jurisdiction.
	_, _, err = rogue.copies().Fetch(ctx, rogue.tenant.ID, "faq@1", base)
	if !errors.Is(err, replica.ErrNoHome) || !strings.Contains(err.Error(), "not certified") {
		t.Errorf("uncertified node's fetch: %v; want ErrNoHome, the home saying it is not certified", err)
	}
	if n := rogue.replicaRows(t); n != 0 {
		t.Errorf("the uncertified node keeps %d copies", n)
	}

	// The copy is never handed on: KE answers a permitted peer not_found.
	req, _ := json.Marshal(map[string]string{"tenant": "acme", "adapter": "faq@1", "base_digest": base.Digest})
	ans, err := ke2.nd.Fabric().DeliverTo(ctx, ke.id(), replica.KindManifest, req)
	if err != nil || !strings.Contains(string(ans), `"error":"not_found"`) {
		t.Errorf("KE asked for its copy: %s, %v; want not_found", ans, err)
	}

	// Another base: refused at home, nothing kept.
	other := base
	other.Digest = strings.Repeat("ab", 32)
	if _, _, err := ke2.copies().Fetch(ctx, ke2.tenant.ID, "faq", other); !errors.Is(err, registry.ErrBaseMismatch) {
		t.Errorf("fetch for another base: %v; want ErrBaseMismatch", err)
	}
	if n := ke2.replicaRows(t); n != 0 {
		t.Errorf("KE2 keeps %d copies after a base mismatch", n)
	}
	// Find resolves the version without moving the file; its Opener
	// brings it.
	found, open, err := ke2.copies().Find(ctx, ke2.tenant.ID, "faq@1", base)
	if err != nil || found.SHA256 != v.SHA256 {
		t.Fatalf("KE2 find: %+v, %v", found, err)
	}
	if n := ke2.replicaRows(t); n != 0 {
		t.Errorf("KE2 keeps %d copies before opening what it found", n)
	}
	// Opened by a burst of requests at once, the file moves once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if a, err := open(ctx); err != nil || a.Arch != "llama" {
				t.Errorf("KE2 open: %v", err)
			}
		})
	}
	wg.Wait()
	if n := ke2.replicaRows(t); n != 1 {
		t.Errorf("KE2 keeps %d copies after opening; want 1", n)
	}
	received := 0
	for _, r := range ke2.auditOf(t) {
		if r.Reason == "adapter.replica.receive" {
			received++
		}
	}
	if received != 1 {
		t.Errorf("KE2 received the copy %d times for 8 opens at once; want once", received)
	}

	// The home retires the version: on its next use after Revalidate the
	// copy is dropped and not served.
	if err := ng.nd.Flywheel().Adapters.Retire(ctx, ng.tenant.ID, "faq", 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ke.copies().Fetch(ctx, ke.tenant.ID, "faq@1", base); err != nil {
		t.Errorf("within Revalidate the copy still serves: %v", err)
	}
	ke.skew.Store(int64(replica.DefaultRevalidate + 10*time.Second))
	if _, _, err := ke.copies().Fetch(ctx, ke.tenant.ID, "faq@1", base); !errors.Is(err, replica.ErrRetired) {
		t.Errorf("fetch after the home retired it: %v; want ErrRetired", err)
	}
	if n := ke.replicaRows(t); n != 0 {
		t.Errorf("KE keeps %d copies after the home retired the version", n)
	}

	// A new version, fetched by name, then deleted at home: the sweep
	// drops the copy nobody asks for again.
	v2, err := ng.nd.Flywheel().Adapters.Create(ctx, ng.tenant, "faq", registry.Meta{Base: base}, testfixture.AdapterFile(t, "llama", 0.75))
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := ke.copies().Fetch(ctx, ke.tenant.ID, "faq", base); err != nil || got.Version != v2.Version || got.SHA256 != v2.SHA256 {
		t.Fatalf("KE fetch of the latest: %+v, %v; want version %d", got, err, v2.Version)
	}
	if err := ng.nd.Flywheel().Adapters.Delete(ctx, ng.tenant.ID, "faq", v2.Version); err != nil {
		t.Fatal(err)
	}
	if err := ke.copies().Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := ke.replicaRows(t); n != 1 {
		t.Fatalf("the sweep dropped a copy its home vouched for within Revalidate: %d left", n)
	}
	ke.skew.Add(int64(replica.DefaultRevalidate + time.Second))
	if err := ke.copies().Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := ke.replicaRows(t); n != 0 {
		t.Errorf("KE keeps %d copies after the home deleted the version", n)
	}

	// The tenant's key is shredded at home: the home no longer vouches for
	// what it cannot read, and the copy goes.
	v3, err := ng.nd.Flywheel().Adapters.Create(ctx, ng.tenant, "faq", registry.Meta{Base: base}, testfixture.AdapterFile(t, "llama", 1.5))
	if err != nil {
		t.Fatal(err)
	}
	ke.skew.Store(0) // KE's clock back in step with the home's, for its manifest
	if _, got, err := ke.copies().Fetch(ctx, ke.tenant.ID, "faq", base); err != nil || got.Version != v3.Version {
		t.Fatalf("KE fetch of faq@3: %+v, %v", got, err)
	}
	if err := ng.nd.Capture().DeleteTenantKey(ctx, ng.tenant.ID); err != nil {
		t.Fatal(err)
	}
	ke.skew.Add(int64(replica.DefaultRevalidate + time.Second))
	if _, _, err := ke.copies().Fetch(ctx, ke.tenant.ID, "faq@3", base); !errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), "deleted") {
		t.Errorf("fetch after the home shredded the tenant's key: %v; want ErrNotFound saying the key was deleted", err)
	}
	if n := ke.replicaRows(t); n != 0 {
		t.Errorf("KE keeps %d copies after the home shredded the tenant's key", n)
	}

	// The home recorded what it handed out and what it refused; KE what
	// it received and dropped.
	ngRecs := ng.auditOf(t)
	if find(ngRecs, func(r audit.Record) bool {
		return r.Reason == "adapter.replicate" && r.Detail["to"] == ke.id() && r.Detail["sha256"] == v.SHA256 && r.Tenant == ng.tenant.ID
	}) == nil {
		t.Errorf("NG's audit has no record of the copy to KE: %+v", ngRecs)
	}
	handed := 0
	for _, r := range ngRecs {
		if r.Reason == "adapter.replicate" && r.Detail["to"] == ke.id() {
			handed++
		}
	}
	if handed != 3 {
		t.Errorf("NG vouched for KE's copies %d times; want 3 (faq@1, @2, @3), none while a copy was fresh", handed)
	}
	if r := find(ngRecs, func(r audit.Record) bool { return r.Reason == "adapter.replicate.refused" && r.Detail["to"] == za.id() }); r == nil ||
		r.Decision != audit.DecisionDeny || r.Detail["to"] != za.id() || r.Detail["to_jurisdiction"] != "ZA" || r.Detail["code"] != "not_permitted" {
		t.Errorf("NG's audit of the refusal: %+v", r)
	}
	if r := find(ngRecs, func(r audit.Record) bool {
		return r.Reason == "adapter.replicate.refused" && r.Detail["to"] == rogue.id()
	}); r == nil ||
		r.Decision != audit.DecisionDeny || !strings.Contains(r.Detail["why"], "not certified") {
		t.Errorf("NG's audit of the uncertified node's request: %+v", r)
	}
	for _, n := range []*fleetNode{za, rogue} {
		if find(ngRecs, func(r audit.Record) bool { return r.Reason == "adapter.replicate" && r.Detail["to"] == n.id() }) != nil {
			t.Errorf("NG's audit says it handed the adapter to %s", n.id())
		}
	}
	keRecs := ke.auditOf(t)
	if find(keRecs, func(r audit.Record) bool {
		return r.Reason == "adapter.replica.receive" && r.Detail["from"] == ng.id() && r.Detail["adapter"] == "faq@1" && r.Tenant == ke.tenant.ID
	}) == nil {
		t.Errorf("KE's audit has no record of the copy it received: %+v", keRecs)
	}
	for _, ref := range []string{"faq@1", "faq@2", "faq@3"} {
		if find(keRecs, func(r audit.Record) bool { return r.Reason == "adapter.replica.drop" && r.Detail["adapter"] == ref }) == nil {
			t.Errorf("KE's audit has no record of %s's drop: %+v", ref, keRecs)
		}
	}
}

// bigAdapter is a rank-8 adapter on one 16384-wide projection: 1 MiB
// of F32, four chunks.
func bigAdapter(t *testing.T) []byte {
	t.Helper()
	const width, rank = 16384, 8
	w := gguf.NewWriter()
	w.SetKV("general.architecture", "llama")
	w.SetKV("general.type", "adapter")
	w.SetKV("adapter.type", "lora")
	w.SetKV("adapter.lora.alpha", float32(16))
	vals := make([]byte, 4*width*rank)
	for i := range width * rank {
		binary.LittleEndian.PutUint32(vals[4*i:], math.Float32bits(float32(i%97)/97))
	}
	if err := w.AddTensor("blk.0.attn_q.weight.lora_a", tensor.F32, []int64{width, rank}, vals); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("blk.0.attn_q.weight.lora_b", tensor.F32, []int64{rank, width}, vals); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.Len() <= 3*replica.ChunkBytes {
		t.Fatalf("the adapter is %d bytes, under four chunks", buf.Len())
	}
	return buf.Bytes()
}

// evilHome is a certified NG node that answers adapter requests as a
// test wants: the tampering an honest home never does.
type evilHome struct {
	fab    *fabric.Node
	id     *identity.Identity
	chunks atomic.Int32 // chunk requests taken
}

func startEvilHome(t *testing.T, op ed25519.PrivateKey, join string, manifest func(from fabric.Peer) ([]byte, error), chunk func(req []byte) ([]byte, error)) *evilHome {
	t.Helper()
	e := &evilHome{}
	e.fab, e.id = startEvilNode(t, op, join, map[string]fabric.DeliverHandler{
		replica.KindManifest: func(_ context.Context, from fabric.Peer, _ []byte) ([]byte, error) { return manifest(from) },
		replica.KindChunk: func(_ context.Context, _ fabric.Peer, req []byte) ([]byte, error) {
			e.chunks.Add(1)
			return chunk(req)
		},
	})
	return e
}

// startEvilNode starts a certified NG fabric node that answers the
// delivery kinds of handlers as they say.
func startEvilNode(t *testing.T, op ed25519.PrivateKey, join string, handlers map[string]fabric.DeliverHandler) (*fabric.Node, *identity.Identity) {
	t.Helper()
	id, err := identity.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := fabric.Certify(op, id.Public, "site-ng", "NG", time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	f, err := fabric.New(fabric.Config{Identity: id, Cert: cert, OperatorKey: op.Public().(ed25519.PublicKey), Site: "site-ng", Jurisdiction: "NG",
		ClusterListen: "127.0.0.1:0", Join: []string{join}, HeartbeatInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for kind, h := range handlers {
		if err := f.HandleDeliver(kind, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Shutdown(context.Background()) })
	return f, id
}

// TestTamperedCopyRefused: a certified home node that sends what its
// manifest does not vouch for (a signature by another key, bytes with
// another sha256, a manifest for another node, a size over the limit) gets
// nothing kept, and the receiver records the rejection.
func TestTamperedCopyRefused(t *testing.T) {
	_, op, _ := ed25519.GenerateKey(nil)
	pol := tenant.Policy{Jurisdictions: []string{"NG", "KE"}, Home: "NG"}
	ke := startNode(t, op, "KE", "", pol)
	base := storiesBase(t)
	file := testfixture.AdapterFile(t, "llama", 0.5)
	sum := sha256.Sum256(file)
	_, stranger, _ := ed25519.GenerateKey(nil)

	tests := []struct {
		name      string
		edit      func(m *replica.Manifest)            // the manifest the home vouches for
		key       func(e *evilHome) ed25519.PrivateKey // who signs it
		data      func(b []byte) []byte                // what the chunks carry
		want      error                                // what Fetch returns
		decision  string                               // of the receiver's record
		maxChunks int32                                // chunk requests the receiver may make
	}{
		{name: "signed by another key", key: func(*evilHome) ed25519.PrivateKey { return stranger }, want: replica.ErrTampered, decision: audit.DecisionAlarm},
		{name: "bytes with another sha256", data: func(b []byte) []byte { b = bytes.Clone(b); b[len(b)-1] ^= 1; return b },
			want: replica.ErrTampered, decision: audit.DecisionAlarm, maxChunks: 1},
		{name: "short chunk", data: func(b []byte) []byte { return b[:len(b)-1] }, want: replica.ErrTampered, decision: audit.DecisionAlarm, maxChunks: 1},
		{name: "issued to another node", edit: func(m *replica.Manifest) { m.Node = "node-0000000000000000" }, want: replica.ErrTampered, decision: audit.DecisionAlarm},
		{name: "another tenant's", edit: func(m *replica.Manifest) { m.Tenant = "other" }, want: replica.ErrTampered, decision: audit.DecisionAlarm},
		{name: "stale", edit: func(m *replica.Manifest) { m.Issued = m.Issued.Add(-time.Hour) }, want: replica.ErrTampered, decision: audit.DecisionAlarm},
		{name: "over the limit", edit: func(m *replica.Manifest) { m.Size = replica.DefaultMaxBytes + 1 }, want: replica.ErrTooLarge, decision: audit.DecisionDeny},
		{name: "for another base", edit: func(m *replica.Manifest) { m.Base.Digest = strings.Repeat("cd", 32) }, want: registry.ErrBaseMismatch, decision: audit.DecisionDeny},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *evilHome
			manifest := func(from fabric.Peer) ([]byte, error) {
				m := &replica.Manifest{Tenant: "acme", Name: "faq", Version: i + 1, Created: time.Now().UTC(), SHA256: hex.EncodeToString(sum[:]),
					Size: int64(len(file)), Base: base, Node: from.ID, Home: e.id.ID, Jurisdiction: "NG", Issued: time.Now().UTC()}
				if tt.edit != nil {
					tt.edit(m)
				}
				key := e.id.Private
				if tt.key != nil {
					key = tt.key(e)
				}
				sm, err := replica.SignManifest(key, m)
				if err != nil {
					return nil, err
				}
				return json.Marshal(map[string]any{"signed": sm})
			}
			chunk := func([]byte) ([]byte, error) {
				data := file
				if tt.data != nil {
					data = tt.data(file)
				}
				return json.Marshal(map[string]any{"data": data})
			}
			e = startEvilHome(t, op, ke.nd.Fabric().ClusterURL(), manifest, chunk)
			waitMesh(t, ke.nd.Fabric(), e.fab)
			_, _, err := ke.copies().Fetch(context.Background(), ke.tenant.ID, "faq", base)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Fetch: %v; want %v", err, tt.want)
			}
			if n := ke.replicaRows(t); n != 0 {
				t.Errorf("KE keeps %d copies", n)
			}
			if n := e.chunks.Load(); n > tt.maxChunks {
				t.Errorf("KE asked for %d chunks; want at most %d (a manifest that fails is refused before the file is read)", n, tt.maxChunks)
			}
			e.fab.Shutdown(context.Background())
			testfixture.WaitFor(t, "the evil home to leave KE's table", func() bool { _, ok := ke.nd.Fabric().Peer(e.id.ID); return !ok })
		})
	}
	// One rejection recorded per attempt, in order, an alarm where what
	// arrived is not what the home signed.
	rejected := ke.rejections(t, len(tests))
	for i, tt := range tests {
		if r := rejected[i]; r.Decision != tt.decision || r.Tenant != ke.tenant.ID || r.Detail["why"] == "" {
			t.Errorf("%s: recorded %+v; want decision %s with the reason", tt.name, r, tt.decision)
		}
	}
}
