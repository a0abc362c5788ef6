package access

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/tenant"
)

// Refused authentications (401s) are audited, but an attacker who sends
// bad keys must not be able to grow the log at will. So they are folded
// per remote address: the first refusal from an address is recorded at
// once (denials "1"); those that follow within DenialWindow are counted
// and recorded together, as one record with their count, when the window
// ends; then a new window begins. An address thus costs the log at most
// one record per window, however fast it sends. The record holds the
// remote address, the path, the reason and the display prefix of a
// well-formed key (the 8 characters after "hk_" that `hearth keys list`
// shows), never the rest of a secret.
const (
	// DenialWindow is the period over which refusals from one address are
	// folded into one record.
	DenialWindow = time.Minute
	// maxDenialAddrs bounds the addresses tracked at once; beyond it,
	// refusals from new addresses are folded under otherAddrs.
	maxDenialAddrs = 4096
	otherAddrs     = "(other addresses)"
	// maxPrefixes bounds the distinct key prefixes one record lists.
	maxPrefixes = 8
	maxPathLen  = 128
)

// denials folds refused authentications per remote address.
type denials struct {
	mu     sync.Mutex
	byAddr map[string]*denialWindow
	timer  *time.Timer // fires when the earliest window with pending refusals ends
}

// denialWindow is one address's current window.
type denialWindow struct {
	end      time.Time // when the window closes
	pending  int       // refusals since the last record
	first    time.Time // time of the first pending one
	reason   string    // of the latest pending one
	path     string
	prefixes []string
}

// denied records a refused authentication of r (see DenialWindow).
func (g *Gate) denied(r *http.Request, cause error) {
	now := g.now()
	addr := remoteHost(r.RemoteAddr)
	secret := bearer(r)
	reason := "auth: no API key"
	if secret != "" {
		msg := strings.TrimPrefix(cause.Error(), api.ErrUnauthorized.Error()+": ")
		reason = "auth: " + strings.TrimPrefix(msg, tenant.ErrUnauthenticated.Error()+": ")
	}
	path := r.URL.Path
	if len(path) > maxPathLen {
		path = path[:maxPathLen] + "…"
	}
	prefix := keyPrefix(secret)

	d := &g.denials
	d.mu.Lock()
	recs := d.dueLocked(g, now)
	if d.byAddr == nil {
		d.byAddr = map[string]*denialWindow{}
	}
	w := d.byAddr[addr]
	if w == nil && len(d.byAddr) >= maxDenialAddrs {
		addr = otherAddrs
		w = d.byAddr[addr]
	}
	if w == nil {
		// The first refusal from this address in a window: recorded now.
		d.byAddr[addr] = &denialWindow{end: now.Add(DenialWindow)}
		detail := map[string]string{"remote_addr": addr, "denials": "1", "path": path}
		if prefix != "" {
			detail["key_prefix"] = prefix
		}
		recs = append(recs, g.denialRecord(reason, detail))
	} else {
		if w.pending == 0 {
			w.first = now
		}
		w.pending++
		w.reason, w.path = reason, path
		if prefix != "" && !slices.Contains(w.prefixes, prefix) && len(w.prefixes) < maxPrefixes {
			w.prefixes = append(w.prefixes, prefix)
		}
		d.armLocked(g, now)
	}
	d.mu.Unlock()
	g.appendDenials(recs)
}

// dueLocked closes the windows that have ended by now: one with pending
// refusals yields their record and starts a new window (so the address
// still gets at most one record per window); an idle one is forgotten.
func (d *denials) dueLocked(g *Gate, now time.Time) []audit.Record {
	var recs []audit.Record
	for addr, w := range d.byAddr {
		if now.Before(w.end) {
			continue
		}
		if w.pending == 0 {
			delete(d.byAddr, addr)
			continue
		}
		detail := map[string]string{"remote_addr": addr, "denials": strconv.Itoa(w.pending), "path": w.path,
			"since": w.first.UTC().Format(time.RFC3339Nano)}
		if len(w.prefixes) > 0 {
			detail["key_prefix"] = strings.Join(w.prefixes, ",")
		}
		recs = append(recs, g.denialRecord(w.reason, detail))
		d.byAddr[addr] = &denialWindow{end: now.Add(DenialWindow)}
	}
	return recs
}

// armLocked makes sure a timer will close the earliest window that has
// pending refusals, so their count is recorded even if the address falls
// silent.
func (d *denials) armLocked(g *Gate, now time.Time) {
	if d.timer != nil {
		return
	}
	var next time.Time
	for _, w := range d.byAddr {
		if w.pending > 0 && (next.IsZero() || w.end.Before(next)) {
			next = w.end
		}
	}
	if next.IsZero() {
		return
	}
	d.timer = time.AfterFunc(max(next.Sub(now), time.Second), func() { g.FlushDenials() })
}

// FlushDenials records the refusals of every window that has ended. A
// timer calls it; tests with a fake clock call it after moving the clock.
func (g *Gate) FlushDenials() {
	d := &g.denials
	now := g.now()
	d.mu.Lock()
	d.timer = nil
	recs := d.dueLocked(g, now)
	d.armLocked(g, now)
	d.mu.Unlock()
	g.appendDenials(recs)
}

// FlushAllDenials records every pending count now, whether or not its
// window has ended, and stops the timer: for a node shutting down, which
// would otherwise lose the refusals of the windows still open (the first
// refusal of each is always recorded at once).
func (g *Gate) FlushAllDenials() {
	d := &g.denials
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	for _, w := range d.byAddr {
		w.end = time.Time{} // every window ends now
	}
	recs := d.dueLocked(g, time.Time{})
	d.byAddr = nil
	d.mu.Unlock()
	g.appendDenials(recs)
}

func (g *Gate) denialRecord(reason string, detail map[string]string) audit.Record {
	return audit.Record{Kind: audit.KindRequest, Node: g.cfg.Node, Jurisdiction: g.cfg.Jurisdiction,
		Decision: "deny", Reason: reason, Detail: detail}
}

func (g *Gate) appendDenials(recs []audit.Record) {
	for _, r := range recs {
		if _, err := g.cfg.Audit.Append(context.Background(), r); err != nil {
			g.log.Error("audit append failed", "err", err, "reason", r.Reason, "remote_addr", r.Detail["remote_addr"])
		}
	}
}

// remoteHost is the address without its port: a client's connections
// come from many ports.
func remoteHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	if len(addr) > 64 {
		addr = addr[:64]
	}
	return addr
}

// keyPrefix is the display prefix of a token shaped like a Hearth key
// ("hk_" and at least 8 more characters of its alphabet), or "".
func keyPrefix(secret string) string {
	const n = len(tenant.SecretPrefix) + 8
	if len(secret) < n || !strings.HasPrefix(secret, tenant.SecretPrefix) {
		return ""
	}
	p := secret[len(tenant.SecretPrefix):n]
	for i := 0; i < len(p); i++ {
		if c := p[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return ""
		}
	}
	return p
}
