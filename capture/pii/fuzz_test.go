package pii

import (
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"",
	"call +254 712 345 678 or mail a.b@c.co.ke",
	"(((((+1 (415) 555-0132)",
	"+44 (0)20 7946 0958 +(0)",
	"::ffff:192.168.1.1 fe80::1%eth0 :::: 1:2:3:4:5:6:7:8:9",
	"GB82 WEST 1234 5698 7654 32GB82WEST12345698765432",
	"@@@ a@ @b.c x@y.zz é@é.éé",
	"4111-1111-1111-1111 5211 8513 3376 529.982.247-25 11.222.333/0001-81",
	"ID no. 23456789 NIN 12345678901 BVN 22123456789 SSN 123 45 6789",
	"AB 12 34 56 C AB123456D QQ123456C",
	"0\x00712 345 678 \xff\xfe +\u00a0254",
	"My name is John Smith; Dr. Amina Odhiambo; Patient: Mary Wambui",
	"jina langu ni amina odhiambo. Je m'appelle Jean-Pierre N'Diaye. Meu nome é João da Silva. Chamo-me Inês",
	"Dr. <NAME_1> and <PHONE_2>'s Mr. O'Brien’s L'avenue Victor Hugo São Paulo Kenyatta Avenue",
	"record: 0722000111 ref 0722000111 order 0722000111 account 0722000111 254722333444 2125550199",
	"(555) 123-4567 555.123.4567 9876543210 (+1 931 981 0619)",
	"Aadhaar 2345 6789 0123 KRA PIN A012345678Z passport no. AK1234567 passeport 12AB34567",
	"born 12/03/1990, DOB 1990-03-12, né le 3 mars 1985, nascido em 12 de março de 1990, March 12, 1990",
	"221B Baker Street, 15 rue de la Paix, Rua das Flores, nº 45, P.O. Box 4521-00100, S.L.P. 1",
	"JOHN(at)example(dot)com j [at] x [dot] co [dot] ke otieno at gmail dot com (at)(dot) x(at) (at)y",
	"Dr. Mr. Bi. Bw. Mme Sr. Sra. Dear\nRegards,\n",
	strings.Repeat("1 ", 40),
	strings.Repeat("9", 300),
}

// FuzzScrub checks that Scrub never panics, that findings are ordered,
// non-overlapping and inside the text, that the output is exactly the input
// with each span replaced by its placeholder, and that a session gives one
// value one placeholder.
func FuzzScrub(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	s, err := New(Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text string) {
		res := s.NewSession().Scrub(text)
		want := len(text)
		prev := 0
		var b strings.Builder
		byPh := map[string]string{}
		for _, fd := range res.Found {
			if fd.Start < prev || fd.End <= fd.Start || fd.End > len(text) {
				t.Fatalf("bad span %d-%d (prev end %d, len %d) in %q", fd.Start, fd.End, prev, len(text), text)
			}
			if !strings.HasPrefix(fd.Placeholder, "<"+fd.Type+"_") || !strings.HasSuffix(fd.Placeholder, ">") {
				t.Fatalf("placeholder %q for type %s", fd.Placeholder, fd.Type)
			}
			key := normalise(fd.Type, text[fd.Start:fd.End])
			if k, ok := byPh[fd.Placeholder]; ok && k != key {
				t.Fatalf("placeholder %s used for %q and %q", fd.Placeholder, k, key)
			}
			byPh[fd.Placeholder] = key
			b.WriteString(text[prev:fd.Start])
			b.WriteString(fd.Placeholder)
			want += len(fd.Placeholder) - (fd.End - fd.Start)
			prev = fd.End
		}
		b.WriteString(text[prev:])
		if len(res.Text) != want || res.Text != b.String() {
			t.Fatalf("output %q (len %d) is not the input with placeholders %q (len %d)", res.Text, len(res.Text), b.String(), want)
		}
		if d := s.Detect(text); len(d) != len(res.Found) {
			t.Fatalf("Detect found %d, Scrub %d", len(d), len(res.Found))
		}
	})
}
