package dataset

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// heldOut reads testdata/langid_heldout.tsv: sentences written for the
// test and never used to build the profiles.
func heldOut(t *testing.T) [][2]string {
	t.Helper()
	f, err := os.Open("testdata/langid_heldout.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		lang, text, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("bad held-out line %q", line)
		}
		out = append(out, [2]string{lang, text})
	}
	return out
}

func TestLanguageAccuracy(t *testing.T) {
	set := heldOut(t)
	if len(set) < 100 {
		t.Fatalf("held-out set has %d sentences; want >= 100", len(set))
	}
	right := 0
	perLang := map[string][2]int{}
	for _, s := range set {
		got := DetectLanguage(s[1])
		c := perLang[s[0]]
		c[1]++
		if got == s[0] {
			right++
			c[0]++
		} else {
			t.Logf("%s sentence detected as %s: %q", s[0], got, s[1])
		}
		perLang[s[0]] = c
	}
	acc := float64(right) / float64(len(set))
	t.Logf("accuracy %d/%d = %.3f; per language %v", right, len(set), acc, perLang)
	if acc < 0.9 {
		t.Errorf("accuracy %.3f; want >= 0.9", acc)
	}
	for lang, c := range perLang {
		if float64(c[0]) < 0.8*float64(c[1]) {
			t.Errorf("%s: %d/%d right; want >= 80%%", lang, c[0], c[1])
		}
	}
}

func TestDetectLanguageUndetermined(t *testing.T) {
	for _, text := range []string{"", "42", "ok", "12/05/2026 14:00 -- #### $$$", "这是一个中文句子，没有任何拉丁字母。", "Привет, как у тебя дела сегодня?"} {
		if got := DetectLanguage(text); got != Undetermined {
			t.Errorf("DetectLanguage(%q) = %q; want %q", text, got, Undetermined)
		}
	}
	want := []string{"de", "en", "es", "fr", "pt", "sw"}
	if got := Languages(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Languages() = %v; want %v", got, want)
	}
}
