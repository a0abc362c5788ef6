package fabric

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func TestCertifyVerify(t *testing.T) {
	opPub, op := newOperator(t)
	node := newIdentity(t)
	c, err := Certify(op, node.Public, "nbo-moh-1", "KE-NBO", 24*time.Hour, t0.Add(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != CertVersion || c.NodeID != node.ID || c.Site != "nbo-moh-1" || c.Jurisdiction != "KE-NBO" ||
		!c.Issued.Equal(t0) || !c.Expires.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("cert = %+v", c)
	}
	if !c.Matches(node.Public) {
		t.Error("Matches(own key) = false")
	}
	if c.Matches(newIdentity(t).Public) || c.Matches(nil) {
		t.Error("Matches(other key) = true")
	}
	_, otherOp := newOperator(t)
	for _, tc := range []struct {
		name string
		op   ed25519.PublicKey
		now  time.Time
		want error
	}{
		{"at issue", opPub, t0, nil},
		{"just before expiry", opPub, t0.Add(24*time.Hour - time.Nanosecond), nil},
		{"at expiry", opPub, t0.Add(24 * time.Hour), ErrExpired},
		{"long after", opPub, t0.Add(365 * 24 * time.Hour), ErrExpired},
		{"before issue", opPub, t0.Add(-time.Second), ErrNotYetValid},
		{"other operator", otherOp.Public().(ed25519.PublicKey), t0.Add(time.Hour), ErrBadSignature},
	} {
		err := c.Verify(tc.op, tc.now)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v; want %v", tc.name, err, tc.want)
		}
	}
}

// TestCertTamper changes each signed field in turn: every change must fail
// verification.
func TestCertTamper(t *testing.T) {
	opPub, op := newOperator(t)
	node := newIdentity(t)
	other := newIdentity(t)
	good, err := Certify(op, node.Public, "site", "KE", time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Minute)
	cases := []struct {
		name   string
		tamper func(c *Cert)
		want   error
	}{
		{"version", func(c *Cert) { c.Version = 2 }, ErrInvalidCert},
		{"node id", func(c *Cert) { c.NodeID = other.ID }, ErrInvalidCert},
		{"node key and id", func(c *Cert) { c.NodePublic, c.NodeID = other.Public, other.ID }, ErrBadSignature},
		{"site", func(c *Cert) { c.Site = "sitf" }, ErrBadSignature},
		{"jurisdiction", func(c *Cert) { c.Jurisdiction = "NG" }, ErrBadSignature},
		{"issued", func(c *Cert) { c.Issued = c.Issued.Add(-time.Hour) }, ErrBadSignature},
		{"expires", func(c *Cert) { c.Expires = c.Expires.Add(365 * 24 * time.Hour) }, ErrBadSignature},
		{"signature bit", func(c *Cert) { c.Signature[7] ^= 1 }, ErrBadSignature},
		{"signature length", func(c *Cert) { c.Signature = c.Signature[:10] }, ErrInvalidCert},
		{"sub-second time", func(c *Cert) { c.Issued = c.Issued.Add(time.Millisecond) }, ErrInvalidCert},
		// Moving bytes between fields keeps the concatenation the same;
		// the length prefixes tell them apart.
		{"shift site into jurisdiction", func(c *Cert) { c.Site, c.Jurisdiction = "sit", "eKE" }, ErrBadSignature},
	}
	for _, tc := range cases {
		c := *good
		c.NodePublic = bytes.Clone(good.NodePublic)
		c.Signature = bytes.Clone(good.Signature)
		tc.tamper(&c)
		if err := c.Verify(opPub, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v; want %v", tc.name, err, tc.want)
		}
	}
	if err := good.Verify(opPub, now); err != nil {
		t.Fatalf("untampered cert: %v", err)
	}
	var nilCert *Cert
	if err := nilCert.Verify(opPub, now); !errors.Is(err, ErrInvalidCert) {
		t.Errorf("nil cert: Verify = %v; want ErrInvalidCert", err)
	}
}

func TestCertifyRejectsBadInput(t *testing.T) {
	_, op := newOperator(t)
	node := newIdentity(t)
	for _, tc := range []struct {
		name     string
		op       ed25519.PrivateKey
		pub      ed25519.PublicKey
		site, j  string
		validity time.Duration
		want     string
	}{
		{"short operator key", op[:10], node.Public, "s", "KE", time.Hour, "operator key"},
		{"short node key", op, node.Public[:5], "s", "KE", time.Hour, "node key"},
		{"empty site", op, node.Public, "", "KE", time.Hour, "site"},
		{"site with space", op, node.Public, "a b", "KE", time.Hour, "site"},
		{"lower-case jurisdiction", op, node.Public, "s", "ke", time.Hour, "jurisdiction"},
		{"jurisdiction with dot", op, node.Public, "s", "K.E", time.Hour, "jurisdiction"},
		{"no validity", op, node.Public, "s", "KE", 0, "validity"},
	} {
		if _, err := Certify(tc.op, tc.pub, tc.site, tc.j, tc.validity, t0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Certify = %v; want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestCertJSONAndFiles(t *testing.T) {
	opPub, op := newOperator(t)
	node := newIdentity(t)
	c, err := Certify(op, node.Public, "site", "BR", time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if got, err := LoadCertIfExists(dir); got != nil || err != nil {
		t.Fatalf("LoadCertIfExists(empty dir) = %v, %v; want nil, nil", got, err)
	}
	if err := WriteCert(CertPath(dir), c); err != nil {
		t.Fatal(err)
	}
	back, err := LoadCertIfExists(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(opPub, t0); err != nil {
		t.Errorf("reloaded cert: %v", err)
	}
	data, _ := os.ReadFile(CertPath(dir))
	for _, want := range []string{`"node_public_key": "` + node.PublicHex() + `"`, `"jurisdiction": "BR"`, `"issued": "2026-11-28T12:00:00Z"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("cert file lacks %s:\n%s", want, data)
		}
	}

	// Bad files give ErrInvalidCert.
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(map[string]any){
		"unknown field":  func(m map[string]any) { m["extra"] = 1 },
		"key not hex":    func(m map[string]any) { m["node_public_key"] = "zz" },
		"sig not base64": func(m map[string]any) { m["signature"] = "!!" },
		"wrong node id":  func(m map[string]any) { m["node_id"] = "node-0000000000000000" },
	} {
		mm := make(map[string]any)
		for k, v := range m {
			mm[k] = v
		}
		edit(mm)
		bad, _ := json.Marshal(mm)
		if _, err := ParseCert(bad); !errors.Is(err, ErrInvalidCert) {
			t.Errorf("%s: ParseCert = %v; want ErrInvalidCert", name, err)
		}
	}
	if _, err := ParseCert([]byte("not json")); !errors.Is(err, ErrInvalidCert) {
		t.Errorf("garbage: ParseCert = %v; want ErrInvalidCert", err)
	}
}

func TestOperatorKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "operator.key")
	pub, err := CreateOperatorKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %04o; want 0600", st.Mode().Perm())
	}
	priv, err := LoadOperatorKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Public().(ed25519.PublicKey).Equal(pub) {
		t.Error("loaded key's public half differs from the one created")
	}
	if _, err := CreateOperatorKey(path); err == nil {
		t.Error("CreateOperatorKey replaced an existing key")
	}
	if got, _ := LoadOperatorKey(path); !got.Equal(priv) {
		t.Error("key changed after a refused re-create")
	}
	if runtime.GOOS != "windows" {
		os.Chmod(path, 0o644)
		if _, err := LoadOperatorKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("LoadOperatorKey(0644) = %v; want a refusal", err)
		}
	}
	// Garbage fails clearly.
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("hello"), 0o600)
	if _, err := LoadOperatorKey(bad); err == nil || !strings.Contains(err.Error(), "PEM") {
		t.Errorf("LoadOperatorKey(garbage) = %v; want a PEM error", err)
	}
}
