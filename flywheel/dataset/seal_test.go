package dataset

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

// gcmSealer is a test Sealer: AES-GCM under a key per tenant; forget
// shreds a tenant's key.
type gcmSealer struct{ keys map[string][]byte }

func (g *gcmSealer) aead(tenant string) (cipher.AEAD, error) {
	k, ok := g.keys[tenant]
	if !ok {
		return nil, errors.New("key deleted")
	}
	b, _ := aes.NewCipher(k)
	return cipher.NewGCM(b)
}

func (g *gcmSealer) Seal(tenant string, p, aad []byte) ([]byte, error) {
	a, err := g.aead(tenant)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, a.NonceSize())
	rand.Read(nonce)
	return a.Seal(nonce, nonce, p, aad), nil
}

func (g *gcmSealer) Open(tenant string, c, aad []byte) ([]byte, error) {
	a, err := g.aead(tenant)
	if err != nil {
		return nil, err
	}
	if len(c) < a.NonceSize() {
		return nil, errors.New("short ciphertext")
	}
	return a.Open(nil, c[:a.NonceSize()], c[a.NonceSize():], aad)
}

func TestSealedExamples(t *testing.T) {
	ctx := context.Background()
	s, d := openStore(t)
	k := sha256.Sum256([]byte("tenant a"))
	sealer := &gcmSealer{keys: map[string][]byte{"tnt_a": k[:]}}
	s.SetSealer(sealer)
	set := newSynth(t)
	v, err := s.Build(ctx, Static(set.all), "tnt_a", "support", synthOptions)
	if err != nil {
		t.Fatal(err)
	}
	secret := set.byID["corr-07"].Correction
	var raw []byte
	rows, _ := d.Query(`SELECT messages FROM dataset_examples`)
	for rows.Next() {
		var b []byte
		rows.Scan(&b)
		raw = append(raw, b...)
	}
	rows.Close()
	if bytes.Contains(raw, []byte(secret[:20])) || bytes.Contains(raw, []byte(`"role"`)) {
		t.Error("plaintext in the database despite a Sealer")
	}
	var out bytes.Buffer
	if _, err := s.Export(ctx, "tnt_a", "support", v.Version, "all", &out); err != nil || !strings.Contains(out.String(), secret) {
		t.Errorf("sealed export: %v", err)
	}
	// Rows moved to another place fail authentication.
	if _, err := d.Exec(`UPDATE dataset_examples SET messages = (SELECT messages FROM dataset_examples WHERE seq = 1) WHERE seq = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "tnt_a", "support", 1); err == nil || !strings.Contains(err.Error(), "example 0") {
		t.Errorf("swapped ciphertext: %v; want an error naming example 0", err)
	}
	// Shredding the key leaves the dataset unreadable.
	delete(sealer.keys, "tnt_a")
	if _, err := s.Export(ctx, "tnt_a", "support", 1, "all", &out); err == nil {
		t.Error("export after the key was deleted succeeded")
	}
	// A store without the sealer says why it cannot read.
	s2, err := Open(ctx, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Get(ctx, "tnt_a", "support", 1); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Errorf("no sealer: %v", err)
	}
}
