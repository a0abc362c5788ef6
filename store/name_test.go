package store

import (
	"strings"
	"testing"
)

func TestNormalizeName(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"stories260k", "stories260k:latest", ""},
		{"Stories260K", "stories260k:latest", ""},
		{"qwen2.5-0.5b-instruct:q4_k_m", "qwen2.5-0.5b-instruct:q4_k_m", ""},
		{"qwen2.5-0.5B-Instruct:Q4_K_M", "qwen2.5-0.5b-instruct:q4_k_m", ""},
		{"llama:latest", "llama:latest", ""},
		{"", "", "empty"},
		{"a/b", "", "path separators"},
		{`a\b`, "", "path separators"},
		{"..", "", `".."`},
		{"a..b", "", `".."`},
		{"x:..", "", `".."`},
		{"my model", "", "spaces"},
		{" model", "", "spaces"},
		{"model:", "", "tag is empty"},
		{":tag", "", "name is empty"},
		{"a:b:c", "", "more than one ':'"},
		{".hidden", "", "start with a letter or digit"},
		{"-x", "", "start with a letter or digit"},
		{"x:_y", "", "start with a letter or digit"},
		{"caf\u00e9", "", "character"},
		{"a*b", "", "character"},
		{strings.Repeat("a", 129), "", "longer than 128"},
		{"a:" + strings.Repeat("b", 65), "", "longer than 64"},
	} {
		got, err := NormalizeName(c.in)
		if c.err == "" {
			if err != nil || got != c.want {
				t.Errorf("NormalizeName(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("NormalizeName(%q) = %q, %v; want error containing %q", c.in, got, err, c.err)
		}
	}
}

func TestNameFromFile(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"stories260K.gguf", "stories260k"},
		{"/models/dir/stories260K.gguf", "stories260k"},
		{"Qwen2.5-0.5B-Instruct-Q4_K_M.GGUF", "qwen2.5-0.5b-instruct-q4_k_m"},
		{"/owner/repo/resolve/main/model.gguf", "model"},
		{"my model (copy).gguf", "my-model--copy-"},
		{"..weird..name.gguf", "weird.name"},
		{"model", "model"},
		{".gguf", ""},
		{"___.gguf", ""},
	} {
		got := NameFromFile(c.in)
		if got != c.want {
			t.Errorf("NameFromFile(%q) = %q; want %q", c.in, got, c.want)
		}
		if got != "" {
			if _, err := NormalizeName(got); err != nil {
				t.Errorf("NameFromFile(%q) = %q, which does not normalize: %v", c.in, got, err)
			}
		}
	}
}

func TestResolveURL(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"hf://owner/repo/file.gguf", "https://huggingface.co/owner/repo/resolve/main/file.gguf", ""},
		{"hf://owner/repo/sub/dir/file.gguf", "https://huggingface.co/owner/repo/resolve/main/sub/dir/file.gguf", ""},
		{"https://huggingface.co/o/r/resolve/main/f.gguf?download=true", "https://huggingface.co/o/r/resolve/main/f.gguf?download=true", ""},
		{"http://127.0.0.1:8080/m.gguf", "http://127.0.0.1:8080/m.gguf", ""},
		{"hf://owner/repo", "", "hf://owner/repo/file.gguf"},
		{"hf://owner//file.gguf", "", "hf://owner/repo/file.gguf"},
		{"ftp://host/m.gguf", "", "scheme"},
		{"/local/m.gguf", "", "scheme"},
		{"http:///m.gguf", "", "no host"},
	} {
		got, err := ResolveURL(c.in)
		if c.err == "" {
			if err != nil || got != c.want {
				t.Errorf("ResolveURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("ResolveURL(%q) = %q, %v; want error containing %q", c.in, got, err, c.err)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in          string
		start, size int64
		ok          bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/1", 0, 1, true},
		{"bytes 5-9/*", 5, -1, true},
		{"bytes */300", -1, 300, true},
		{"", 0, 0, false},
		{"bytes 100-199", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"bytes x-2/3", 0, 0, false},
		{"bytes 1-2/-3", 0, 0, false},
	} {
		start, size, err := parseContentRange(c.in)
		if (err == nil) != c.ok || c.ok && (start != c.start || size != c.size) {
			t.Errorf("parseContentRange(%q) = %d, %d, %v; want %d, %d, ok %v", c.in, start, size, err, c.start, c.size, c.ok)
		}
	}
}
