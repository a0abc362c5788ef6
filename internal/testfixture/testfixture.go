// Package testfixture holds the fixtures that the tests of several
// packages share, as net/http/httptest does for HTTP: an in-memory audit
// log, a node's stores (database, tenants, meter, identity and audit log)
// opened in a test's temporary directory, an HTTP test server that can
// wait for its handlers, a poll for a state to come about, a small LoRA
// adapter file, a node's fleet certificate (Certify) and the round trip
// of a wire format's golden frames (Frames). Only tests import it.
//
// It imports tenant, metering, audit and fabric, so those packages' own
// (in-package) tests cannot use it; the settable clock they share is in
// internal/testclock.
package testfixture

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/tensor"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/metering"
	"github.com/hearth-ai/hearth/tenant"
)

// Audit is an audit appender that keeps in memory what it is given, or
// refuses it with the error set by Fail. Safe for concurrent use; the zero
// Audit records.
type Audit struct {
	mu   sync.Mutex
	recs []audit.Record
	err  error
}

// Append keeps r, or returns the error set by Fail.
func (a *Audit) Append(_ context.Context, r audit.Record) (audit.Record, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return audit.Record{}, a.err
	}
	a.recs = append(a.recs, r)
	return r, nil
}

// Fail makes every Append until the next Fail refuse with err, as an audit
// log that cannot make records durable does; Fail(nil) records again.
func (a *Audit) Fail(err error) {
	a.mu.Lock()
	a.err = err
	a.mu.Unlock()
}

// Records returns a copy of the records kept.
func (a *Audit) Records() []audit.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]audit.Record(nil), a.recs...)
}

// Take returns the records kept and forgets them.
func (a *Audit) Take() []audit.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.recs
	a.recs = nil
	return out
}

// Reasons returns each kept record's Reason, in order.
func (a *Audit) Reasons() []string {
	var out []string
	for _, r := range a.Records() {
		out = append(out, r.Reason)
	}
	return out
}

// JSON returns the kept records as one JSON array.
func (a *Audit) JSON(t testing.TB) string {
	t.Helper()
	b, err := json.Marshal(a.Records())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Env is what a node keeps in its data directory: the database, the
// tenant store, the meter, the node's identity and its audit log.
type Env struct {
	Dir     string
	DB      *db.DB
	Tenants *tenant.Store
	Meter   *metering.Meter
	ID      *identity.Identity
	Audit   *audit.Log
}

// NewEnv opens an Env in a new temporary directory of t, on the clock now
// (nil: time.Now), with an audit log that syncs every record. It is closed
// when the test ends, after every cleanup registered after it.
func NewEnv(t testing.TB, now func() time.Time) *Env {
	t.Helper()
	ctx := context.Background()
	e := &Env{Dir: t.TempDir()}
	var err error
	if e.DB, err = db.OpenDir(e.Dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.DB.Close() })
	if e.Tenants, err = tenant.Open(ctx, e.DB, now); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Tenants.Close() })
	if e.Meter, err = metering.Open(ctx, e.DB, now); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Meter.Close() })
	if e.ID, err = identity.LoadOrCreate(e.Dir); err != nil {
		t.Fatal(err)
	}
	if e.Audit, err = audit.Open(filepath.Join(e.Dir, "audit"), e.ID, audit.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Audit.Close() })
	return e
}

// Tenant creates tn and a key for it with opts; it returns the key's
// secret and the tenant as stored.
func (e *Env) Tenant(t testing.TB, tn tenant.Tenant, opts tenant.KeyOptions) (string, tenant.Tenant) {
	t.Helper()
	ctx := context.Background()
	tn, err := e.Tenants.CreateTenant(ctx, tn)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := e.Tenants.CreateKey(ctx, tn.Name, opts)
	if err != nil {
		t.Fatal(err)
	}
	return secret, tn
}

// Server is an httptest.Server that can wait for the requests it is
// still handling: a client has its answer before the handler's work after
// the response (metering, audit, capture) is done.
type Server struct {
	*httptest.Server
	handling sync.WaitGroup
}

// NewServer serves h until the test ends.
func NewServer(t testing.TB, h http.Handler) *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.handling.Add(1)
		defer s.handling.Done()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// Wait waits until no request is being handled.
func (s *Server) Wait() { s.handling.Wait() }

// WaitFor polls cond every few milliseconds until it holds, failing the
// test if it does not within five seconds; what names the awaited state in
// the failure.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// AdapterFile is a small llama.cpp LoRA adapter GGUF for arch: rank 2 on
// blk.0's q projection of a 4-wide model, its values seeded by seed (so
// two seeds give two files).
func AdapterFile(t testing.TB, arch string, seed float32) []byte {
	t.Helper()
	w := gguf.NewWriter()
	w.SetKV("general.architecture", arch)
	w.SetKV("general.type", "adapter")
	w.SetKV("adapter.type", "lora")
	w.SetKV("adapter.lora.alpha", float32(4))
	vals := make([]byte, 4*8)
	for i := range 8 {
		binary.LittleEndian.PutUint32(vals[4*i:], math.Float32bits(seed+float32(i)/8))
	}
	for _, name := range []string{"blk.0.attn_q.weight.lora_a", "blk.0.attn_q.weight.lora_b"} {
		shape := []int64{4, 2}
		if strings.HasSuffix(name, "_b") {
			shape = []int64{2, 4}
		}
		if err := w.AddTensor(name, tensor.F32, shape, vals); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// AuditRecords reads the audit log in dir (a node's DATA/audit), whose
// writer the caller has closed, as its records.
func AuditRecords(t testing.TB, dir string) []audit.Record {
	t.Helper()
	var sb strings.Builder
	if _, err := audit.Export(dir, &sb, 0, 0); err != nil {
		t.Fatal(err)
	}
	var recs []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(sb.String()), "\n") {
		var r audit.Record
		if json.Unmarshal([]byte(line), &r) == nil {
			recs = append(recs, r)
		}
	}
	return recs
}
