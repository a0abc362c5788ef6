package tenant

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, path := openFile(t, "", c)
	other, _ := openFile(t, path, c) // as another process would open it
	tn := mustTenant(t, s, Tenant{Name: "acme", Limits: Limits{TokensPerMinute: 1000}})
	secret, k := mustKey(t, s, "acme", KeyOptions{Name: "ci", Scopes: []Scope{"feedback", "inference", "feedback"}, Limits: Limits{RequestsPerMinute: 5}})

	if len(secret) != 55 || !strings.HasPrefix(secret, "hk_") || strings.Trim(secret[3:], b32alphabet) != "" {
		t.Errorf("secret %q: want hk_ and 52 characters of a-z2-7", secret)
	}
	if k.Prefix != secret[3:11] || !strings.HasPrefix(k.ID, "key_") || k.TenantID != tn.ID {
		t.Errorf("key %+v; want prefix %q, id key_..., tenant %s", k, secret[3:11], tn.ID)
	}
	if JoinScopes(k.Scopes) != "inference,feedback" {
		t.Errorf("scopes %v; want [inference feedback]", k.Scopes)
	}

	for name, st := range map[string]*Store{"same store": s, "second store": other} {
		p, err := st.Authenticate(ctx, secret)
		if err != nil {
			t.Fatalf("%s: authenticate: %v", name, err)
		}
		if p.Tenant.Name != "acme" || p.Tenant.ID != tn.ID || p.Key.ID != k.ID || p.Tenant.Limits.TokensPerMinute != 1000 ||
			p.Key.Limits.RequestsPerMinute != 5 || !p.Has(ScopeInference) || !p.Has(ScopeFeedback) || p.Has(ScopeAdmin) {
			t.Errorf("%s: principal %+v", name, p)
		}
	}
	got, err := s.GetKey(ctx, k.ID)
	if err != nil || got.Prefix != k.Prefix || !got.Revoked.IsZero() {
		t.Errorf("GetKey = %+v, %v", got, err)
	}

	// Revoking through one store is seen at once through the other.
	c.Add(time.Minute)
	rk, err := s.RevokeKey(ctx, k.ID)
	if err != nil || !rk.Revoked.Equal(c.Now()) {
		t.Fatalf("revoke = %+v, %v; want revoked at %v", rk, err, c.Now())
	}
	for name, st := range map[string]*Store{"same store": s, "second store": other} {
		_, err := st.Authenticate(ctx, secret)
		if !errors.Is(err, ErrRevoked) || !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: revoked key: %v; want ErrRevoked and ErrUnauthenticated", name, err)
		}
	}
	c.Add(time.Minute)
	if again, err := other.RevokeKey(ctx, k.ID); err != nil || !again.Revoked.Equal(rk.Revoked) {
		t.Errorf("revoking twice = %v, %v; want the first time %v kept", again.Revoked, err, rk.Revoked)
	}
	if _, err := s.RevokeKey(ctx, "key_nothere"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke unknown: %v; want ErrNotFound", err)
	}
	keys, err := s.ListKeys(ctx, "acme")
	if err != nil || len(keys) != 1 || keys[0].ID != k.ID || keys[0].Revoked.IsZero() {
		t.Errorf("ListKeys = %+v, %v", keys, err)
	}
	if _, err := s.ListKeys(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ListKeys of an unknown tenant: %v", err)
	}
}

func TestKeyExpiry(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := openFile(t, "", c)
	mustTenant(t, s, Tenant{Name: "acme"})
	secret, k := mustKey(t, s, "acme", KeyOptions{Expires: c.Now().Add(time.Hour)})
	if !k.Expires.Equal(c.Now().Add(time.Hour)) {
		t.Errorf("expires %v", k.Expires)
	}
	c.Add(time.Hour - time.Nanosecond)
	if _, err := s.Authenticate(ctx, secret); err != nil {
		t.Fatalf("a nanosecond before expiry: %v", err)
	}
	c.Add(time.Nanosecond)
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, ErrExpired) || !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("at expiry: %v; want ErrExpired", err)
	}
}

func TestDisabledTenant(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := openFile(t, "", c)
	mustTenant(t, s, Tenant{Name: "acme"})
	secret, _ := mustKey(t, s, "acme", KeyOptions{})
	s.UpdateTenant(ctx, "acme", func(t *Tenant) error { t.Disabled = true; return nil })
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, ErrDisabled) || !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("disabled tenant: %v; want ErrDisabled", err)
	}
	s.UpdateTenant(ctx, "acme", func(t *Tenant) error { t.Disabled = false; return nil })
	if _, err := s.Authenticate(ctx, secret); err != nil {
		t.Errorf("enabled again: %v", err)
	}
}

func TestTenantIsolation(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := openFile(t, "", c)
	a := mustTenant(t, s, Tenant{Name: "a"})
	b := mustTenant(t, s, Tenant{Name: "b"})
	var secretsA, secretsB []string
	for range 20 {
		sa, _ := mustKey(t, s, "a", KeyOptions{})
		sb, _ := mustKey(t, s, b.ID, KeyOptions{}) // by id too
		secretsA, secretsB = append(secretsA, sa), append(secretsB, sb)
	}
	for i := range secretsA {
		pa, err := s.Authenticate(ctx, secretsA[i])
		if err != nil || pa.Tenant.ID != a.ID || pa.Key.TenantID != a.ID {
			t.Errorf("key %d of a authenticates as %+v, %v", i, pa, err)
		}
		pb, err := s.Authenticate(ctx, secretsB[i])
		if err != nil || pb.Tenant.ID != b.ID || pb.Key.TenantID != b.ID {
			t.Errorf("key %d of b authenticates as %+v, %v", i, pb, err)
		}
	}
	// Revoking b's keys leaves a's alone.
	keys, _ := s.ListKeys(ctx, "b")
	for _, k := range keys {
		s.RevokeKey(ctx, k.ID)
	}
	for i := range secretsA {
		if _, err := s.Authenticate(ctx, secretsA[i]); err != nil {
			t.Errorf("a's key %d after revoking b's: %v", i, err)
		}
	}
	if keysA, _ := s.ListKeys(ctx, "a"); len(keysA) != 20 {
		t.Errorf("a has %d keys; want 20", len(keysA))
	}
}

func TestMalformedSecrets(t *testing.T) {
	c := newClock()
	s, _ := openFile(t, "", c)
	mustTenant(t, s, Tenant{Name: "acme"})
	good, _ := mustKey(t, s, "acme", KeyOptions{})
	// Malformed tokens must be refused without a database query: with the
	// database closed, they still get their own message, not a DB error.
	s.d.Close()
	tests := []struct {
		name, secret, want string
	}{
		{"empty", "", `must start with "hk_"`},
		{"openai key", "sk-" + good[3:], `must start with "hk_"`},
		{"upper-case prefix", "HK_" + good[3:], `must start with "hk_"`},
		{"short", good[:54], "54 characters, want 55"},
		{"long", good + "a", "56 characters, want 55"},
		{"bearer included", "Bearer " + good, `must start with "hk_"`},
		{"upper case", good[:10] + "A" + good[11:], "character 11 is not in a-z, 2-7"},
		{"digit 0", good[:54] + "0", "character 55"},
		{"digit 1", good[:20] + "1" + good[21:], "character 21"},
		{"space", good[:30] + " " + good[31:], "character 31"},
		{"non-ASCII", good[:52] + "é" + good[54:], "character 53"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Authenticate(context.Background(), tc.secret)
			if !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), "malformed API key: ") ||
				!strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v; want ErrUnauthenticated mentioning %q", err, tc.want)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("the message repeats the token")
			}
		})
	}
}

func TestUnknownSecret(t *testing.T) {
	c := newClock()
	s, _ := openFile(t, "", c)
	mustTenant(t, s, Tenant{Name: "acme"})
	good, _ := mustKey(t, s, "acme", KeyOptions{})
	// Well-formed, never issued: one character changed.
	flip := byte('a')
	if good[40] == 'a' {
		flip = 'b'
	}
	forged := good[:40] + string(flip) + good[41:]
	_, err := s.Authenticate(context.Background(), forged)
	if !errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrRevoked) || !strings.Contains(err.Error(), "unknown API key") {
		t.Errorf("unknown key: %v; want ErrUnauthenticated: unknown API key", err)
	}
}

// The database keeps hashes only: no secret, and no secret minus its
// display prefix, appears in the database files' bytes.
func TestHashOnlyStorage(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, path := openFile(t, "", c)
	mustTenant(t, s, Tenant{Name: "acme"})
	var secrets []string
	for range 10 {
		sec, _ := mustKey(t, s, "acme", KeyOptions{Name: "k"})
		secrets = append(secrets, sec)
	}
	s.Authenticate(ctx, secrets[0])
	var files [][]byte
	matches, _ := filepath.Glob(path + "*") // hearth.db, -wal, -shm
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if len(files) < 2 {
		t.Fatalf("found %v; want the database and its WAL", matches)
	}
	for _, sec := range secrets {
		for i, b := range files {
			if bytes.Contains(b, []byte(sec)) || bytes.Contains(b, []byte(sec[3+prefixLen:])) {
				t.Errorf("secret %s... found in %s", sec[:11], matches[i])
			}
		}
	}
	// The stored hash is the SHA-256 of the secret, and nothing else about
	// the secret beyond its prefix.
	var n int
	s.d.QueryRow(`SELECT count(*) FROM api_keys WHERE hash = ?`, hashSecret(secrets[3])).Scan(&n)
	if n != 1 {
		t.Errorf("%d rows with the secret's hash; want 1", n)
	}
}

// Parallel Authenticate and Revoke through two stores: no errors other
// than the expected ones, and once RevokeKey has returned, no
// Authenticate that starts afterwards succeeds.
func TestConcurrentAuthenticateRevoke(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s1, path := openFile(t, "", c)
	s2, _ := openFile(t, path, c)
	mustTenant(t, s1, Tenant{Name: "acme"})
	const n = 16
	secrets := make([]string, n)
	ids := make([]string, n)
	for i := range n {
		secrets[i], ids[i] = func() (string, string) { s, k := mustKey(t, s1, "acme", KeyOptions{}); return s, k.ID }()
	}
	revoked := make([]atomic.Bool, n)
	var wg sync.WaitGroup
	var accepted, refused atomic.Int64
	stop := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer halt() // also when a check below fails the test early
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := []*Store{s1, s2}[w%2]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				j := (i + w) % n
				wasRevoked := revoked[j].Load() // read before the call starts
				_, err := st.Authenticate(ctx, secrets[j])
				switch {
				case err == nil && wasRevoked:
					t.Errorf("key %d authenticated after its revocation returned", j)
					return
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, ErrRevoked):
					refused.Add(1)
				default:
					t.Errorf("key %d: %v", j, err)
					return
				}
			}
		}()
	}
	// Revoke while the workers run: wait until they are accepting keys.
	waitFor(t, func() bool { return accepted.Load() > 0 })
	for j := range n {
		time.Sleep(time.Millisecond)
		if _, err := []*Store{s2, s1}[j%2].RevokeKey(ctx, ids[j]); err != nil {
			t.Fatal(err)
		}
		revoked[j].Store(true)
	}
	waitFor(t, func() bool { return refused.Load() > 0 })
	halt()
	t.Logf("%d accepted, %d refused", accepted.Load(), refused.Load())
	if accepted.Load() == 0 || refused.Load() == 0 {
		t.Errorf("accepted %d, refused %d: want both to happen", accepted.Load(), refused.Load())
	}
	for j := range n {
		if _, err := s2.Authenticate(ctx, secrets[j]); !errors.Is(err, ErrRevoked) {
			t.Errorf("key %d at the end: %v", j, err)
		}
	}
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
	}
}
