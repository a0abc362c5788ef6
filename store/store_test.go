package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/synth"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// writeModel writes a small random model to dir/file and returns its path.
func writeModel(t *testing.T, dir, file string, spec synth.Spec) string {
	t.Helper()
	path := filepath.Join(dir, file)
	if err := synth.Write(path, spec); err != nil {
		t.Fatal(err)
	}
	return path
}

func digestOf(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOpenCreatesModelsDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "models"); s.Dir() != want {
		t.Errorf("Dir() = %q; want %q", s.Dir(), want)
	}
	if st, err := os.Stat(s.Dir()); err != nil || !st.IsDir() {
		t.Fatalf("models dir: %v", err)
	}
	list, err := s.List()
	if err != nil || list == nil || len(list) != 0 {
		t.Errorf("new store lists %#v, %v; want an empty, non-nil list", list, err)
	}
}

func TestImportListGetRemove(t *testing.T) {
	src := t.TempDir()
	q8 := writeModel(t, src, "Tiny-Q8.gguf", synth.Spec{Type: tensor.Q8_0, Seed: 1})
	f32 := writeModel(t, src, "stories260K.gguf", synth.Spec{Seed: 2, Arch: "qwen2"})
	s := openStore(t)
	ctx := context.Background()

	before := time.Now().Add(-time.Second)
	e, err := s.Import(ctx, f32, "")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(f32)
	want := Entry{
		Name:         "stories260k:latest",
		File:         "sha256-" + digestOf(t, f32) + ".gguf",
		Size:         st.Size(),
		Digest:       "sha256:" + digestOf(t, f32),
		Source:       f32,
		Architecture: "qwen2",
		Quantization: "F32",
	}
	// Parameters: the sum of the tensors' elements.
	g, err := gguf.Open(f32)
	if err != nil {
		t.Fatal(err)
	}
	for i := range g.Tensors {
		want.Parameters += g.Tensors[i].Elements()
	}
	g.Close()
	if e.Added.Before(before) || e.Added.After(time.Now().Add(time.Second)) {
		t.Errorf("Added = %v; want about now", e.Added)
	}
	want.Added = e.Added
	if e != want {
		t.Errorf("Import entry\n got %+v\nwant %+v", e, want)
	}

	if _, err := s.Import(ctx, q8, "tiny:q8_0"); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name+" "+e.Quantization)
	}
	if got, want := strings.Join(names, ", "), "stories260k:latest F32, tiny:q8_0 Q8_0"; got != want {
		t.Errorf("List = %s; want %s", got, want)
	}

	// Get and Path take the short and upper-case forms; the stored file is
	// a byte-exact copy.
	for _, name := range []string{"stories260k", "STORIES260K:latest"} {
		got, err := s.Get(name)
		if err != nil || got != want {
			t.Errorf("Get(%q) = %+v, %v; want %+v", name, got, err, want)
		}
	}
	p, err := s.Path("stories260k")
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(t, p) != digestOf(t, f32) || filepath.Dir(p) != s.Dir() {
		t.Errorf("Path = %s: not a copy of the import in %s", p, s.Dir())
	}
	if _, err := s.Get("tiny"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(tiny) = %v; want ErrNotFound (the tag is q8_0, not latest)", err)
	}

	// A second name for the same bytes shares the file; removing one name
	// keeps the file for the other.
	if _, err := s.Import(ctx, f32, "alias"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("stories260k"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Errorf("file shared with alias was deleted: %v", err)
	}
	if _, err := s.Get("stories260k"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove = %v; want ErrNotFound", err)
	}
	if err := s.Remove("alias"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file of the last name removed still there: %v", err)
	}
	if err := s.Remove("alias"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove = %v; want ErrNotFound", err)
	}

	// A fresh Store on the same directory sees the same manifest.
	s2, err := Open(filepath.Dir(s.Dir()))
	if err != nil {
		t.Fatal(err)
	}
	list, err = s2.List()
	if err != nil || len(list) != 1 || list[0].Name != "tiny:q8_0" {
		t.Errorf("reopened store lists %+v, %v; want tiny:q8_0 only", list, err)
	}
	if left := dirNames(t, s.Dir()); left != ".lock .partial manifest.json "+list[0].File {
		t.Errorf("models dir holds %s", left)
	}
}

// dirNames lists a directory's entries, sorted, space-separated.
func dirNames(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

func TestImportReplacesName(t *testing.T) {
	src := t.TempDir()
	a := writeModel(t, src, "a.gguf", synth.Spec{Seed: 1})
	b := writeModel(t, src, "b.gguf", synth.Spec{Seed: 2, Type: tensor.F16})
	s := openStore(t)
	ea, err := s.Import(context.Background(), a, "m")
	if err != nil {
		t.Fatal(err)
	}
	eb, err := s.Import(context.Background(), b, "m")
	if err != nil {
		t.Fatal(err)
	}
	list, _ := s.List()
	if len(list) != 1 || list[0] != eb || eb.Quantization != "F16" {
		t.Errorf("after re-import: %+v; want only %+v (F16)", list, eb)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), ea.File)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("replaced file %s still there: %v", ea.File, err)
	}
}

func TestImportRefuses(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.gguf")
	os.WriteFile(junk, []byte("this is not a model at all, just some text"), 0o644)
	vocabOnly := filepath.Join(dir, "vocab.gguf")
	w := gguf.NewWriter()
	w.SetKV("general.architecture", "llama")
	w.SetKV("tokenizer.ggml.tokens", []string{"a", "b"})
	if err := w.WriteFile(vocabOnly); err != nil {
		t.Fatal(err)
	}
	good := writeModel(t, dir, "good.gguf", synth.Spec{})
	s := openStore(t)
	for _, c := range []struct{ path, name, err string }{
		{junk, "", "not a GGUF model"},
		{vocabOnly, "", "no tensors"},
		{filepath.Join(dir, "missing.gguf"), "", "no such file"},
		{dir, "", "is a directory"},
		{good, "bad/name", "path separators"},
		{good, "..", `".."`},
		{writeModel(t, dir, "__.gguf", synth.Spec{}), "", "cannot derive"},
		{good, "two words", "spaces"},
	} {
		_, err := s.Import(context.Background(), c.path, c.name)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("Import(%s, %q) = %v; want error containing %q", filepath.Base(c.path), c.name, err, c.err)
		}
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("refused imports left entries: %+v", list)
	}
	if left := dirNames(t, s.partialDir()); left != "" {
		t.Errorf("refused imports left files in .partial: %s", left)
	}

	// A cancelled import copies nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Import(ctx, good, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Import with cancelled context = %v; want context.Canceled", err)
	}
	if left := dirNames(t, s.partialDir()); left != "" {
		t.Errorf("cancelled import left files in .partial: %s", left)
	}
}

func TestConcurrentImports(t *testing.T) {
	src := t.TempDir()
	const n = 8
	paths := make([]string, n)
	for i := range paths {
		paths[i] = writeModel(t, src, fmt.Sprintf("m%d.gguf", i), synth.Spec{Seed: uint64(i), Dim: 32, Heads: 2})
	}
	dir := filepath.Join(t.TempDir(), "data")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each goroutine opens its own Store, as separate hearth
			// processes would, so only the lock file keeps them apart.
			s, err := Open(dir)
			if err == nil {
				_, err = s.Import(context.Background(), paths[i], "")
			}
			if err == nil && i%2 == 1 {
				// Interleave removals with the imports.
				_, err = s.Import(context.Background(), paths[i], fmt.Sprintf("gone%d", i))
				if err == nil {
					err = s.Remove(fmt.Sprintf("gone%d", i))
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	s, _ := Open(dir)
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("manifest has %d entries; want %d: %+v", len(list), n, list)
	}
	for i, e := range list {
		if want := fmt.Sprintf("m%d:latest", i); e.Name != want {
			t.Errorf("entry %d is %s; want %s", i, e.Name, want)
		}
		p, err := s.Path(e.Name)
		if err != nil || digestOf(t, p) != digestOf(t, paths[i]) {
			t.Errorf("%s: file %s does not hold the import (%v)", e.Name, p, err)
		}
	}
}

func TestCorruptManifest(t *testing.T) {
	src := writeModel(t, t.TempDir(), "m.gguf", synth.Spec{})
	for _, c := range []struct{ name, content, err string }{
		{"truncated", `{"version": 1, "models": [`, "unexpected end of JSON"},
		{"not JSON", "garbage", "invalid character"},
		{"future version", `{"version": 99, "models": []}`, "version 99"},
		{"bad name", `{"version": 1, "models": [{"name": "../x"}]}`, `bad or repeated model name "../x"`},
		{"repeated name", `{"version": 1, "models": [{"name": "a:latest"}, {"name": "a:latest"}]}`, "repeated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := openStore(t)
			mp := filepath.Join(s.Dir(), "manifest.json")
			if err := os.WriteFile(mp, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, lerr := s.List()
			_, gerr := s.Get("a")
			_, ierr := s.Import(context.Background(), src, "")
			rerr := s.Remove("a")
			for op, err := range map[string]error{"List": lerr, "Get": gerr, "Import": ierr, "Remove": rerr} {
				if !errors.Is(err, ErrCorruptManifest) || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), mp) {
					t.Errorf("%s = %v; want ErrCorruptManifest naming %s and %q", op, err, mp, c.err)
				}
			}
			if got, _ := os.ReadFile(mp); string(got) != c.content {
				t.Errorf("corrupt manifest was overwritten with %q", got)
			}
		})
	}
}

func TestManifestFileOutsideStore(t *testing.T) {
	s := openStore(t)
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("keep me"), 0o644)
	m := fmt.Sprintf(`{"version": 1, "models": [{"name": "x:latest", "file": %q}]}`, "../../"+filepath.Base(victim))
	os.WriteFile(filepath.Join(s.Dir(), "manifest.json"), []byte(m), 0o644)
	if _, err := s.Path("x"); err == nil || !strings.Contains(err.Error(), "not a file in") {
		t.Errorf("Path of an entry pointing outside = %v; want an error", err)
	}
	if err := s.Remove("x"); err == nil {
		t.Errorf("Remove of an entry pointing outside succeeded")
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("file outside the store was touched: %v", err)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv(EnvDataDir, "/srv/hearth")
	if d, err := DefaultDir(); err != nil || d != "/srv/hearth" {
		t.Errorf("DefaultDir with %s set = %q, %v", EnvDataDir, d, err)
	}
	t.Setenv(EnvDataDir, "")
	t.Setenv("HOME", "/home/someone")
	if d, err := DefaultDir(); err != nil || d != filepath.Join("/home/someone", ".hearth") {
		t.Errorf("DefaultDir = %q, %v; want ~/.hearth", d, err)
	}
}

func TestOpenSweepsStaleImports(t *testing.T) {
	s := openStore(t)
	p := s.partialDir()
	old := time.Now().Add(-48 * time.Hour)
	for _, name := range []string{"import-stale", "import-fresh", "0123456789abcdef"} {
		if err := os.WriteFile(filepath.Join(p, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if name != "import-fresh" {
			os.Chtimes(filepath.Join(p, name), old, old)
		}
	}
	if _, err := Open(filepath.Dir(s.Dir())); err != nil {
		t.Fatal(err)
	}
	// A day-old import copy is debris; a download of any age resumes.
	if got, want := dirNames(t, p), "0123456789abcdef import-fresh"; got != want {
		t.Errorf(".partial holds %q; want %q", got, want)
	}
}
