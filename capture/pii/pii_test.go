package pii

import (
	"strings"
	"testing"
)

func mustNew(t testing.TB, cfg Config) *Scrubber {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return s
}

func TestChecksums(t *testing.T) {
	if !verhoeff("2363") || verhoeff("2364") {
		t.Errorf("verhoeff 2363/2364 wrong")
	}
	if !verhoeff("521185133376") {
		t.Errorf("verhoeff(521185133376) = false, want true")
	}
	if got := verhoeffDigit("52118513337"); got != '6' {
		t.Errorf("verhoeffDigit = %c, want 6", got)
	}
	if !luhn("4111111111111111") || luhn("4111111111111112") {
		t.Errorf("luhn wrong")
	}
	if !validCPF("52998224725") || validCPF("52998224726") || validCPF("11111111111") {
		t.Errorf("CPF wrong")
	}
	if !validCNPJ("11222333000181") || validCNPJ("11222333000182") {
		t.Errorf("CNPJ wrong")
	}
	if !mod97("GB82WEST12345698765432") || mod97("GB82WEST12345698765433") {
		t.Errorf("mod97 wrong")
	}
}

func TestDetectTable(t *testing.T) {
	s := mustNew(t, Config{})
	cases := []struct {
		text, want string // want: the matched substring, "" for none
		typ        string
	}{
		{"mail me at jane.doe+x@example.co.uk.", "jane.doe+x@example.co.uk", TypeEmail},
		{"root@localhost is local", "", ""},
		{"écrivez à josé.müller@exemple.fr", "josé.müller@exemple.fr", TypeEmail},
		{"call +254 712 345 678 now", "+254 712 345 678", TypePhone},
		{"call +44 (0)20 7946 0958", "+44 (0)20 7946 0958", TypePhone},
		{"tel 0712 345 678", "0712 345 678", TypePhone},
		{"ring (415) 555-0132 today", "(415) 555-0132", TypePhone},
		{"ligue (11) 98765-4321", "(11) 98765-4321", TypePhone},
		{"whatsapp 254712345678", "254712345678", TypePhone},
		{"on 2024-03-15 at 14:30", "", ""},
		{"price 1,299.99", "", ""},
		{"card 4111 1111 1111 1111 exp", "4111 1111 1111 1111", TypeCard},
		{"card 4111 1111 1111 1112 exp", "", ""},
		{"IBAN GB82 WEST 1234 5698 7654 32.", "GB82 WEST 1234 5698 7654 32", TypeIBAN},
		{"IBAN GB82 WEST 1234 5698 7654 33.", "", ""},
		{"from 192.168.10.254, ok", "192.168.10.254", TypeIP},
		{"version 1.2.3.4.5", "", ""},
		{"v1.2.3.4", "", ""},
		{"host 2001:db8::8a2e:370:7334 up", "2001:db8::8a2e:370:7334", TypeIP},
		{"at 12:30:45", "", ""},
		{"aadhaar 5211 8513 3376", "5211 8513 3376", TypeAadhaar},
		{"CPF 529.982.247-25", "529.982.247-25", TypeCPF},
		{"CNPJ 11.222.333/0001-81", "11.222.333/0001-81", TypeCNPJ},
		{"ID 8001015009087", "8001015009087", TypeZAID},
		{"ID no. 23456789", "23456789", TypeKEID},
		{"order id 23456789", "", ""},
		{"my NIN is 12345678901", "12345678901", TypeNIN},
		{"BVN: 22123456789", "22123456789", TypeBVN},
		{"SSN 123-45-6789", "123-45-6789", TypeSSN},
		{"SSN 666-45-6789", "", ""},
		{"NI number QQ 12 34 56 C", "", ""},
		{"NI number AB 12 34 56 C", "AB 12 34 56 C", TypeNINO},
		{"INV4111111111111111", "", ""},
	}
	for _, c := range cases {
		got := s.Detect(c.text)
		if c.want == "" {
			if len(got) != 0 {
				t.Errorf("Detect(%q) = %+v, want none", c.text, got)
			}
			continue
		}
		if len(got) != 1 || c.text[got[0].Start:got[0].End] != c.want || got[0].Type != c.typ {
			t.Errorf("Detect(%q) = %+v, want %s %q", c.text, got, c.typ, c.want)
		}
	}
}

func TestSessionNumbering(t *testing.T) {
	s := mustNew(t, Config{})
	ss := s.NewSession()
	a := ss.Scrub("write to a@x.org and b@x.org, then A@x.org")
	b := ss.Scrub("I wrote to b@x.org")
	if want := "write to <EMAIL_1> and <EMAIL_2>, then <EMAIL_1>"; a.Text != want {
		t.Errorf("first text = %q, want %q", a.Text, want)
	}
	if want := "I wrote to <EMAIL_2>"; b.Text != want {
		t.Errorf("second text = %q, want %q", b.Text, want)
	}
	if r := s.Scrub("b@x.org"); r.Text != "<EMAIL_1>" {
		t.Errorf("fresh Scrub = %q, want <EMAIL_1>", r.Text)
	}
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{Packs: []string{"XX"}}); err == nil {
		t.Errorf("unknown pack accepted")
	}
	if _, err := New(Config{Types: []string{"NOPE"}}); err == nil {
		t.Errorf("unknown type accepted")
	}
	if _, err := New(Config{Packs: []string{"BR"}, Types: []string{TypeAadhaar}}); err == nil {
		t.Errorf("type without its pack accepted")
	}
	s := mustNew(t, Config{Packs: []string{"BR"}})
	if got := s.Detect("aadhaar 5211 8513 3376"); len(got) != 0 {
		t.Errorf("IN pack off but found %+v", got)
	}
	s = mustNew(t, Config{Types: []string{TypeEmail}})
	r := s.Scrub("a@x.org +254 712 345 678")
	if !strings.Contains(r.Text, "+254 712 345 678") || len(r.Found) != 1 {
		t.Errorf("Types filter: got %q %+v", r.Text, r.Found)
	}
}

func TestOverlapLongestWins(t *testing.T) {
	s := mustNew(t, Config{})
	r := s.Scrub("addr ::ffff:192.168.1.1 end")
	if r.Text != "addr <IP_1> end" {
		t.Errorf("got %q", r.Text)
	}
}
