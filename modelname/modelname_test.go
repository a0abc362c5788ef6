package modelname

import (
	"slices"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	for _, c := range []struct {
		in, name, tag string
		hasTag        bool
	}{
		{"llama3", "llama3", "latest", false},
		{"Llama3:Q4_K_M", "llama3", "q4_k_m", true},
		{"llama3:", "llama3", "", true},
		{":tag", "", "tag", true},
		{"a:b:c", "a:b", "c", true},
		{"host:5000/llama", "host:5000/llama", "latest", false},
		{"host:5000/llama:8b", "host:5000/llama", "8b", true},
		{"", "", "latest", false},
	} {
		name, tag, hasTag := Split(c.in)
		if name != c.name || tag != c.tag || hasTag != c.hasTag {
			t.Errorf("Split(%q) = %q, %q, %v; want %q, %q, %v", c.in, name, tag, hasTag, c.name, c.tag, c.hasTag)
		}
	}
}

func TestSame(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"stories260k", "stories260k:latest", true},
		{"Stories260K", "stories260k", true},
		{" llama3 ", "LLAMA3:LATEST", true},
		{"qwen2.5:q8_0", "qwen2.5:Q8_0", true},
		{"qwen2.5:q8_0", "qwen2.5", false},
		{"llama3", "llama", false},
		{"host:5000/llama", "host:5000/llama:latest", true},
		{"host:5000/llama", "host:5001/llama", false},
	} {
		if got := Same(c.a, c.b); got != c.same {
			t.Errorf("Same(%q, %q) = %v; want %v", c.a, c.b, got, c.same)
		}
	}
}

func TestSpellings(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"llama3", []string{"llama3:latest", "llama3"}},
		{"Llama3:latest", []string{"llama3:latest", "llama3"}},
		{"llama3:8b", []string{"llama3:8b"}},
	} {
		if got := Spellings(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Spellings(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}

// FuzzCanonical checks the rule's laws on any input: the canonical form
// is canonical already, names the same model as its input, and has a
// tag; and every spelling names the same model.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"llama3", "Llama3:latest", "a:b:c", "host:5000/x", " x ", ":", "/:", "İ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := Canonical(s)
		if Canonical(c) != c {
			t.Fatalf("Canonical(%q) = %q, whose canonical form is %q", s, c, Canonical(c))
		}
		if !Same(s, c) {
			t.Fatalf("%q and its canonical form %q are not the same model", s, c)
		}
		if _, _, hasTag := Split(c); !hasTag && !strings.HasSuffix(c, ":"+DefaultTag) {
			t.Fatalf("Canonical(%q) = %q has no tag", s, c)
		}
		for _, sp := range Spellings(s) {
			if !Same(sp, s) {
				t.Fatalf("spelling %q of %q is another model", sp, s)
			}
		}
	})
}
