package dataset

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/db"
)

// openStore opens a Store on a fresh database file with a fixed clock.
func openStore(t testing.TB) (*Store, *db.DB) {
	t.Helper()
	d, err := db.Open(t.TempDir() + "/hearth.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	clock := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	s, err := Open(context.Background(), d, func() time.Time { clock = clock.Add(time.Second); return clock })
	if err != nil {
		t.Fatal(err)
	}
	return s, d
}

// vocab returns the words of langdata/<lang>.txt, the material synthetic
// conversations are made of: random sequences of a language's words keep
// its character statistics but share almost no word pairs with each other,
// so two generated texts are never near duplicates by accident.
func vocab(t testing.TB, lang string) []string {
	t.Helper()
	b, err := os.ReadFile("langdata/" + lang + ".txt")
	if err != nil {
		t.Fatal(err)
	}
	return words(string(b))
}

// synthSet is a generated set of interactions and what a build with
// synthOptions must make of it.
type synthSet struct {
	all      []Interaction
	keep     map[string]bool // response ids that must be kept
	byID     map[string]Interaction
	langOf   map[string]string
	dupOf    map[string]string // planted duplicate id -> the original it repeats
	want     Report
	wantLang map[string]int // kept examples per language
}

// synthOptions bound lengths so that the planted short and long ones go.
var synthOptions = Options{MinChars: 40, MaxChars: 2000}

func newSynth(t testing.TB) *synthSet {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	voc := map[string][]string{}
	for _, l := range []string{"en", "sw", "fr", "pt", "es", "de"} {
		voc[l] = vocab(t, l)
	}
	text := func(lang string, n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = voc[lang][rng.IntN(len(voc[lang]))]
		}
		first := []rune(w[0])
		w[0] = strings.ToUpper(string(first[:1])) + string(first[1:])
		return strings.Join(w, " ") + "."
	}
	s := &synthSet{keep: map[string]bool{}, byID: map[string]Interaction{}, langOf: map[string]string{}, dupOf: map[string]string{}, wantLang: map[string]int{}}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	add := func(in Interaction, lang string, keep bool) Interaction {
		n++
		if in.Time.IsZero() {
			in.Time = base.Add(time.Duration(n) * time.Minute)
		}
		in.Model = "llama3"
		s.all = append(s.all, in)
		s.byID[in.ResponseID] = in
		s.langOf[in.ResponseID] = lang
		if keep {
			s.keep[in.ResponseID] = true
			s.wantLang[lang]++
		}
		return in
	}
	convo := func(id, lang string) Interaction {
		return Interaction{ResponseID: id, EndUser: "user-" + id[len(id)-1:],
			Messages: []Message{{"system", "You are a helpful assistant."}, {"user", text(lang, 8+rng.IntN(6))}},
			Output:   text(lang, 30+rng.IntN(15))}
	}
	ratings := []func(*Interaction){
		func(in *Interaction) { in.Thumb = 1 },
		func(in *Interaction) { in.Rating = 4 },
		func(in *Interaction) { in.Rating = 5 },
	}
	// 200 well-rated interactions in six languages.
	langs := map[string]int{"en": 100, "sw": 40, "fr": 20, "pt": 15, "es": 15, "de": 10}
	var goodEN []Interaction
	for _, lang := range []string{"en", "sw", "fr", "pt", "es", "de"} {
		for i := 0; i < langs[lang]; i++ {
			in := convo(fmt.Sprintf("good-%s-%03d", lang, i), lang)
			ratings[rng.IntN(3)](&in)
			if in.Rating == 5 || in.Thumb == 1 {
				in.Rating, in.Thumb = 5, 0 // the originals of duplicates outrank them
			}
			in = add(in, lang, true)
			if lang == "en" {
				goodEN = append(goodEN, in)
			}
		}
	}
	// 20 badly rated but corrected: kept, with the correction as answer.
	for i := 0; i < 20; i++ {
		in := convo(fmt.Sprintf("corr-%02d", i), "en")
		if i%2 == 0 {
			in.Thumb = -1
		} else {
			in.Rating = 2
		}
		in.Correction = text("en", 25)
		add(in, "en", true)
	}
	// 40 badly rated, 10 neutral, 20 unrated: dropped.
	for i := 0; i < 40; i++ {
		in := convo(fmt.Sprintf("bad-%02d", i), "en")
		if i%2 == 0 {
			in.Thumb = -1
		} else {
			in.Rating = 1 + i%4/2
		}
		add(in, "en", false)
	}
	for i := 0; i < 10; i++ {
		in := convo(fmt.Sprintf("neutral-%02d", i), "fr")
		in.Rating = 3
		add(in, "fr", false)
	}
	for i := 0; i < 20; i++ {
		add(convo(fmt.Sprintf("unrated-%02d", i), "sw"), "sw", false)
	}
	// 5 malformed.
	bad := []func(*Interaction){
		func(in *Interaction) { in.ResponseID = "" },
		func(in *Interaction) { in.Output = "  " },
		func(in *Interaction) { in.Messages = append(in.Messages, Message{"tool", "{}"}) },
		func(in *Interaction) { in.Messages = in.Messages[:1] }, // system only
		func(in *Interaction) { in.Rating = 9 },
		func(in *Interaction) { in.Thumb = -2 },
	}
	for i, f := range bad {
		in := convo(fmt.Sprintf("invalid-%d", i), "en")
		in.Thumb = 1
		f(&in)
		add(in, "en", false)
	}
	// A repeated response id: the first occurrence wins, so it comes
	// after the shuffle below.
	repeated := convo(goodEN[0].ResponseID, "en")
	repeated.Thumb = 1
	// 10 exact copies (and a copy differing only in surrounding space) of
	// earlier good ones, rated lower or equal and later.
	for i := 0; i < 10; i++ {
		orig := goodEN[i]
		in := orig
		in.ResponseID = fmt.Sprintf("xdup-%02d", i)
		in.Messages = append([]Message(nil), orig.Messages...)
		in.Rating, in.Thumb = 4, 0
		in.Time = time.Time{}
		if i == 0 {
			in.Output = "  " + orig.Output + "\n"
		}
		add(in, "en", false)
		s.dupOf[in.ResponseID] = orig.ResponseID
	}
	// 15 paraphrases: a filler word, changed case and punctuation, a word
	// of the answer swapped for another.
	for i := 0; i < 15; i++ {
		orig := goodEN[20+i]
		in := orig
		in.ResponseID = fmt.Sprintf("ndup-%02d", i)
		q := orig.Messages[1].Content
		in.Messages = []Message{orig.Messages[0], {"user", "Please, " + strings.ToLower(q[:1]) + q[1:len(q)-1] + "?"}}
		w := strings.Fields(orig.Output)
		w[len(w)/2] = "different"
		in.Output = strings.ToUpper(strings.Join(w, " "))
		in.Rating, in.Thumb = 4, 0
		in.Time = time.Time{}
		add(in, "en", false)
		s.dupOf[in.ResponseID] = orig.ResponseID
	}
	// 10 with the same question as a good one but another answer: distinct.
	for i := 0; i < 10; i++ {
		orig := goodEN[40+i]
		in := convo(fmt.Sprintf("sameq-%02d", i), "en")
		in.Messages = append([]Message(nil), orig.Messages...)
		in.Thumb = 1
		add(in, "en", true)
	}
	// 5 too short, 5 too long.
	for i := 0; i < 5; i++ {
		add(Interaction{ResponseID: fmt.Sprintf("short-%d", i), Messages: []Message{{"user", "Hi"}}, Output: "Hello there!", Thumb: 1}, "und", false)
	}
	for i := 0; i < 5; i++ {
		in := convo(fmt.Sprintf("long-%d", i), "en")
		in.Output = text("en", 450)
		in.Thumb = 1
		add(in, "en", false)
	}
	// Shuffle: the build must not depend on arrival order.
	rng.Shuffle(len(s.all), func(i, j int) { s.all[i], s.all[j] = s.all[j], s.all[i] })
	s.all = append(s.all, repeated)
	s.want = Report{Considered: len(s.all), Invalid: 7, Unrated: 20, LowRating: 50, TooShort: 5, TooLong: 5,
		ExactDuplicates: 10, NearDuplicates: 15, Kept: 230}
	return s
}
