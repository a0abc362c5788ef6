package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHostileAmplification: against a real node whose tenant captures
// everything, no request makes the node hold, store or write much more
// than the request is, or than its tokens pay for. It used to: eight 8 MB
// bodies padded with an unknown field of 4 million numbers took the node
// from 140 MB to 1.6 GB, a 7 MB padding grew the database by 15 MB for 44
// tokens, an 8 MB model name wrote 16 MB of audit, 2,000 refusals 1 MB of
// it, and a 5 MB response id came back whole in the error and the log.
func TestHostileAmplification(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("the node's peak RSS is read from /proc")
	}
	dir := t.TempDir()
	mustRun(t, dir, "tenants", "create", "acme", "--capture", "on", "--retention-days", "30", "--models", "stories260k")
	acme, _ := mustRun(t, dir, "keys", "create", "--tenant", "acme")
	fbOnly, _ := mustRun(t, dir, "keys", "create", "--tenant", "acme", "--scopes", "feedback")
	acme, fbOnly = strings.TrimSpace(acme), strings.TrimSpace(fbOnly)
	n := startNode(t, "--data-dir", dir)
	c := loopbackOnly(n)
	c.Timeout = time.Minute // a node stuck writing a huge log line fails the test, not hangs it
	do := func(key, path, body string, header ...string) (int, string) {
		t.Helper()
		status, _, b := keyedRequest(t, c, "POST", n.url+path, key, body, header...)
		return status, b
	}
	captures := func() int { return auditCount(t, dir, `"kind":"capture"`) }
	msgs := `"messages":[{"role":"user","content":"hi"}]`

	// Memory: eight bodies just under the 8 MB limit, in parallel.
	junk := "[" + strings.Repeat("1,", 4_100_000) + "1]"
	body := `{"model":"stories260k","stream":false,"options":{"num_predict":2},"prompt":"hi","x_junk":` + junk + `}`
	hwm0 := peakRSS(t, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if status, b := do(acme, "/api/generate", body); status != 200 {
				t.Errorf("an 8 MB padded generate: %d %.200s", status, b)
			}
		})
	}
	wg.Wait()
	waitFor(t, func() bool { return captures() >= 8 })
	grew := peakRSS(t, n) - hwm0
	t.Logf("8 parallel 8 MB padded bodies: peak RSS %d MB -> %d MB", hwm0>>20, (hwm0+grew)>>20)
	if grew > 400<<20 {
		t.Errorf("8 padded requests grew the node's peak RSS by %d MB; want well under 400 MB", grew>>20)
	}

	// Storage: a capture keeps the conversation and the sampling settings,
	// not what else the body holds.
	db0 := dbSize(t, dir)
	keys := make([]string, 0, 400_000)
	for i := range 400_000 {
		keys = append(keys, `"k`+strconv.Itoa(i)+`":1`)
	}
	for _, pad := range []string{`"` + strings.Repeat("a", 7_000_000) + `"`, "{" + strings.Join(keys, ",") + "}"} {
		if status, b := do(acme, "/v1/chat/completions", `{"model":"stories260k","max_tokens":2,`+msgs+`,"x_junk":`+pad+`}`); status != 200 {
			t.Fatalf("a padded chat: %d %.200s", status, b)
		}
	}
	waitFor(t, func() bool { return captures() >= 10 })
	if grew := dbSize(t, dir) - db0; grew > 256<<10 {
		t.Errorf("two captured requests padded with 7 MB and 400,000 keys grew the database by %d KB", grew>>10)
	}
	longUser := `"` + strings.Repeat("u", 7_000_000) + `"`
	for _, path := range []string{"/v1/chat/completions", "/v1/completions"} {
		status, b := do(acme, path, `{"model":"stories260k","max_tokens":2,"prompt":"hi",`+msgs+`,"user":`+longUser+`}`)
		if status != 400 || !strings.Contains(b, `"param":"user"`) || !strings.Contains(b, "at most 256") || len(b) > 1024 {
			t.Errorf("%s with a 7 MB user: %d %.200s; want a short 400 naming 'user'", path, status, b)
		}
	}

	// Audit: a huge model name is refused before the gate records
	// anything; refusals repeated by one key are folded.
	audit0 := auditSize(t, dir)
	hugeModel := strings.Repeat("x", 8_000_000)
	for _, path := range []string{"/v1/chat/completions", "/api/chat", "/api/show"} {
		status, b := do(acme, path, `{"model":"`+hugeModel+`",`+msgs+`}`)
		if status != 400 || !strings.Contains(b, "'model' is 8000000 bytes long") || len(b) > 1024 {
			t.Errorf("%s with an 8 MB model name: %d %.200s; want a short 400 naming 'model'", path, status, b)
		}
	}
	for i := range 300 {
		if status, _ := do(acme, "/v1/chat/completions", `{"model":"other-`+strconv.Itoa(i%3)+`",`+msgs+`}`); status != 403 {
			t.Fatalf("a model outside the tenant's list: %d", status)
		}
		if status, _ := do(fbOnly, "/api/chat", `{"model":"stories260k",`+msgs+`}`); status != 403 {
			t.Fatalf("a key without the inference scope: %d", status)
		}
	}
	if grew := auditSize(t, dir) - audit0; grew > 8<<10 {
		t.Errorf("an 8 MB model name and 600 refusals added %d KB to the audit log; want a few records", grew>>10)
	}

	// Echoes: the error and the log line repeat 64 bytes of the client's
	// text, not all of it.
	big := strings.Repeat("Z", 900_000)
	for _, tc := range []struct {
		name, key, path, body string
		header                []string
		status                int
	}{
		{"a 5 MB response id", fbOnly, "/v1/feedback", `{"response_id":"` + strings.Repeat("Z", 5_000_000) + `","rating":1}`, nil, 404},
		{"a 5 MB role", acme, "/v1/chat/completions", `{"model":"stories260k","messages":[{"role":"` + strings.Repeat("Z", 5_000_000) + `","content":"x"}]}`, nil, 400},
		{"a 900 KB jurisdiction", acme, "/v1/chat/completions", `{"model":"stories260k",` + msgs + `}`, []string{"X-Hearth-Jurisdiction", big}, 400},
		{"a 900 KB path", acme, "/v1/" + big, `{}`, nil, 404},
	} {
		status, b := do(tc.key, tc.path, tc.body, tc.header...)
		if status != tc.status || len(b) > 1024 || !strings.Contains(b, "ZZZZ") {
			t.Errorf("%s: %d, a %d-byte answer %.200s; want %d, short", tc.name, status, len(b), b, tc.status)
		}
	}
	waitFor(t, func() bool { return strings.Count(n.stderr.String(), `msg=request`) > 0 })
	sc := bufio.NewScanner(strings.NewReader(n.stderr.String()))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if len(sc.Text()) > 4096 {
			t.Errorf("a %d-byte log line: %.200s", len(sc.Text()), sc.Text())
		}
	}
}

// peakRSS is the node process's peak resident memory (VmHWM) in bytes.
func peakRSS(t *testing.T, n *node) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// dbSize is the bytes of the node's database files (the WAL included).
func dbSize(t *testing.T, dir string) int64 {
	return globSize(t, filepath.Join(dir, "hearth.db*"))
}

// auditSize is the bytes of the node's audit segments.
func auditSize(t *testing.T, dir string) int64 {
	return globSize(t, filepath.Join(dir, "audit", "segment-*"))
}

func globSize(t *testing.T, pattern string) int64 {
	t.Helper()
	files, _ := filepath.Glob(pattern)
	var total int64
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			total += fi.Size()
		}
	}
	return total
}

// auditCount is the number of audit records holding s.
func auditCount(t *testing.T, dir, s string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "audit", "segment-*"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n += bytes.Count(b, []byte(s))
	}
	return n
}
