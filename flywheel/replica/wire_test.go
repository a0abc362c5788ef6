package replica

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/flywheel/registry"
)

var update = flag.Bool("update", false, "rewrite testdata's frames from this version's encoding")

// homeKey is the fixed key the frames' manifest is signed with.
func homeKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
}

func frameManifest() *Manifest {
	at := time.Date(2026, 12, 8, 9, 30, 15, 123456789, time.UTC)
	return &Manifest{Tenant: "acme", Name: "faq", Version: 2, Created: at.Add(-time.Hour),
		SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Size: 1048640,
		Base: registry.Base{Name: "stories260k", Digest: "270cb9ceb5a3e2b5a6c1bba5f1c3b3b4d36e3d0e36f8b5c8e8b1f1e3e0a1b2c3", Arch: "llama"},
		Node: "node-4f2a9c0d1e3b5a71", Home: "node-0b1c2d3e4f5a6b7c", Jurisdiction: "NG", Issued: at}
}

func frameListing() *Listing {
	m := frameManifest()
	return &Listing{Tenant: "acme", Adapters: []Listed{
		{Name: "faq", Version: 1, Base: m.Base, Size: 1048640, Created: m.Created.Add(-24 * time.Hour)},
		{Name: "faq", Version: 2, Base: m.Base, Size: m.Size, Created: m.Created},
	}, Node: m.Node, Home: m.Home, Jurisdiction: m.Jurisdiction, Issued: m.Issued}
}

// TestFrames: each payload and answer encodes to the bytes in testdata
// and decodes back to the value it holds, so nodes of later versions keep
// understanding this one. go test -run TestFrames -update rewrites them.
func TestFrames(t *testing.T) {
	signed, err := signManifest(homeKey(), frameManifest())
	if err != nil {
		t.Fatal(err)
	}
	listing, err := signListing(homeKey(), frameListing())
	if err != nil {
		t.Fatal(err)
	}
	digest := frameManifest().Base.Digest
	tests := []struct {
		file string
		v    any // a pointer to the value the frame holds
	}{
		{"manifest-request.json", &manifestMsg{Tenant: "acme", Adapter: "faq@2", BaseDigest: digest}},
		{"manifest-request-latest.json", &manifestMsg{Tenant: "acme", Adapter: "faq", BaseDigest: digest}},
		{"chunk-request.json", &chunkMsg{Tenant: "acme", Adapter: "faq@2", SHA256: frameManifest().SHA256, Offset: 262144, Length: 262144}},
		{"list-request.json", &listMsg{Tenant: "acme"}},
		{"answer-manifest.json", &answer{Signed: signed}},
		{"answer-listing.json", &answer{Listing: listing}},
		{"answer-chunk.json", &answer{Data: []byte("GGUF\x03\x00\x00\x00")}},
		{"answer-not-found.json", &answer{Error: codeNotFound, Message: `node node-0b1c2d3e4f5a6b7c: registry: not found: no version 2 of adapter "faq"`}},
		{"answer-unknown-tenant.json", &answer{Error: codeNoTenant, Message: `no tenant "acme" on node node-0b1c2d3e4f5a6b7c`}},
		{"answer-not-permitted.json", &answer{Error: codeNotPermitted, Message: "tenant acme's policy permits NG, KE, not ZA, where node node-5e6f7a8b9c0d1e2f is: its adapters do not go there"}},
		{"answer-base-mismatch.json", &answer{Error: codeBaseMismatch, Message: "registry: adapter and base model do not match: faq@2 was trained on stories260k (sha256 270cb9ceb5a3…), this base's sha256 is abababababab…"}},
		{"answer-retired.json", &answer{Error: codeRetired, Message: "faq@2 is retired on node node-0b1c2d3e4f5a6b7c"}},
		{"answer-too-large.json", &answer{Error: codeTooLarge, Message: "faq@2 is 2147483648 bytes; node node-0b1c2d3e4f5a6b7c hands out at most 1073741824"}},
		{"answer-invalid.json", &answer{Error: codeInvalid, Message: "chunk at -1 of 5 bytes: want an offset >= 0 and 1 to 262144 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			frame, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			frame = bytes.TrimSuffix(frame, []byte("\n"))
			if !bytes.Equal(b, frame) {
				t.Errorf("encoded\n %s\ntestdata\n %s", b, frame)
			}
			got := reflect.New(reflect.TypeOf(tt.v).Elem()).Interface()
			if err := json.Unmarshal(frame, got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.v) {
				t.Errorf("decoded\n %#v\nwant\n %#v", got, tt.v)
			}
		})
	}
}

// TestManifestSignature: the frame's manifest verifies with the home's
// key and decodes to what was signed; a changed byte, another key or
// another domain's signature does not verify.
func TestManifestSignature(t *testing.T) {
	frame, err := os.ReadFile(filepath.Join("testdata", "answer-manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var a answer
	if err := json.Unmarshal(frame, &a); err != nil || a.Signed == nil {
		t.Fatalf("answer-manifest.json: %v", err)
	}
	pub := homeKey().Public().(ed25519.PublicKey)
	m, err := a.Signed.Open(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, frameManifest()) {
		t.Errorf("opened %+v; want %+v", m, frameManifest())
	}
	other, _, _ := ed25519.GenerateKey(nil)
	changed := *a.Signed
	changed.Manifest = bytes.Replace(bytes.Clone(changed.Manifest), []byte(`"size":1048640`), []byte(`"size":1048641`), 1)
	otherDomain := SignedManifest{Manifest: a.Signed.Manifest, Sig: ed25519.Sign(homeKey(), a.Signed.Manifest)} // no domain
	for name, tc := range map[string]struct {
		s   SignedManifest
		key ed25519.PublicKey
	}{
		"a changed size":        {changed, pub},
		"another key":           {*a.Signed, other},
		"no domain separation":  {otherDomain, pub},
		"a truncated signature": {SignedManifest{Manifest: a.Signed.Manifest, Sig: a.Signed.Sig[:10]}, pub},
		"no key":                {*a.Signed, nil},
	} {
		if _, err := tc.s.Open(tc.key); !errors.Is(err, ErrTampered) {
			t.Errorf("%s: Open = %v; want ErrTampered", name, err)
		}
	}
}

// TestListingSignature: the frame's listing verifies with the home's key
// and decodes to what was signed; a changed byte, another key, or a
// manifest's signature over the same bytes does not verify.
func TestListingSignature(t *testing.T) {
	frame, err := os.ReadFile(filepath.Join("testdata", "answer-listing.json"))
	if err != nil {
		t.Fatal(err)
	}
	var a answer
	if err := json.Unmarshal(frame, &a); err != nil || a.Listing == nil {
		t.Fatalf("answer-listing.json: %v", err)
	}
	pub := homeKey().Public().(ed25519.PublicKey)
	l, err := a.Listing.Open(pub)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l, frameListing()) {
		t.Errorf("opened %+v; want %+v", l, frameListing())
	}
	other, _, _ := ed25519.GenerateKey(nil)
	changed := *a.Listing
	changed.Listing = bytes.Replace(bytes.Clone(changed.Listing), []byte(`"version":2`), []byte(`"version":3`), 1)
	asManifest := SignedListing{Listing: a.Listing.Listing, Sig: ed25519.Sign(homeKey(), append([]byte(manifestDomain), a.Listing.Listing...))}
	for name, tc := range map[string]struct {
		s   SignedListing
		key ed25519.PublicKey
	}{
		"a changed version":     {changed, pub},
		"another key":           {*a.Listing, other},
		"a manifest's domain":   {asManifest, pub},
		"a truncated signature": {SignedListing{Listing: a.Listing.Listing, Sig: a.Listing.Sig[:10]}, pub},
		"no key":                {*a.Listing, nil},
	} {
		if _, err := tc.s.Open(tc.key); !errors.Is(err, ErrTampered) {
			t.Errorf("%s: Open = %v; want ErrTampered", name, err)
		}
	}
}

// TestAnswerCodes: every code reads back as its error, naming the node
// and repeating at most a bounded part of its message.
func TestAnswerCodes(t *testing.T) {
	for code, want := range codes {
		b, err := refusal(code, "why")
		if err != nil {
			t.Fatal(err)
		}
		_, err = readAnswer("ng-1", b)
		if !errors.Is(err, want) || !strings.Contains(err.Error(), "ng-1") || !strings.Contains(err.Error(), "why") {
			t.Errorf("%s: readAnswer = %v; want %v naming the node and the message", code, err, want)
		}
	}
	long, _ := refusal("new_code", strings.Repeat("x", 1<<20))
	_, err := readAnswer("ng-1", long)
	if err == nil || !strings.Contains(err.Error(), "new_code") || len(err.Error()) > 2*maxMessage {
		t.Errorf("an unknown code with a long message: %d bytes of error; want the code, bounded", len(err.Error()))
	}
	if _, err := readAnswer("ng-1", []byte("{")); err == nil {
		t.Error("a torn answer reads without error")
	}
}
