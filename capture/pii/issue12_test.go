package pii

import (
	"strings"
	"testing"
)

// TestIssue12Leaks: every form issue 12 found left in clear is scrubbed
// now, and the ordinary numbers next to them are not.
func TestIssue12Leaks(t *testing.T) {
	s := mustNew(t, Config{})
	cases := []struct{ text, want string }{
		{"My name is John Smith.", "My name is <NAME_1>."},
		{"Dr. Amina Odhiambo will call.", "Dr. <NAME_1> will call."},
		{"Patient: Mary Wambui, 42, diabetic.", "Patient: <NAME_1>, 42, diabetic."},
		{"record: 0722000111", "record: <PHONE_1>"},
		{"ref 0722000111", "ref <PHONE_1>"},
		{"order 0722000111", "order <PHONE_1>"},
		{"account 0722000111", "account <PHONE_1>"},
		{"call 0722000111", "call <PHONE_1>"},
		{"send to 254722333444", "send to <PHONE_1>"},
		{"ref 254722333444", "ref <PHONE_1>"},
		{"account 256712345678", "account <PHONE_1>"},
		{"Reference 916126468406", "Reference 916126468406"}, // a two-digit code after an object word: the object's number
		{"my number is 2125550199", "my number is <PHONE_1>"},
		{"office (555) 123-4567, fax 555.123.4567", "office <PHONE_1>, fax <PHONE_1>"}, // one number, two spellings
		{"text 9876543210", "text <PHONE_1>"},
		{"Aadhaar 2345 6789 0123", "Aadhaar <ID_IN_AADHAAR_1>"},
		{"KRA PIN A012345678Z", "KRA PIN <ID_KE_KRA_PIN_1>"},
		{"passport no. AK1234567", "passport no. <PASSPORT_1>"},
		{"born on 12/03/1990", "born on <DOB_1>"},
		{"lives at 221B Baker Street", "lives at <ADDRESS_1>"},
		{"JOHN(at)example(dot)com", "<EMAIL_1>"},
		// Ordinary numbers and capitalised words stay.
		{"order 4451230 of 12 boxes, KES 2,499, in May 2024", ""},
		{"Kenyatta Avenue, Nairobi; Lake Victoria; São Paulo", ""},
		{"appointment on 12/03/2025 at 10:30", ""},
		{"Grace period ends on the 15th.", ""},
	}
	for _, c := range cases {
		want := c.want
		if want == "" {
			want = c.text
		}
		if got := s.Scrub(c.text).Text; got != want {
			t.Errorf("Scrub(%q) = %q, want %q", c.text, got, want)
		}
	}
}

// TestScrubIdempotent: scrubbing scrubbed text changes nothing; a
// placeholder is never read as a name ("Dr. <NAME_1>").
func TestScrubIdempotent(t *testing.T) {
	s := mustNew(t, Config{})
	for _, smp := range loadCorpus(t) {
		once := s.Scrub(smp.Text).Text
		if twice := s.Scrub(once); len(twice.Found) != 0 {
			t.Errorf("rescrubbing %q found %+v", once, twice.Found)
		}
	}
}

func TestNumberingResume(t *testing.T) {
	s := mustNew(t, Config{})
	key := []byte("k1")
	ss := s.NewSession()
	if got := ss.Scrub("call 0722 000 111 or mail a@x.org").Text; got != "call <PHONE_1> or mail <EMAIL_1>" {
		t.Fatalf("prompt = %q", got)
	}
	n := ss.Numbering(key)
	if strings.Contains(strings.Join(mapValues(n.Digests), " ")+strings.Join(mapKeys(n.Digests), " "), "0722") {
		t.Fatalf("numbering keeps the value: %+v", n)
	}
	r := s.ResumeSession(key, n).Scrub("not 0722000111 but 0733 444 555; A@X.ORG")
	if r.Text != "not <PHONE_1> but <PHONE_2>; <EMAIL_1>" {
		t.Errorf("resumed = %q", r.Text)
	}
	// Under another key the digests do not match: values are new, numbers
	// still do not collide.
	if got := s.ResumeSession([]byte("k2"), n).Scrub("0722 000 111").Text; got != "<PHONE_2>" {
		t.Errorf("other key = %q, want <PHONE_2>", got)
	}
	ss = s.NewSession()
	ss.Reserve("seen <PHONE_3> and <NAME_2>, not <PHONE_x> or <FOO_9>")
	if got := ss.Scrub("0722 000 111, John Smith").Text; got != "<PHONE_4>, <NAME_3>" {
		t.Errorf("after Reserve = %q", got)
	}
	if got := ss.Rebase("their <PHONE_1> and <PHONE_1>, their <NAME_1>"); got != "their <PHONE_5> and <PHONE_5>, their <NAME_4>" {
		t.Errorf("Rebase = %q", got)
	}
}

func mapKeys(m map[string]string) (out []string) {
	for k := range m {
		out = append(out, k)
	}
	return out
}

func mapValues(m map[string]string) (out []string) {
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
