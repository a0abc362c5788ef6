package runner_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/sample"
	"github.com/hearth-ai/hearth/engine/sched"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/runner"
)

// generate runs a greedy completion of "Lily" on m; each token is
// passed to during as it comes.
func generate(t *testing.T, m api.Model, during func(i int)) []int32 {
	t.Helper()
	var got []int32
	_, err := m.Generate(context.Background(), engine.Request{Prompt: m.Tokenize("Lily", true, false), MaxTokens: 24,
		Sampling: sample.Params{Temperature: 0}, IgnoreEOS: true}, func(tok engine.Token) error {
		if tok.ID >= 0 {
			got = append(got, tok.ID)
			if during != nil {
				during(len(got))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// greedyOf acquires name (with lora, unless nil) and generates.
func greedyOf(t *testing.T, r *runner.Runner, name string, lora []api.LoRA) []int32 {
	t.Helper()
	var m api.Model
	var release func()
	var err error
	if lora == nil {
		m, release, err = r.Acquire(context.Background(), name)
	} else {
		m, release, err = r.AcquireLoRA(context.Background(), name, lora)
	}
	if err != nil {
		t.Fatalf("acquire %s: %v", name, err)
	}
	defer release()
	return generate(t, m, nil)
}

// TestAdapterStreamSurvivesUnload: a stream running with a published
// adapter keeps going, to the same tokens, while the adapter is
// unloaded under it, and a base request batched beside it is untouched;
// after the unload the name is unknown.
func TestAdapterStreamSurvivesUnload(t *testing.T) {
	r := newRunner(t, runner.Config{Files: []string{stories}, Sched: sched.Config{StepDelay: 2 * time.Millisecond}})
	ctx := context.Background()
	if err := r.LoadLoRA(ctx, "tale", testfixture.AdapterFor(t, stories, 1, 4)); err != nil {
		t.Fatal(err)
	}
	base := greedyOf(t, r, "stories260k", nil)
	want := greedyOf(t, r, "stories260k:tale", nil)
	if slices.Equal(base, want) {
		t.Fatalf("the adapter does not change the output %v", base)
	}
	if bare := greedyOf(t, r, "tale", nil); !slices.Equal(bare, want) {
		t.Errorf("vLLM's bare name: %v, want %v", bare, want)
	}

	m, release, err := r.Acquire(ctx, "stories260k:tale")
	if err != nil {
		t.Fatal(err)
	}
	if info := m.Info(); info.Name != "stories260k:tale" || info.Base != "stories260k" {
		t.Errorf("served as %q on %q", info.Name, info.Base)
	}
	// A published adapter is nobody's: no tenant to key it by.
	if got := r.AdapterKeys(tenantTagged); !slices.Equal(got, []string{"|stories260k:tale"}) {
		t.Errorf("AdapterKeys() = %v", got)
	}
	var wg sync.WaitGroup
	var beside []int32
	wg.Go(func() { beside = greedyOf(t, r, "stories260k", nil) })
	got := generate(t, m, func(i int) {
		if i == 3 {
			if err := r.UnloadLoRA(ctx, "tale"); err != nil {
				t.Error(err)
			}
		}
	})
	release()
	wg.Wait()
	if !slices.Equal(got, want) {
		t.Errorf("a stream whose adapter was unloaded gave %v, want %v", got, want)
	}
	if !slices.Equal(beside, base) {
		t.Errorf("the base beside it gave %v, want %v", beside, base)
	}
	if _, _, err := r.Acquire(ctx, "stories260k:tale"); !errors.Is(err, api.ErrModelNotFound) {
		t.Errorf("an unloaded adapter: %v", err)
	}
	if err := r.UnloadLoRA(ctx, "tale"); !errors.Is(err, api.ErrModelNotFound) {
		t.Errorf("unloading twice: %v", err)
	}
}

type tenantKey struct{}

// tenantTagged is an AdapterKeys key function that shows the tenant.
func tenantTagged(tenant, served string) []string { return []string{tenant + "|" + served} }

// fakeAdapters is a registry by tenant: name -> (version, file, digest
// of the base it was trained on).
type fakeAdapters map[string]map[string]fakeVersion

type fakeVersion struct {
	version int
	path    string
	digest  string
}

func (f fakeAdapters) Find(ctx context.Context, ref string, base runner.Base) (runner.FoundAdapter, error) {
	tenant, _ := ctx.Value(tenantKey{}).(string)
	name, _, _ := strings.Cut(ref, "@")
	v, ok := f[tenant][name]
	if !ok || (strings.Contains(ref, "@") && ref != fmt.Sprintf("%s@%d", name, v.version)) {
		return runner.FoundAdapter{}, fmt.Errorf("%w: no adapter %q", api.ErrModelNotFound, ref)
	}
	if v.digest != base.Digest {
		return runner.FoundAdapter{}, fmt.Errorf("%w: %s was trained on another base than %s", api.ErrInvalidModel, ref, base.Name)
	}
	ref = fmt.Sprintf("%s@%d", name, v.version)
	return runner.FoundAdapter{Name: ref, Key: tenant + "/" + ref, Tenant: tenant,
		Open: func(context.Context) (*adapter.Adapter, error) { return adapter.Read(v.path) }}, nil
}

func (f fakeAdapters) List(ctx context.Context) ([]runner.ListedAdapter, error) {
	tenant, _ := ctx.Value(tenantKey{}).(string)
	var out []runner.ListedAdapter
	for name, v := range f[tenant] {
		out = append(out, runner.ListedAdapter{Name: fmt.Sprintf("%s@%d", name, v.version), Base: runner.Base{Name: "stories260k", Digest: v.digest}})
	}
	return out, nil
}

func (f fakeAdapters) Has(ctx context.Context, name string) (bool, error) {
	tenant, _ := ctx.Value(tenantKey{}).(string)
	_, ok := f[tenant][name]
	return ok, nil
}

// storiesDigest is the hex SHA-256 of the test model's file.
func storiesDigest(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(stories)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// TestAdapterSources: a tenant's adapters are served to it under their
// resolved names and listed for it; another tenant's, an unknown one
// and one for another base are refused before anything loads.
func TestAdapterSources(t *testing.T) {
	path := testfixture.AdapterFor(t, stories, 2, 4)
	digest := storiesDigest(t)
	src := fakeAdapters{
		"acme":  {"support": {version: 2, path: path, digest: digest}, "elsewhere": {version: 1, path: path, digest: "00ff"}},
		"other": {"theirs": {version: 1, path: path, digest: digest}},
	}
	r := newRunner(t, runner.Config{Files: []string{stories}, Adapters: src})
	acme := context.WithValue(context.Background(), tenantKey{}, "acme")
	for _, c := range []struct {
		name string
		want error
	}{
		{"stories260k:theirs", api.ErrModelNotFound},
		{"stories260k:nope", api.ErrModelNotFound},
		{"stories260k:support@7", api.ErrModelNotFound},
		{"stories260k:elsewhere", api.ErrInvalidModel},
		{"nomodel:support", api.ErrModelNotFound},
		{"stories260k:", api.ErrModelNotFound},
		{strings.Repeat(":", 200), api.ErrModelNotFound},
	} {
		if _, _, err := r.Acquire(acme, c.name); !errors.Is(err, c.want) {
			t.Errorf("%q: %v, want %v", c.name, err, c.want)
		}
	}
	if loaded := r.Loaded(); len(loaded) != 0 {
		t.Errorf("refused adapters loaded %v", loaded)
	}
	for _, name := range []string{"stories260k:support", "stories260k:support@2", "STORIES260K:support"} {
		m, release, err := r.Acquire(acme, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if info := m.Info(); info.Name != "stories260k:support@2" || info.Base != "stories260k" {
			t.Errorf("%s served as %q on %q", name, info.Name, info.Base)
		}
		if _, err := m.Embed(acme, []int32{1, 2}); !errors.Is(err, api.ErrInvalidModel) {
			t.Errorf("embeddings with an adapter: %v", err)
		}
		release()
	}
	// The heartbeat's list: the one adapter built, by its served name.
	if got := r.LoadedAdapters(); !slices.Equal(got, []string{"stories260k:support@2"}) {
		t.Errorf("LoadedAdapters() = %v", got)
	}
	// AdapterKeys hands the key function each adapter's tenant, which
	// the heartbeat's keys are made with.
	if got := r.AdapterKeys(tenantTagged); !slices.Equal(got, []string{"acme|stories260k:support@2"}) {
		t.Errorf("AdapterKeys() = %v", got)
	}
	if _, _, err := r.Acquire(context.Background(), "stories260k:support"); !errors.Is(err, api.ErrModelNotFound) {
		t.Errorf("acme's adapter for no tenant: %v", err)
	}
	models, err := r.Models(acme)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range models {
		names = append(names, m.Name+"<"+m.Base)
	}
	if !slices.Contains(names, "stories260k:support@2<stories260k") || slices.ContainsFunc(names, func(n string) bool { return strings.Contains(n, "theirs") }) {
		t.Errorf("acme's list: %v", names)
	}
}

// TestDropAdapters: DropAdapters takes the adapters of the sources whose
// keys begin with the prefix out of the cache and out of LoadedAdapters,
// and nothing else; a request holding one finishes with it, to the same
// tokens, and the next request builds it again.
func TestDropAdapters(t *testing.T) {
	path := testfixture.AdapterFor(t, stories, 4, 4)
	digest := storiesDigest(t)
	src := fakeAdapters{
		"acme":  {"support": {version: 2, path: path, digest: digest}},
		"other": {"theirs": {version: 1, path: path, digest: digest}},
	}
	r := newRunner(t, runner.Config{Files: []string{stories}, Adapters: src})
	acme := context.WithValue(context.Background(), tenantKey{}, "acme")
	other := context.WithValue(context.Background(), tenantKey{}, "other")
	acquire := func(ctx context.Context, name string) (api.Model, func()) {
		t.Helper()
		m, release, err := r.Acquire(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return m, release
	}
	m, release := acquire(acme, "stories260k:support")
	want := generate(t, m, nil)
	_, releaseTheirs := acquire(other, "stories260k:theirs")
	releaseTheirs()
	both := []string{"stories260k:support@2", "stories260k:theirs@1"}
	for _, c := range []struct {
		prefix string
		n      int
		left   []string
	}{
		{"", 0, both},
		{"nobody/", 0, both},
		{"acme/support@3", 0, both},
		{"acme/support@2", 1, both[1:]},
		{"acme/", 0, both[1:]},
	} {
		if n := r.DropAdapters(c.prefix); n != c.n {
			t.Errorf("DropAdapters(%q) = %d, want %d", c.prefix, n, c.n)
		}
		if got := r.LoadedAdapters(); !slices.Equal(got, c.left) {
			t.Errorf("after DropAdapters(%q): LoadedAdapters() = %v, want %v", c.prefix, got, c.left)
		}
	}
	if got := generate(t, m, nil); !slices.Equal(got, want) {
		t.Errorf("the request holding the dropped adapter: %v, want %v", got, want)
	}
	release()
	m, release = acquire(acme, "stories260k:support@2")
	defer release()
	if got := generate(t, m, nil); !slices.Equal(got, want) {
		t.Errorf("the adapter built again: %v, want %v", got, want)
	}
	if got := r.LoadedAdapters(); !slices.Equal(got, both) {
		t.Errorf("built again: LoadedAdapters() = %v, want %v", got, both)
	}
}

// TestLoRAFlags: llama-server's --lora adapters apply at their global
// scales to requests without a "lora" field; the field picks by id ([]
// is the base alone); bad ids are refused; POST /lora-adapters' scales
// take effect on the next request.
func TestLoRAFlags(t *testing.T) {
	path := testfixture.AdapterFor(t, stories, 3, 4)
	plain := newRunner(t, runner.Config{Files: []string{stories}})
	base := greedyOf(t, plain, "stories260k", nil)

	r := newRunner(t, runner.Config{Files: []string{stories}, LoRA: []runner.LoRAFile{{Path: path, Scale: 1}}})
	if got := r.LoRAAdapters(); len(got) != 1 || got[0].ID != 0 || got[0].Path != path || got[0].Scale != 1 {
		t.Fatalf("/lora-adapters: %+v", got)
	}
	adapted := greedyOf(t, r, "stories260k", nil)
	if slices.Equal(adapted, base) {
		t.Fatal("the --lora adapter does not apply at its global scale")
	}
	if got := greedyOf(t, r, "stories260k", []api.LoRA{}); !slices.Equal(got, base) {
		t.Errorf("lora [] gave %v, want the base's %v", got, base)
	}
	if got := greedyOf(t, r, "stories260k", []api.LoRA{{ID: 0, Scale: 1}}); !slices.Equal(got, adapted) {
		t.Errorf("lora [{0, 1}] gave %v, want %v", got, adapted)
	}
	if got := greedyOf(t, r, "stories260k:"+strings.TrimSuffix(baseOf(path), ".gguf"), nil); !slices.Equal(got, adapted) {
		t.Errorf("the adapter by name gave %v, want %v", got, adapted)
	}
	for _, bad := range [][]api.LoRA{{{ID: 1, Scale: 1}}, {{ID: -1, Scale: 1}}} {
		if _, _, err := r.AcquireLoRA(context.Background(), "stories260k", bad); !errors.Is(err, api.ErrInvalidModel) || !strings.Contains(err.Error(), "id") {
			t.Errorf("lora %v: %v", bad, err)
		}
	}
	if _, _, err := r.AcquireLoRA(context.Background(), "stories260k:x", []api.LoRA{}); !errors.Is(err, api.ErrInvalidModel) {
		t.Errorf("lora with an adapter's name: %v", err)
	}
	if err := r.SetLoRAScales([]api.LoRA{{ID: 3, Scale: 1}}); !errors.Is(err, api.ErrInvalidModel) {
		t.Errorf("scale of id 3: %v", err)
	}
	if err := r.SetLoRAScales([]api.LoRA{{ID: 0, Scale: 0}}); err != nil {
		t.Fatal(err)
	}
	if got := greedyOf(t, r, "stories260k", nil); !slices.Equal(got, base) {
		t.Errorf("global scale 0 gave %v, want the base's %v", got, base)
	}
	if err := r.UnloadLoRA(context.Background(), strings.TrimSuffix(baseOf(path), ".gguf")); !errors.Is(err, api.ErrInvalidModel) {
		t.Errorf("unloading a --lora adapter: %v", err)
	}

	off := newRunner(t, runner.Config{Files: []string{stories}, LoRA: []runner.LoRAFile{{Path: path, Scale: 1}}, LoRAInitWithoutApply: true})
	if got := greedyOf(t, off, "stories260k", nil); !slices.Equal(got, base) {
		t.Errorf("--lora-init-without-apply gave %v, want the base's %v", got, base)
	}

	other := t.TempDir() + "/qwen-lora.gguf"
	writeFile(t, other, testfixture.AdapterFile(t, "qwen2", 1))
	if _, err := runner.New(runner.Config{Files: []string{stories}, LoRA: []runner.LoRAFile{{Path: other, Scale: 1}}}); err == nil || !strings.Contains(err.Error(), "fits none") {
		t.Errorf("a --lora adapter that fits no model: %v", err)
	}
	if err := r.LoadLoRA(context.Background(), "q", other); !errors.Is(err, api.ErrInvalidModel) {
		t.Errorf("loading an adapter that fits no model: %v", err)
	}
	if err := r.LoadLoRA(context.Background(), "m", stories); !errors.Is(err, api.ErrInvalidModel) {
		t.Errorf("loading a model as an adapter: %v", err)
	}
	if err := r.LoadLoRA(context.Background(), "n", "/etc/passwd"); !errors.Is(err, api.ErrInvalidModel) {
		t.Errorf("loading a text file: %v", err)
	}
	// The refusal says what the file is not, never what it holds: an
	// admin key must not read a secret's first bytes through the error.
	secret := t.TempDir() + "/node.key"
	writeFile(t, secret, []byte("s3cr3t key material"))
	if err := r.LoadLoRA(context.Background(), "n", secret); !errors.Is(err, api.ErrInvalidModel) || strings.Contains(err.Error(), "s3cr") {
		t.Errorf("loading a secret file: %v", err)
	}
	for _, name := range []string{"a:b", "x@1", "", "../up", strings.Repeat("n", 65)} {
		if err := r.LoadLoRA(context.Background(), name, path); !errors.Is(err, api.ErrInvalidModel) {
			t.Errorf("loading as %q: %v", name, err)
		}
	}
}

func baseOf(path string) string { return path[strings.LastIndexByte(path, '/')+1:] }

// TestBaseName: the base a name runs on, by the name rule.
func TestBaseName(t *testing.T) {
	r := newRunner(t, runner.Config{Files: []string{stories}})
	if err := r.LoadLoRA(context.Background(), "tale", testfixture.AdapterFor(t, stories, 1, 2)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, want string }{
		{"stories260k", "stories260k"},
		{"stories260k:latest", "stories260k:latest"},
		{"stories260k:support@3", "stories260k"},
		{"stories260k:tale", "stories260k"},
		{"tale", "stories260k"},
		{"other:x", "other:x"},
		{"a:b:c:d", "a:b:c:d"},
		{":::", ":::"},
		{"", ""},
	} {
		if got := r.BaseName(context.Background(), c.in); got != c.want {
			t.Errorf("BaseName(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzAcquireName: no name, however many ':' and '@' it holds, panics or
// loads anything it does not name.
func FuzzAcquireName(f *testing.F) {
	for _, s := range []string{"stories260k", "stories260k:x", "a:b:c", ":::::", "stories260k:@", "stories260k:x@99999999999999999999", "x@1:y", "stories260k::"} {
		f.Add(s)
	}
	r, err := runner.New(runner.Config{Files: []string{stories}})
	if err != nil {
		f.Skip(err)
	}
	defer r.Shutdown(context.Background())
	f.Fuzz(func(t *testing.T, name string) {
		r.BaseName(context.Background(), name)
		m, release, err := r.Acquire(context.Background(), name)
		if err == nil {
			if n := m.Info().Name; n != "stories260k" {
				t.Errorf("%q acquired %q", name, n)
			}
			release()
		} else if !errors.Is(err, api.ErrModelNotFound) && !errors.Is(err, api.ErrInvalidModel) {
			t.Errorf("%q: %v", name, err)
		}
	})
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestOwnAdapterOverPublished: BASE:NAME is the caller's own adapter
// when its source has one of that name, the published file of the name
// otherwise; lists and DescribeModel say the same.
func TestOwnAdapterOverPublished(t *testing.T) {
	data, err := os.ReadFile(testfixture.AdapterFor(t, stories, 3, 4))
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "support.gguf")
	if err := os.WriteFile(pub, data, 0o600); err != nil {
		t.Fatal(err)
	}
	src := fakeAdapters{"acme": {"support": {version: 2, path: testfixture.AdapterFor(t, stories, 2, 4), digest: storiesDigest(t)}}}
	r := newRunner(t, runner.Config{Files: []string{stories}, Adapters: src, LoRA: []runner.LoRAFile{{Path: pub}}})
	for _, c := range []struct {
		tenant, served string
	}{
		{"acme", "stories260k:support@2"},
		{"other", "stories260k:support"},
	} {
		ctx := context.WithValue(context.Background(), tenantKey{}, c.tenant)
		m, release, err := r.Acquire(ctx, "stories260k:support")
		if err != nil {
			t.Fatalf("%s: %v", c.tenant, err)
		}
		if got := m.Info().Name; got != c.served {
			t.Errorf("%s: stories260k:support served as %q, want %q", c.tenant, got, c.served)
		}
		release()
		if mi, err := r.DescribeModel(ctx, "stories260k:support"); err != nil || mi.Name != c.served || mi.Base != "stories260k" {
			t.Errorf("%s: described as %+v, %v", c.tenant, mi, err)
		}
		models, err := r.Models(ctx)
		if err != nil {
			t.Fatal(err)
		}
		listed := slices.ContainsFunc(models, func(mi api.ModelInfo) bool { return mi.Name == "stories260k:support" })
		if want := c.tenant == "other"; listed != want {
			t.Errorf("%s: the published stories260k:support listed %v, want %v", c.tenant, listed, want)
		}
	}
	if _, err := r.DescribeModel(context.Background(), "stories260k:nope"); !errors.Is(err, api.ErrModelNotFound) {
		t.Errorf("an unknown adapter described: %v", err)
	}
}
