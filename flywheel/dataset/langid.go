package dataset

import (
	"bufio"
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Undetermined is the language of text too short, or too unlike every
// profile, to tell.
const Undetermined = "und"

// The identifier is a naive Bayes classifier over character trigrams of
// words padded with spaces (" the", "he "). Its profiles are generated
// (langprofiles_gen.go) from the sample sentences in langdata/, written for
// this package; `go test -run TestProfilesGenerated -update` regenerates
// them. On the 120 held-out sentences of testdata/langid_heldout.tsv (20
// per language, also written for this package, on other topics) it is
// right 119 times (0.992; the miss: a Spanish sentence taken for
// Portuguese); TestLanguageAccuracy holds it at >= 0.9 overall and >= 0.8
// per language. Texts of a few words are less reliable than that.
const (
	profileSize = 1000 // trigrams kept per language, most frequent first
	minTrigrams = 4    // fewer than this in a text: Undetermined
	minHitShare = 0.25 // share of a text's trigrams the best profile must know
)

type profile struct {
	lang   string
	logp   map[string]float64
	unseen float64 // log probability of a trigram the profile lacks
}

var profiles = mustLoadProfiles(profileData)

// Languages returns the codes DetectLanguage can answer, sorted.
func Languages() []string {
	out := make([]string, len(profiles))
	for i, p := range profiles {
		out[i] = p.lang
	}
	return out
}

// DetectLanguage returns the ISO 639-1 code of the language text is most
// likely written in, or Undetermined.
func DetectLanguage(text string) string {
	var grams []string
	trigrams(text, func(g string) { grams = append(grams, g) })
	if len(grams) < minTrigrams {
		return Undetermined
	}
	best, bestScore, bestHits := -1, math.Inf(-1), 0
	for i, p := range profiles {
		score, hits := 0.0, 0
		for _, g := range grams {
			if lp, ok := p.logp[g]; ok {
				score += lp
				hits++
			} else {
				score += p.unseen
			}
		}
		if score > bestScore {
			best, bestScore, bestHits = i, score, hits
		}
	}
	if best < 0 || float64(bestHits) < minHitShare*float64(len(grams)) {
		return Undetermined
	}
	return profiles[best].lang
}

// trigrams calls fn with every trigram of text: letters lower-cased, any
// run of non-letters a word break, each word padded with one space on
// either side.
func trigrams(text string, fn func(string)) {
	word := make([]rune, 0, 32)
	flush := func() {
		if len(word) == 0 {
			return
		}
		padded := make([]rune, 0, len(word)+2)
		padded = append(padded, ' ')
		padded = append(padded, word...)
		padded = append(padded, ' ')
		for i := 0; i+3 <= len(padded); i++ {
			fn(string(padded[i : i+3]))
		}
		word = word[:0]
	}
	for _, r := range text {
		if unicode.IsLetter(r) {
			word = append(word, unicode.ToLower(r))
		} else {
			flush()
		}
	}
	flush()
}

// countTrigrams returns the profileSize most frequent trigrams of text with
// their counts, most frequent first (ties by trigram).
func countTrigrams(text string) []gramCount {
	counts := map[string]int{}
	trigrams(text, func(g string) { counts[g]++ })
	out := make([]gramCount, 0, len(counts))
	for g, n := range counts {
		out = append(out, gramCount{g, n})
	}
	slices.SortFunc(out, func(a, b gramCount) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return strings.Compare(a.gram, b.gram)
	})
	if len(out) > profileSize {
		out = out[:profileSize]
	}
	return out
}

type gramCount struct {
	gram string
	n    int
}

// mustLoadProfiles parses the generated profile data: per language, lines
// of "count trigram". Smoothing is add-half over a vocabulary of every
// trigram any profile knows, so unknown trigrams cost all languages alike.
func mustLoadProfiles(data map[string]string) []profile {
	vocab := map[string]bool{}
	counts := map[string][]gramCount{}
	for lang, text := range data {
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			n, gram, ok := strings.Cut(sc.Text(), " ")
			c, err := strconv.Atoi(n)
			if !ok || err != nil || len([]rune(gram)) != 3 {
				panic(fmt.Sprintf("dataset: corrupt language profile %s: %q", lang, sc.Text()))
			}
			counts[lang] = append(counts[lang], gramCount{gram, c})
			vocab[gram] = true
		}
	}
	const alpha = 0.5
	v := float64(len(vocab))
	var out []profile
	for lang, gcs := range counts {
		total := 0
		for _, gc := range gcs {
			total += gc.n
		}
		denom := float64(total) + alpha*v
		p := profile{lang: lang, logp: make(map[string]float64, len(gcs)), unseen: math.Log(alpha / denom)}
		for _, gc := range gcs {
			p.logp[gc.gram] = math.Log((float64(gc.n) + alpha) / denom)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b profile) int { return strings.Compare(a.lang, b.lang) })
	return out
}
