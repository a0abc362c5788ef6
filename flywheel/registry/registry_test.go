package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/tensor"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/internal/testclock"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/tenant"
)

var baseDigest = strings.Repeat("ab", 32)

// env is a registry over a real capture store's sealer and a dataset
// store, with an in-memory audit log, in the jurisdiction KE.
type env struct {
	dir      string
	d        *db.DB
	capture  *capture.Store
	datasets *dataset.Store
	tenants  *tenant.Store
	audit    *testfixture.Audit
	clock    *testclock.Clock
	reg      *Store
	ten      tenant.Tenant
}

func newEnv(t *testing.T, pol tenant.Policy) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{dir: t.TempDir(), audit: &testfixture.Audit{}, clock: testclock.New(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))}
	var err error
	if e.d, err = db.OpenDir(e.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.d.Close() })
	if e.tenants, err = tenant.Open(ctx, e.d, e.clock.Now); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.tenants.Close() })
	if e.ten, err = e.tenants.CreateTenant(ctx, tenant.Tenant{Name: "acme", Policy: pol}); err != nil {
		t.Fatal(err)
	}
	if e.capture, err = capture.Open(ctx, e.d, capture.Config{Jurisdiction: "KE", Now: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	if e.datasets, err = dataset.Open(ctx, e.d, e.clock.Now); err != nil {
		t.Fatal(err)
	}
	e.datasets.SetSealer(e.capture.Sealer())
	if e.reg, err = Open(ctx, e.d, Config{Jurisdiction: "KE", Node: "node-1", Sealer: e.capture.Sealer(), EnsureKey: e.capture.EnsureKey,
		Audit: e.audit, Datasets: e.datasets, Tenants: e.tenants, Now: e.clock.Now}); err != nil {
		t.Fatal(err)
	}
	return e
}

// build makes dataset "support" from interactions resp-0 .. resp-(n-1).
func (e *env) build(t *testing.T, n int) *dataset.Version {
	t.Helper()
	ctx := context.Background()
	if err := e.capture.EnsureKey(ctx, e.ten.ID); err != nil {
		t.Fatal(err)
	}
	var ins dataset.Static
	for i := range n {
		ins = append(ins, dataset.Interaction{ResponseID: fmt.Sprintf("resp-%d", i), Thumb: 1,
			Messages: []dataset.Message{{Role: "user", Content: fmt.Sprintf("Question %d about the long rains and planting maize", i)}},
			Output:   fmt.Sprintf("Answer %d: plant after the first heavy rain, two seeds a hole, weed twice.", i)})
	}
	v, err := e.datasets.Build(ctx, ins, e.ten.ID, "support", dataset.Options{NearDup: 1})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *env) meta() Meta {
	return Meta{Base: Base{Name: "stories260k", Digest: baseDigest}, Dataset: DatasetRef{Name: "support"},
		Hyper: json.RawMessage(`{"rank":2,"alpha":4}`), Metrics: json.RawMessage(`{"train_loss":1.5,"eval_loss":1.75}`)}
}

// count returns how many rows the registry's tables hold.
func (e *env) count(t *testing.T) (versions, lineage int) {
	t.Helper()
	for _, q := range []struct {
		table string
		n     *int
	}{{"adapter_versions", &versions}, {"adapter_lineage", &lineage}} {
		if err := e.d.QueryRow(`SELECT count(*) FROM ` + q.table).Scan(q.n); err != nil {
			t.Fatal(err)
		}
	}
	return versions, lineage
}

func TestCreateGetListOpen(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tenant.Policy{Jurisdictions: []string{"KE"}, Home: "KE"})
	dv := e.build(t, 4)
	files := [][]byte{testfixture.AdapterFile(t, "llama", 1), testfixture.AdapterFile(t, "llama", 2), testfixture.AdapterFile(t, "llama", 3)}
	for i, f := range files {
		v, err := e.reg.Create(ctx, e.ten, "support-lora", e.meta(), f)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(f)
		switch {
		case v.Version != i+1:
			t.Errorf("version %d; want %d", v.Version, i+1)
		case v.Base.Arch != "llama" || v.Base.Digest != baseDigest || v.Base.Name != "stories260k":
			t.Errorf("base %+v", v.Base)
		case v.Dataset.Version != dv.Version || v.Dataset.Hash != dv.ContentHash():
			t.Errorf("dataset %+v; want version %d hash %s", v.Dataset, dv.Version, dv.ContentHash())
		case v.SHA256 != hex.EncodeToString(sum[:]) || v.Size != int64(len(f)):
			t.Errorf("sha256 %s size %d", v.SHA256, v.Size)
		case v.Node != "node-1" || v.Jurisdiction != "KE" || v.State != StateActive || v.ErasedData:
			t.Errorf("version %+v", v)
		}
	}
	// The files are sealed: no adapter's bytes are in the database file.
	db, err := os.ReadFile(filepath.Join(e.dir, "hearth.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(e.dir, "hearth.db-wal"))
	if bytes.Contains(append(db, wal...), []byte("blk.0.attn_q.weight.lora_a")) {
		t.Error("the database holds an adapter file in the clear")
	}
	for _, tc := range []struct {
		version, want int
	}{{0, 3}, {1, 1}, {2, 2}, {3, 3}} {
		plain, v, err := e.reg.Open(ctx, e.ten.ID, "support-lora", tc.version)
		if err != nil {
			t.Fatalf("open @%d: %v", tc.version, err)
		}
		if v.Version != tc.want || !bytes.Equal(plain, files[tc.want-1]) {
			t.Errorf("open @%d: version %d, %d bytes; want version %d's file", tc.version, v.Version, len(plain), tc.want)
		}
		got, err := e.reg.Get(ctx, e.ten.ID, "support-lora", tc.version)
		if err != nil || got.Version != tc.want || string(got.Metrics) != `{"train_loss":1.5,"eval_loss":1.75}` || string(got.Hyper) != `{"rank":2,"alpha":4}` {
			t.Errorf("get @%d: %+v, %v", tc.version, got, err)
		}
	}
	path, _, err := e.reg.TempFile(ctx, e.ten.ID, "support-lora", 2, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, files[1]) {
		t.Errorf("temp file: %d bytes, %v; want version 2's file", len(b), err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("temp file mode %v, %v; want 0600", st.Mode(), err)
	}
	list, err := e.reg.List(ctx, e.ten.ID)
	if err != nil || len(list) != 3 {
		t.Fatalf("list: %d versions, %v", len(list), err)
	}
	if other, err := e.reg.List(ctx, "tnt_other"); err != nil || len(other) != 0 {
		t.Errorf("another tenant lists %d adapters (%v); want none", len(other), err)
	}
	if _, _, err := e.reg.Open(ctx, "tnt_other", "support-lora", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("another tenant opens the adapter: %v; want ErrNotFound", err)
	}
	if got := e.audit.Reasons(); strings.Join(got, ",") != "adapter.create,adapter.create,adapter.create" {
		t.Errorf("audit %v; want three creations (opening is not an export)", got)
	}
	if r := e.audit.Records()[0]; r.Kind != KindAdapter || r.Tenant != e.ten.ID || r.Detail["adapter"] != "support-lora@1" ||
		r.Detail["dataset_hash"] != dv.ContentHash() || r.Node != "node-1" || r.Jurisdiction != "KE" {
		t.Errorf("creation record %+v", r)
	}
}

// Nothing half-written is registered: every refusal leaves the tables as
// they were, and the number is not taken by a failed attempt.
func TestCreateRefusals(t *testing.T) {
	ctx := context.Background()
	good := testfixture.AdapterFile(t, "llama", 1)
	baseModel := func() []byte {
		w := gguf.NewWriter()
		w.SetKV("general.architecture", "llama")
		if err := w.AddTensor("blk.0.attn_q.weight", tensor.F32, []int64{1}, make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		w.WriteTo(&buf)
		return buf.Bytes()
	}()
	for _, tc := range []struct {
		name   string
		pol    tenant.Policy
		setup  func(*env)
		meta   func(*Meta)
		file   []byte
		aname  string
		want   error
		substr string
	}{
		{name: "another home", pol: tenant.Policy{Jurisdictions: []string{"NG"}, Home: "NG"}, want: ErrNotHome, substr: "NG"},
		{name: "a corrupt file", file: good[:len(good)/2], want: ErrInvalid, substr: "adapter file"},
		{name: "a base model", file: baseModel, want: ErrInvalid, substr: "general.type"},
		{name: "another architecture", meta: func(m *Meta) { m.Base.Arch = "qwen2" }, want: ErrBaseMismatch, substr: "qwen2"},
		{name: "no digest", meta: func(m *Meta) { m.Base.Digest = "" }, want: ErrInvalid, substr: "SHA-256"},
		{name: "bad metrics", meta: func(m *Meta) { m.Metrics = json.RawMessage(`{`) }, want: ErrInvalid, substr: "metrics"},
		{name: "bad name", aname: "../x", want: ErrInvalid, substr: "adapter name"},
		{name: "no such dataset", meta: func(m *Meta) { m.Dataset.Name = "nope" }, want: dataset.ErrNotFound},
		{name: "audit down", setup: func(e *env) { e.audit.Fail(audit.ErrUnavailable) }, want: audit.ErrUnavailable},
		{name: "key shredded", setup: func(e *env) {
			e.reg.cfg.EnsureKey = nil
			if err := e.capture.DeleteTenantKey(ctx, e.ten.ID); err != nil {
				t.Fatal(err)
			}
		}, substr: "seal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.pol)
			e.build(t, 3)
			if tc.setup != nil {
				tc.setup(e)
			}
			m := e.meta()
			if tc.meta != nil {
				tc.meta(&m)
			}
			file, name := good, "lora"
			if tc.file != nil {
				file = tc.file
			}
			if tc.aname != "" {
				name = tc.aname
			}
			v, err := e.reg.Create(ctx, e.ten, name, m, file)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.substr) {
				t.Fatalf("create: %+v, %v; want %v naming %q", v, err, tc.want, tc.substr)
			}
			if n, l := e.count(t); n != 0 || l != 0 {
				t.Errorf("after the refusal: %d versions, %d lineage rows; want none", n, l)
			}
			for _, r := range e.audit.Records() {
				if r.Reason == "adapter.create" {
					t.Errorf("refused, yet audited as created: %+v", r)
				}
			}
			// Once the cause is gone, the next registration is version 1.
			e.audit.Fail(nil)
			e.reg.cfg.EnsureKey = e.capture.EnsureKey
			e.build(t, 3) // readable again under a new key after a shred
			if v, err := e.reg.Create(ctx, tenant.Tenant{ID: e.ten.ID, Name: e.ten.Name}, "lora", e.meta(), good); err != nil || v.Version != 1 {
				t.Errorf("then: %+v, %v; want version 1", v, err)
			}
		})
	}
}

func TestCreateWithoutSealerRefuses(t *testing.T) {
	e := newEnv(t, tenant.Policy{})
	e.reg.SetSealer(nil, nil)
	if _, err := e.reg.Create(context.Background(), e.ten, "lora", Meta{Base: Base{Digest: baseDigest}}, testfixture.AdapterFile(t, "llama", 1)); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Errorf("create without a sealer: %v; want a refusal", err)
	}
}

func TestShredLeavesAdaptersUnreadable(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tenant.Policy{})
	e.build(t, 3)
	if _, err := e.reg.Create(ctx, e.ten, "lora", e.meta(), testfixture.AdapterFile(t, "llama", 1)); err != nil {
		t.Fatal(err)
	}
	if err := e.capture.DeleteTenantKey(ctx, e.ten.ID); err != nil {
		t.Fatal(err)
	}
	if b, _, err := e.reg.Open(ctx, e.ten.ID, "lora", 1); err == nil || !errors.Is(err, capture.ErrKeyDeleted) {
		t.Errorf("after the shred: %d bytes, %v; want ErrKeyDeleted", len(b), err)
	}
	var buf bytes.Buffer
	if _, err := e.reg.Export(ctx, e.ten.ID, "lora", 1, &buf); err == nil || buf.Len() > 0 {
		t.Errorf("export after the shred: %d bytes, %v; want an error and nothing written", buf.Len(), err)
	}
	// Its lineage is still listed: the version exists, its bytes do not open.
	if l, err := e.reg.List(ctx, e.ten.ID); err != nil || len(l) != 1 {
		t.Errorf("list after the shred: %v, %v", l, err)
	}
}

func TestExportRetireDelete(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tenant.Policy{})
	e.build(t, 3)
	files := [][]byte{testfixture.AdapterFile(t, "llama", 1), testfixture.AdapterFile(t, "llama", 2)}
	for _, f := range files {
		if _, err := e.reg.Create(ctx, e.ten, "lora", e.meta(), f); err != nil {
			t.Fatal(err)
		}
	}
	e.audit.Take()

	e.audit.Fail(audit.ErrUnavailable)
	var buf bytes.Buffer
	if _, err := e.reg.Export(ctx, e.ten.ID, "lora", 1, &buf); !errors.Is(err, audit.ErrUnavailable) || buf.Len() != 0 {
		t.Errorf("export with the audit log down: %d bytes, %v; want nothing and ErrUnavailable", buf.Len(), err)
	}
	if err := e.reg.Delete(ctx, e.ten.ID, "lora", 1); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("delete with the audit log down: %v", err)
	}
	e.audit.Fail(nil)
	if v, err := e.reg.Export(ctx, e.ten.ID, "lora", 1, &buf); err != nil || v.Version != 1 || !bytes.Equal(buf.Bytes(), files[0]) {
		t.Errorf("export: %d bytes, %v", buf.Len(), err)
	}

	if err := e.reg.Retire(ctx, e.ten.ID, "lora", 2); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Retire(ctx, e.ten.ID, "lora", 2); err != nil {
		t.Errorf("retiring again: %v", err)
	}
	if v, err := e.reg.Get(ctx, e.ten.ID, "lora", 0); err != nil || v.Version != 1 {
		t.Errorf("latest after retiring 2: %+v, %v; want version 1", v, err)
	}
	if v, err := e.reg.Get(ctx, e.ten.ID, "lora", 2); err != nil || v.State != StateRetired || v.RetiredAt.IsZero() {
		t.Errorf("retired version: %+v, %v", v, err)
	}
	if err := e.reg.Delete(ctx, e.ten.ID, "lora", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := e.reg.Get(ctx, e.ten.ID, "lora", 0); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "retired") {
		t.Errorf("latest with only a retired version left: %v; want ErrNotFound saying so", err)
	}
	if err := e.reg.Delete(ctx, e.ten.ID, "lora", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting again: %v; want ErrNotFound", err)
	}
	if err := e.reg.Delete(ctx, e.ten.ID, "lora", 0); err != nil {
		t.Fatal(err)
	}
	if n, l := e.count(t); n != 0 || l != 0 {
		t.Errorf("after deleting every version: %d versions, %d lineage rows", n, l)
	}
	// Numbers are never handed out again.
	if v, err := e.reg.Create(ctx, e.ten, "lora", e.meta(), files[0]); err != nil || v.Version != 3 {
		t.Errorf("after deletions: %+v, %v; want version 3", v, err)
	}
	if err := e.reg.Retire(ctx, e.ten.ID, "lora", 0); err != nil {
		t.Fatal(err)
	}
	if l, err := e.reg.List(ctx, e.ten.ID); err != nil || len(l) != 1 || l[0].State != StateRetired {
		t.Errorf("after retiring every version: %+v, %v", l, err)
	}
	want := "adapter.export,adapter.retire,adapter.delete,adapter.delete,adapter.create,adapter.retire"
	if got := strings.Join(e.audit.Reasons(), ","); got != want {
		t.Errorf("audit %s; want %s", got, want)
	}
}

func TestMarkErased(t *testing.T) {
	ctx := context.Background()
	for _, retire := range []bool{false, true} {
		t.Run(fmt.Sprint("retire=", retire), func(t *testing.T) {
			e := newEnv(t, tenant.Policy{RetireErasedAdapters: retire})
			e.build(t, 3) // support v1: resp-0..2
			if _, err := e.reg.Create(ctx, e.ten, "a", e.meta(), testfixture.AdapterFile(t, "llama", 1)); err != nil {
				t.Fatal(err)
			}
			e.build(t, 5) // support v2: resp-0..4
			if _, err := e.reg.Create(ctx, e.ten, "b", e.meta(), testfixture.AdapterFile(t, "llama", 2)); err != nil {
				t.Fatal(err)
			}
			e.audit.Take()
			e.clock.Add(time.Hour)
			marked, err := e.reg.MarkErased(ctx, e.ten.ID, []string{"resp-4", "unknown"})
			if err != nil || len(marked) != 1 || marked[0].Ref() != "b@1" {
				t.Fatalf("mark resp-4: %v, %v; want b@1 only", marked, err)
			}
			if marked, err = e.reg.MarkErased(ctx, e.ten.ID, []string{"resp-1", "resp-4"}); err != nil || len(marked) != 1 || marked[0].Ref() != "a@1" {
				t.Fatalf("mark resp-1: %v, %v; want a@1 only (b@1 was marked already)", marked, err)
			}
			if marked, _ := e.reg.MarkErased(ctx, "tnt_other", []string{"resp-1"}); len(marked) != 0 {
				t.Errorf("another tenant's erasure marked %v", marked)
			}
			list, err := e.reg.List(ctx, e.ten.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantState := StateActive
			if retire {
				wantState = StateRetired
			}
			for _, v := range list {
				if !v.ErasedData || !v.ErasedAt.Equal(e.clock.Now().UTC()) || v.State != wantState {
					t.Errorf("%s: erased %v at %v, state %s; want marked now, %s", v.Ref(), v.ErasedData, v.ErasedAt, v.State, wantState)
				}
			}
			recs := e.audit.Records()
			if len(recs) != 2 || recs[0].Reason != "adapter.erased_data" || recs[0].Detail["retired"] != fmt.Sprint(retire) {
				t.Errorf("audit %+v; want two erasure marks", recs)
			}
		})
	}
}

// An erasure that reached the dataset while the adapter trained (its hash
// no longer matches) marks the adapter when it is registered.
func TestCreateAfterErasureMarks(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, tenant.Policy{RetireErasedAdapters: true})
	dv := e.build(t, 4)
	if _, err := e.datasets.RemoveResponses(ctx, e.ten.ID, []string{"resp-2"}); err != nil {
		t.Fatal(err)
	}
	m := e.meta()
	m.Dataset = DatasetRef{Name: "support", Version: dv.Version, Hash: dv.ContentHash()}
	v, err := e.reg.Create(ctx, e.ten, "lora", m, testfixture.AdapterFile(t, "llama", 1))
	if err != nil {
		t.Fatal(err)
	}
	if !v.ErasedData || v.State != StateRetired || v.Dataset.Hash != dv.ContentHash() {
		t.Errorf("registered %+v; want marked, retired by the policy, with the hash trained on", v)
	}
}

func TestParseRefAndCheckBase(t *testing.T) {
	for _, tc := range []struct {
		in      string
		name    string
		version int
		bad     bool
	}{
		{"lora", "lora", 0, false}, {"lora@3", "lora", 3, false}, {"lora@0", "", 0, true}, {"lora@x", "", 0, true},
		{"lora@03", "", 0, true}, {"@2", "", 0, true}, {"a/b", "", 0, true}, {"lora@1@2", "", 0, true},
	} {
		name, version, err := ParseRef(tc.in)
		if (err != nil) != tc.bad || name != tc.name || version != tc.version {
			t.Errorf("ParseRef(%q) = %q, %d, %v", tc.in, name, version, err)
		}
	}
	v := &Version{Name: "lora", Version: 2, Base: Base{Name: "stories260k", Digest: baseDigest, Arch: "llama"}}
	for _, tc := range []struct {
		digest, arch string
		ok           bool
	}{{baseDigest, "llama", true}, {strings.ToUpper(baseDigest), "", true}, {strings.Repeat("cd", 32), "llama", false}, {baseDigest, "qwen2", false}} {
		err := v.CheckBase(tc.digest, tc.arch)
		if (err == nil) != tc.ok || (err != nil && (!errors.Is(err, ErrBaseMismatch) || !strings.Contains(err.Error(), "lora@2"))) {
			t.Errorf("CheckBase(%.8s, %q) = %v", tc.digest, tc.arch, err)
		}
	}
}

// TestOnRetire: every way a version leaves service tells Config.OnRetire,
// once it has committed; the hook's error is returned and the change
// stands, and retiring again retries the hook.
func TestOnRetire(t *testing.T) {
	ctx := context.Background()
	type call struct {
		tenant, name string
		version      int
	}
	for _, tc := range []struct {
		name   string
		policy tenant.Policy
		do     func(e *env) error
		want   []call // the tenant is the env's
	}{
		{name: "retire", do: func(e *env) error { return e.reg.Retire(ctx, e.ten.ID, "a", 1) }, want: []call{{"", "a", 1}}},
		{name: "retire every version", do: func(e *env) error { return e.reg.Retire(ctx, e.ten.ID, "a", 0) }, want: []call{{"", "a", 0}}},
		{name: "delete", do: func(e *env) error { return e.reg.Delete(ctx, e.ten.ID, "a", 1) }, want: []call{{"", "a", 1}}},
		{name: "erasure retiring", policy: tenant.Policy{RetireErasedAdapters: true},
			do: func(e *env) error { _, err := e.reg.MarkErased(ctx, e.ten.ID, []string{"resp-1"}); return err }, want: []call{{"", "a", 1}}},
		{name: "erasure only marking",
			do: func(e *env) error { _, err := e.reg.MarkErased(ctx, e.ten.ID, []string{"resp-1"}); return err }},
		{name: "no such version", do: func(e *env) error {
			if err := e.reg.Retire(ctx, e.ten.ID, "a", 9); !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("retiring a@9: %v", err)
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.policy)
			var calls []call
			e.reg.cfg.OnRetire = func(_ context.Context, tenantID, name string, version int) error {
				calls = append(calls, call{strings.Replace(tenantID, e.ten.ID, "", 1), name, version})
				return nil
			}
			e.build(t, 3)
			if _, err := e.reg.Create(ctx, e.ten, "a", e.meta(), testfixture.AdapterFile(t, "llama", 1)); err != nil {
				t.Fatal(err)
			}
			if err := tc.do(e); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(calls, tc.want) {
				t.Errorf("OnRetire calls %v, want %v", calls, tc.want)
			}
		})
	}

	e := newEnv(t, tenant.Policy{})
	e.build(t, 3)
	if _, err := e.reg.Create(ctx, e.ten, "a", e.meta(), testfixture.AdapterFile(t, "llama", 1)); err != nil {
		t.Fatal(err)
	}
	fail := errors.New("the audit log is down")
	e.reg.cfg.OnRetire = func(context.Context, string, string, int) error { return fail }
	if err := e.reg.Retire(ctx, e.ten.ID, "a", 1); !errors.Is(err, fail) || !strings.Contains(err.Error(), "retire it again") {
		t.Fatalf("a failing hook: %v", err)
	}
	if v, err := e.reg.Get(ctx, e.ten.ID, "a", 1); err != nil || v.State != StateRetired {
		t.Fatalf("the retirement did not stand: %+v, %v", v, err)
	}
	var again int
	e.reg.cfg.OnRetire = func(context.Context, string, string, int) error { again++; return nil }
	if err := e.reg.Retire(ctx, e.ten.ID, "a", 1); err != nil || again != 1 {
		t.Fatalf("retiring again: %v, %d hook calls", err, again)
	}
}
