package identity

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	id, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^node-[0-9a-f]{16}$`).MatchString(id.ID) {
		t.Errorf("ID %q; want node- and 16 hex digits", id.ID)
	}
	if id.ID != NodeID(id.Public) || len(id.Public) != ed25519.PublicKeySize {
		t.Errorf("ID %q does not derive from the public key", id.ID)
	}
	msg := []byte("checkpoint")
	if !ed25519.Verify(id.Public, msg, ed25519.Sign(id.Private, msg)) {
		t.Error("private and public key do not match")
	}
	fi, err := os.Stat(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v; want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(Path(dir))
	if !bytes.HasPrefix(data, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Errorf("key file starts %q; want a PEM private key", data[:20])
	}
	again, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != id.ID || !again.Public.Equal(id.Public) {
		t.Errorf("second start: %s; want the same identity %s", again.ID, id.ID)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".node.key.*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	got, err := ParsePublicKey(id.PublicHex())
	if err != nil || !got.Equal(id.Public) {
		t.Errorf("ParsePublicKey(PublicHex()) = %x, %v", got, err)
	}
}

func TestConcurrentFirstStart(t *testing.T) {
	dir := t.TempDir()
	ids := make([]string, 16)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			id, err := LoadOrCreate(dir)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = id.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent first starts got different identities: %v", ids)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing key: %v; want fs.ErrNotExist", err)
	}
	good, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := encodeKey(good.Private)
	for _, tc := range []struct {
		name string
		data []byte
		mode os.FileMode
		want string
	}{
		{"readable by others", pem, 0o644, "chmod 600"},
		{"writable by group", pem, 0o620, "chmod 600"},
		{"not PEM", []byte("hello"), 0o600, "corrupt"},
		{"truncated", pem[:len(pem)/2], 0o600, "corrupt"},
		{"wrong block", bytes.Replace(pem, []byte("PRIVATE KEY"), []byte("PUBLIC KEY"), 2), 0o600, "corrupt"},
		{"trailing junk", append(append([]byte(nil), pem...), "junk"...), 0o600, "corrupt"},
		{"empty", nil, 0o600, "corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(Path(dir), tc.data, tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(Path(dir), tc.mode)
			_, err := LoadOrCreate(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadOrCreate: %v; want an error containing %q", err, tc.want)
			}
			if now, _ := os.ReadFile(Path(dir)); !bytes.Equal(now, tc.data) {
				t.Error("the key file was changed")
			}
		})
	}
	for _, s := range []string{"", "zz", "abcd", strings.Repeat("0", 66)} {
		if _, err := ParsePublicKey(s); err == nil {
			t.Errorf("ParsePublicKey(%q) succeeded", s)
		}
	}
}
