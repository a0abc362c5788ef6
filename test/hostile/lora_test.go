package hostile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/test/fleet"
)

// loraAttacks are requests that pick LoRA adapters in ways that,
// unchecked, allocate by a client's number, poison a batch with a NaN
// scale or reach another's adapter. Each gets a clear 4xx.
var loraAttacks = []struct {
	name, body string
	want       int
	says       string
}{
	{"lora not a list", `{"model":"stories260k","lora":7,"messages":[{"role":"user","content":"hi"}]}`, 400, "'lora'"},
	{"lora of 100 entries", `{"model":"stories260k","lora":[` + loraEntries(100) + `],"messages":[{"role":"user","content":"hi"}]}`, 400, "more than 64"},
	{"lora id 1e300", `{"model":"stories260k","lora":[{"id":1e300,"scale":1}],"messages":[{"role":"user","content":"hi"}]}`, 400, "lora[0].id"},
	{"lora id MaxInt64", `{"model":"stories260k","lora":[{"id":9223372036854775807}],"messages":[{"role":"user","content":"hi"}]}`, 400, "lora[0].id"},
	{"lora id of no adapter", `{"model":"stories260k","lora":[{"id":1}],"messages":[{"role":"user","content":"hi"}]}`, 400, "no LoRA adapter has id 1"},
	{"lora scale NaN", `{"model":"stories260k","lora":[{"id":0,"scale":NaN}],"messages":[{"role":"user","content":"hi"}]}`, 400, "not valid JSON"},
	{"lora scale 1e39", `{"model":"stories260k","lora":[{"id":0,"scale":1e39}],"messages":[{"role":"user","content":"hi"}]}`, 400, "lora[0].scale"},
	{"lora on an adapter's name", `{"model":"stories260k:tale","lora":[],"messages":[{"role":"user","content":"hi"}]}`, 400, "lora"},
	{"a name of 250 colons", `{"model":"` + strings.Repeat(":", 250) + `","messages":[{"role":"user","content":"hi"}]}`, 404, "model_not_found"},
	{"a version of 30 digits", `{"model":"stories260k:tale@999999999999999999999999999999","messages":[{"role":"user","content":"hi"}]}`, 404, "model_not_found"},
	{"another tenant's adapter name", `{"model":"stories260k:theirs@1","messages":[{"role":"user","content":"hi"}]}`, 404, "model_not_found"},
	{"embeddings with an adapter", `{"model":"stories260k:tale","input":"hi"}`, 400, "LoRA"},
}

func loraEntries(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf(`{"id":%d,"scale":1}`, i)
	}
	return strings.Join(s, ",")
}

// TestHostileLoRA: against a real node serving an adapter: every bad
// pick is a 4xx naming it; vLLM's load endpoint is an admin's, takes
// only readable adapter files and at most a few hundred of them; and a
// flood of loads and of requests for hundreds of distinct adapters
// leaves the node's memory bounded.
func TestHostileLoRA(t *testing.T) {
	dir := t.TempDir()
	key := Tenant(t, dir, "acme")
	admin := strings.TrimSpace(Hearth(t, "keys", "create", "--tenant", "acme", "--scopes", "inference,admin", "--data-dir", dir))
	lora := testfixture.AdapterFor(t, fleet.ModelFile(t), 1, 4)
	n := Start(t, dir, "--lora", lora)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	auth := func(k string) []string { return []string{"Authorization", "Bearer " + k} }
	for _, a := range loraAttacks {
		path := "/v1/chat/completions"
		if strings.Contains(a.body, `"input"`) {
			path = "/v1/embeddings"
		}
		status, body, err := n.Post(ctx, path, strings.Replace(a.body, ":tale", ":"+strings.TrimSuffix(baseName(lora), ".gguf"), 1), auth(key)...)
		if err != nil {
			t.Fatalf("%s: %v", a.name, err)
		}
		if status != a.want || !strings.Contains(body, a.says) {
			t.Errorf("%s: %d %.300s; want %d saying %q", a.name, status, body, a.want, a.says)
		}
		n.MustBeAlive()
	}

	load := func(k, name, path string) (int, string) {
		status, body, err := n.Post(ctx, "/v1/load_lora_adapter", fmt.Sprintf(`{"lora_name":%q,"lora_path":%q}`, name, path), auth(k)...)
		if err != nil {
			t.Fatal(err)
		}
		return status, body
	}
	if status, body := load(key, "x", lora); status != 403 {
		t.Errorf("an inference key loads an adapter: %d %s", status, body)
	}
	for _, bad := range []struct{ name, path, says string }{
		{"x", "/etc/passwd", "not a LoRA adapter"},
		{"x", "/proc/self/environ", "not a LoRA adapter"},
		{"x", fleet.ModelFile(t), "not a LoRA adapter"},
		{"x", dir, "not a readable adapter"},
		{"x", "/nonexistent/a.gguf", "not a readable adapter"},
		{"a:b", lora, "adapter name"},
		{strings.Repeat("n", 300), lora, "lora_name"},
		{"x", strings.Repeat("/a", 3000), "lora_path"},
	} {
		if status, body := load(admin, bad.name, bad.path); status != 400 || !strings.Contains(body, bad.says) {
			t.Errorf("loading %.40s from %.40s: %d %.300s; want a 400 saying %q", bad.name, bad.path, status, body, bad.says)
		}
	}
	before, _, _ := n.PeakRSS()
	loaded := 0
	for i := range 1000 {
		status, body := load(admin, fmt.Sprintf("n%d", i), lora)
		switch {
		case status == 200:
			loaded++
		case status != 400 || !strings.Contains(body, "the most this node takes"):
			t.Fatalf("load %d: %d %s", i, status, body)
		}
	}
	if loaded > 300 {
		t.Errorf("%d adapters loaded", loaded)
	}
	for i := range loaded {
		status, body, err := n.Post(ctx, "/v1/chat/completions", fmt.Sprintf(`{"model":"n%d","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`, i), auth(key)...)
		if err != nil || status != 200 {
			t.Fatalf("request for adapter n%d: %d %v %s", i, status, err, body)
		}
	}
	n.MustBeAlive()
	peak, _, err := n.PeakRSS()
	if err != nil {
		t.Skipf("no RSS to check: %v", err)
	}
	t.Logf("%d adapters loaded and used: peak RSS %d MiB, %d MiB before", loaded, peak>>20, before>>20)
	if peak-before > 256<<20 {
		t.Errorf("peak RSS grew by %d MiB", (peak-before)>>20)
	}
}

func baseName(path string) string { return path[strings.LastIndexByte(path, '/')+1:] }

// TestHostileLoRAAdminLeaks: the admin endpoints that change a node's
// adapters keep what the audit log and an error hold to what was done.
// A POST /lora-adapters padded with megabytes of unknown fields used to
// be audited whole (the body, verbatim), and a refused
// /v1/load_lora_adapter quoted the named file's first bytes, a secret's
// included.
func TestHostileLoRAAdminLeaks(t *testing.T) {
	dir := t.TempDir()
	Tenant(t, dir, "acme")
	admin := strings.TrimSpace(Hearth(t, "keys", "create", "--tenant", "acme", "--scopes", "inference,admin", "--data-dir", dir))
	n := Start(t, dir, "--lora", testfixture.AdapterFor(t, fleet.ModelFile(t), 1, 4))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	auth := []string{"Authorization", "Bearer " + admin}

	size := fileSize(t, segment(t, dir))
	pad := strings.Repeat("A", 2<<20)
	status, body, err := n.Post(ctx, "/lora-adapters", `[{"id":0,"scale":0.5,"pad":"`+pad+`"}`+strings.Repeat(" ", 1<<20)+`]`, auth...)
	if err != nil || status != 200 || !strings.Contains(body, `"scale":0.5`) {
		t.Fatalf("padded POST /lora-adapters: %d %v %.300s", status, err, body)
	}
	// The scales change is audited (within seconds), and small.
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, segment(t, dir)) == size && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if grew := fileSize(t, segment(t, dir)) - size; grew == 0 || grew > 16<<10 {
		t.Errorf("the audit log grew by %d bytes for one scales change", grew)
	}

	secret := filepath.Join(t.TempDir(), "key.gguf")
	if err := os.WriteFile(secret, []byte("TOPSECRET material"), 0o600); err != nil {
		t.Fatal(err)
	}
	status, body, err = n.Post(ctx, "/v1/load_lora_adapter", fmt.Sprintf(`{"lora_name":"x","lora_path":%q}`, secret), auth...)
	if err != nil || status != 400 || !strings.Contains(body, "not a LoRA adapter") || strings.Contains(body, "TOPS") {
		t.Errorf("loading a secret file: %d %v %.300s; want a 400 that quotes none of it", status, err, body)
	}
	// A sparse 2 GB file whose header claims 89 million tensors: refused
	// at once, without the gigabytes its count once cost.
	sparse := filepath.Join(t.TempDir(), "sparse.gguf")
	hdr := []byte("GGUF\x03\x00\x00\x00\x4a\x55\x55\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	if err := os.WriteFile(sparse, hdr, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sparse, 2<<30); err != nil {
		t.Fatal(err)
	}
	before, _, _ := n.PeakRSS()
	status, body, err = n.Post(ctx, "/v1/load_lora_adapter", fmt.Sprintf(`{"lora_name":"x","lora_path":%q}`, sparse), auth...)
	if err != nil || status != 400 {
		t.Errorf("loading a sparse file: %d %v %.300s; want a 400", status, err, body)
	}
	if peak, _, err := n.PeakRSS(); err == nil && peak-before > 256<<20 {
		t.Errorf("loading a sparse file grew the peak RSS by %d MiB", (peak-before)>>20)
	}
	n.MustBeAlive()
	n.Stop()
	if out, stderr, err := HearthErr(t, "audit", "verify", "--data-dir", dir); err != nil {
		t.Errorf("audit verify: %v\n%s%s", err, out, stderr)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}
