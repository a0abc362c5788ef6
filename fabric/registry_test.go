package fabric

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTableAcceptReplaySkewExpiry(t *testing.T) {
	opPub, op := newOperator(t)
	cfg := testConfig(t, op, "s", "KE")
	clock := t0
	now := func() time.Time { return clock }
	tab := newTable(opPub, time.Second, 30*time.Second, now)
	id := cfg.Identity
	hb := func(seq uint64, boot int64, at time.Time) []byte {
		d, err := signHeartbeat(id.Private, &heartbeat{ID: id.ID, Site: "s", Jurisdiction: "KE",
			PublicKey: publicHex(id.Public), Time: at, Boot: boot, Seq: seq})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	subj := StatusSubject("KE", id.ID)
	if err := tab.accept(subj, hb(1, 100, clock), ""); err != nil {
		t.Fatal(err)
	}
	if err := tab.accept(subj, hb(1, 100, clock), ""); err == nil || !strings.Contains(err.Error(), "replayed") {
		t.Errorf("same heartbeat twice: %v; want a replay error", err)
	}
	if err := tab.accept(subj, hb(2, 100, clock), ""); err != nil {
		t.Errorf("next heartbeat: %v", err)
	}
	if err := tab.accept(subj, hb(1, 200, clock), ""); err != nil {
		t.Errorf("heartbeat after a restart: %v", err)
	}
	if err := tab.accept(subj, hb(9, 100, clock), ""); err == nil {
		t.Error("heartbeat from before the restart accepted")
	}
	if err := tab.accept(subj, hb(10, 300, clock.Add(-time.Minute)), ""); err == nil || !strings.Contains(err.Error(), "clock") {
		t.Errorf("minute-old heartbeat: %v; want a clock error", err)
	}
	if err := tab.accept(StatusSubject("NG", id.ID), hb(11, 300, clock), ""); !errors.Is(err, errForged) {
		t.Errorf("heartbeat on another jurisdiction's subject: %v; want errForged", err)
	}

	// Expiry: alive at 3 intervals, gone just after.
	clock = clock.Add(3 * time.Second)
	if _, ok := tab.get(id.ID); !ok {
		t.Error("expired at exactly 3 intervals")
	}
	clock = clock.Add(time.Millisecond)
	if _, ok := tab.get(id.ID); ok {
		t.Error("still listed after 3 missed heartbeats")
	}
	if n := len(tab.list()); n != 0 {
		t.Errorf("list has %d entries after expiry", n)
	}
}

func TestCertifiedTurnsFalseAtCertExpiry(t *testing.T) {
	opPub, op := newOperator(t)
	cfg := testConfig(t, op, "s", "KE")
	var err error
	if cfg.Cert, err = Certify(op, cfg.Identity.Public, "s", "KE", 2*time.Second, t0); err != nil {
		t.Fatal(err)
	}
	clock := t0.Add(time.Second)
	tab := newTable(opPub, time.Minute, time.Hour, func() time.Time { return clock })
	d, err := signHeartbeat(cfg.Identity.Private, &heartbeat{ID: cfg.Identity.ID, Site: "s", Jurisdiction: "KE",
		PublicKey: publicHex(cfg.Identity.Public), Cert: mustRawCert(t, cfg.Cert), Time: clock, Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.accept(StatusSubject("KE", cfg.Identity.ID), d, ""); err != nil {
		t.Fatal(err)
	}
	if p, _ := tab.get(cfg.Identity.ID); !p.Certified {
		t.Fatalf("Certified = false (%s) within validity", p.CertProblem)
	}
	clock = t0.Add(2 * time.Second)
	if p, _ := tab.get(cfg.Identity.ID); p.Certified || !strings.Contains(p.CertProblem, "expired") {
		t.Errorf("at cert expiry, with no new heartbeat: Certified = %v (%q); want false, expired", p.Certified, p.CertProblem)
	}
}

func TestPeerCertifyNoOperator(t *testing.T) {
	_, op := newOperator(t)
	cfg := testConfig(t, op, "s", "KE")
	p := Peer{ID: cfg.Identity.ID, Site: "s", Jurisdiction: "KE", PublicKey: cfg.Identity.Public, Cert: cfg.Cert}
	p.certify(nil, time.Now())
	if p.Certified || p.CertProblem != "no operator key configured" {
		t.Errorf("without an operator key: Certified = %v (%q)", p.Certified, p.CertProblem)
	}
}

func TestEWMA(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		avg, sample, want time.Duration
	}{
		{0, 10 * ms, 10 * ms},
		{10 * ms, 20 * ms, 13 * ms},
		{10 * ms, 0, 7 * ms},
		{10 * ms, 10 * ms, 10 * ms},
	} {
		if got := ewma(tc.avg, tc.sample); got != tc.want {
			t.Errorf("ewma(%v, %v) = %v; want %v", tc.avg, tc.sample, got, tc.want)
		}
	}
}

func TestUnreadableCertListedUncertified(t *testing.T) {
	opPub, op := newOperator(t)
	cfg := testConfig(t, op, "s", "KE")
	raw := mustRawCert(t, cfg.Cert)
	raw = []byte(strings.Replace(string(raw), `"version":1`, `"version":2`, 1))
	tab := newTable(opPub, time.Minute, time.Hour, time.Now)
	d, err := signHeartbeat(cfg.Identity.Private, &heartbeat{ID: cfg.Identity.ID, Site: "s", Jurisdiction: "KE",
		PublicKey: publicHex(cfg.Identity.Public), Cert: raw, Time: time.Now(), Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := tab.accept(StatusSubject("KE", cfg.Identity.ID), d, ""); err != nil {
		t.Fatalf("heartbeat with a version-2 cert refused: %v", err)
	}
	p, ok := tab.get(cfg.Identity.ID)
	if !ok || p.Certified || p.Cert != nil || !strings.Contains(p.CertProblem, "unreadable certificate") || !strings.Contains(p.CertProblem, "version 2") {
		t.Errorf("peer %+v, listed %v; want listed, uncertified, with an unreadable-certificate problem", p, ok)
	}
}

// TestLoadAdaptersWire: a heartbeat's load from a node that predates
// Load.Adapters decodes as before, with none, and encodes to the same
// bytes; one that lists adapters carries them.
func TestLoadAdaptersWire(t *testing.T) {
	old := `{"models":["stories260k"],"slots":4,"busy":1,"queue":2,"kv_used_bytes":10,"kv_total_bytes":100}`
	var l Load
	if err := json.Unmarshal([]byte(old), &l); err != nil {
		t.Fatal(err)
	}
	if l.Adapters != nil || l.Slots != 4 || l.Queue != 2 || len(l.Models) != 1 {
		t.Fatalf("old load decoded as %+v", l)
	}
	if b, _ := json.Marshal(l); string(b) != old {
		t.Errorf("old load re-encodes as %s; want %s", b, old)
	}
	l.Adapters = []string{"stories260k:faq@2"}
	b, _ := json.Marshal(l)
	var back Load
	if err := json.Unmarshal(b, &back); err != nil || len(back.Adapters) != 1 || back.Adapters[0] != "stories260k:faq@2" {
		t.Errorf("load with adapters: %s decodes to %+v, %v", b, back, err)
	}
}
