// Package gateway makes any node the entry point to the whole fleet: it
// sends each generation request to the best node the caller's tenant
// policy permits (route.Choose over the fabric's certified peers), serves
// it here when this node is that node, forwards it over NATS otherwise
// (fabric.Infer), and fails closed with a 503 naming the policy when no
// permitted node can serve. On the serving side it runs forwarded
// requests through the node's own API, as the tenant the gateway vouched
// for, so the serving node applies its policy checks and writes its own
// audit record.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearth-ai/hearth/access"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/route"
)

// JurisdictionHeader narrows a request to one of its tenant's permitted
// jurisdictions.
const JurisdictionHeader = "X-Hearth-Jurisdiction"

// resumeHeader carries an api.Resume (JSON) from a gateway to the node
// continuing a stream, inside the signed fabric request. The serving side
// takes it out before the request reaches the API; a client's own header
// of that name is never forwarded.
const resumeHeader = "X-Hearth-Resume"

// routed are the endpoints that run a model and so may run elsewhere.
var routed = map[string]bool{
	"/v1/chat/completions": true, "/v1/completions": true, "/v1/embeddings": true,
	"/api/chat": true, "/api/generate": true, "/api/embed": true, "/api/embeddings": true,
}

// Config configures a Router.
type Config struct {
	Fabric *fabric.Node   // required
	Local  http.Handler   // this node's API; required
	Gate   *access.Gate   // resolves callers to their tenant's policy; required
	Audit  access.Auditor // receives a "route" record per forwarded decision; optional
	Logger *slog.Logger
	// Attempts bounds how many nodes a request is tried on before its
	// response starts (a node that dies first is skipped). Default 3.
	Attempts int
	// MaxBody bounds request bodies read for routing. Default 8 MiB.
	MaxBody int64
	// Registerer, if set, gets the router's Prometheus metrics.
	Registerer prometheus.Registerer
}

// Router is the http.Handler in front of a node's API.
type Router struct {
	cfg Config
	log *slog.Logger
	met *metrics // nil without a Registerer

	mu       sync.Mutex
	inflight map[string]int // requests running on each node through this gateway
}

// running counts a request on node until the returned func is called.
func (rt *Router) running(node string) (done func()) {
	rt.mu.Lock()
	rt.inflight[node]++
	rt.mu.Unlock()
	return func() {
		rt.mu.Lock()
		if rt.inflight[node]--; rt.inflight[node] <= 0 {
			delete(rt.inflight, node)
		}
		rt.mu.Unlock()
	}
}

// inFlight is a copy of the running counts, for route.Query.
func (rt *Router) inFlight() map[string]int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return maps.Clone(rt.inflight)
}

// New checks cfg and registers the handler for forwarded requests.
func New(cfg Config) (*Router, error) {
	if cfg.Fabric == nil || cfg.Local == nil || cfg.Gate == nil {
		return nil, errors.New("gateway: Fabric, Local and Gate are required")
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 8 << 20
	}
	r := &Router{cfg: cfg, log: cfg.Logger, inflight: map[string]int{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer != nil {
		m, err := newMetrics(cfg.Registerer, cfg.Fabric)
		if err != nil {
			return nil, fmt.Errorf("gateway: metrics: %w", err)
		}
		r.met = m
	}
	if err := cfg.Fabric.HandleInfer(r.serveForwarded); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return r, nil
}

// ServeHTTP routes generation requests and passes everything else to the
// local API.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && (r.URL.Path == "/v1/models" || strings.HasPrefix(r.URL.Path, "/v1/models/")) {
		rt.serveModels(w, r)
		return
	}
	if r.Method != http.MethodPost || !routed[r.URL.Path] {
		rt.cfg.Local.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rt.cfg.MaxBody))
	if err != nil {
		// Let the API give its own answer (413, or a read error).
		r.Body = io.NopCloser(bytes.NewReader(body))
		rt.cfg.Local.ServeHTTP(w, r)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var peek struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content any    `json:"content"`
		} `json:"messages"`
	}
	pol, err := rt.cfg.Gate.PolicyOf(r)
	if json.Unmarshal(body, &peek) != nil || peek.Model == "" || err != nil {
		// Malformed, model-less or unauthenticated: the local API says why.
		rt.cfg.Local.ServeHTTP(w, r)
		return
	}
	q := route.Query{Model: peek.Model, Jurisdictions: pol.Jurisdictions, Narrow: r.Header.Get(JurisdictionHeader), Self: rt.cfg.Fabric.ID()}
	if len(peek.Messages) > 0 && peek.Messages[0].Role == "system" {
		if s, ok := peek.Messages[0].Content.(string); ok {
			q.PrefixKey = route.PrefixKey(s) // the same system prompt goes where its KV cache is
		}
	}
	x := &exchange{rt: rt, w: w, r: r, pol: pol, model: peek.Model, body: body}
	defer x.writeAudit()
	var lastErr error
	for attempt := 0; attempt < rt.cfg.Attempts; attempt++ {
		q.InFlight = rt.inFlight()
		d, err := route.Choose(rt.cfg.Fabric.Peers(), q)
		if err != nil {
			x.fail(err)
			return
		}
		x.record(d)
		if d.Node == q.Self && !x.wrote {
			rt.met.decided("local")
			defer rt.running(d.Node)()
			rt.cfg.Local.ServeHTTP(w, r)
			return
		}
		if d.Node == q.Self {
			rt.met.decided("local")
		} else {
			rt.met.decided("remote")
		}
		done := rt.running(d.Node)
		if d.Node == q.Self {
			err = x.resumeLocal()
		} else {
			err = x.remote(d.Node)
		}
		done()
		if err == nil {
			if x.tr != nil {
				x.tr.end()
			}
			return
		}
		if errors.Is(err, errClientGone) || r.Context().Err() != nil {
			return // nobody to answer; closing the stream cancelled the remote work
		}
		if x.wrote && (x.tr == nil || !x.tr.resumable()) {
			rt.log.Warn("forwarded response ended early and cannot be continued", "node", d.Node, "err", err)
			if x.tr != nil {
				x.tr.end()
			}
			return
		}
		if x.wrote {
			rt.met.retried("mid_stream")
			rt.log.Warn("node failed mid-stream; continuing on the next", "node", d.Node, "err", err)
		} else {
			rt.met.retried("before_answer")
			rt.log.Warn("node failed before answering; trying the next", "node", d.Node, "err", err)
		}
		lastErr = err
		q.Exclude = append(q.Exclude, d.Node)
	}
	x.fail(fmt.Errorf("%w: %d nodes failed (last: %v)", route.ErrNoPermittedNode, rt.cfg.Attempts, lastErr))
}

// exchange is one routed request and what of its response has reached
// the client.
type exchange struct {
	rt    *Router
	w     http.ResponseWriter
	r     *http.Request
	pol   access.Policy
	model string
	body  []byte
	wrote bool     // the response's status has gone to the client
	tr    *tracker // set when that response is a stream the gateway follows
	// decisions wait for the response to be sent: an audit append
	// waits for fsync, which must not delay the first token.
	decisions []audit.Record
	busy      *busyAnswer // the last overloaded node's answer
}

// busyAnswer is a 503 an overloaded node gave, passed on if no other
// permitted node can take the request.
type busyAnswer struct {
	node   string
	header map[string]string
	body   []byte
}

// remote runs the request on node and copies its response to the
// client, or, when a response is under way, has node continue it.
func (x *exchange) remote(node string) error {
	hdr := map[string]string{}
	for _, k := range []string{"Content-Type", "Accept", api.CaptureHeader, JurisdictionHeader} {
		if v := x.r.Header.Get(k); v != "" {
			hdr[k] = v
		}
	}
	if x.tr != nil && x.tr.begun() {
		rs, err := json.Marshal(x.tr.resume())
		if err != nil {
			return err
		}
		hdr[resumeHeader] = string(rs)
	}
	// The tenant goes by name: until tenants are shared fleet state, an
	// operator creates the same tenant on every node, and ids differ.
	req := &fabric.InferRequest{Tenant: x.pol.TenantName, KeyID: x.pol.KeyID, Jurisdictions: x.pol.Jurisdictions, Model: x.model,
		Path: x.r.URL.Path, Header: hdr, Body: x.body}
	sent := time.Now()
	s, err := x.rt.cfg.Fabric.Infer(x.r.Context(), node, req)
	if err != nil {
		return err
	}
	defer s.Close()
	status, head, err := s.Head()
	if err != nil {
		return err
	}
	x.rt.met.head(time.Since(sent))
	if x.tr != nil {
		if status != http.StatusOK {
			return fmt.Errorf("gateway: node %s answered the continuation with status %d", node, status)
		}
	} else if status == http.StatusServiceUnavailable {
		// The node is full: keep its answer (with Retry-After) for the
		// client in case no other node has room, and try the next.
		var body []byte
		for len(body) < 64<<10 {
			chunk, err := s.Next()
			if err != nil {
				break
			}
			body = append(body, chunk...)
		}
		x.busy = &busyAnswer{node: node, header: head, body: body}
		return fmt.Errorf("gateway: node %s is overloaded", node)
	} else {
		for k, v := range head {
			x.w.Header().Set(k, v)
		}
		x.w.Header().Set("X-Hearth-Node", node)
		x.w.WriteHeader(status)
		x.wrote = true
		if status == http.StatusOK {
			x.tr = newTracker(x.w, head["Content-Type"])
		}
	}
	flusher, _ := x.w.(http.Flusher)
	for {
		chunk, err := s.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if x.tr != nil {
			if err := x.tr.write(chunk); err != nil {
				return err
			}
			continue
		}
		if _, err := x.w.Write(chunk); err != nil {
			return fmt.Errorf("%w: %v", errClientGone, err)
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

// resumeLocal has this node continue a response another node started.
func (x *exchange) resumeLocal() error {
	ctx := x.r.Context()
	if x.tr.begun() {
		ctx = api.WithResume(ctx, x.tr.resume())
	}
	r := x.r.Clone(ctx)
	r.Body = io.NopCloser(bytes.NewReader(x.body))
	lw := &trackerWriter{tr: x.tr, header: http.Header{}}
	x.rt.cfg.Local.ServeHTTP(lw, r)
	if lw.status != http.StatusOK && lw.status != 0 {
		return fmt.Errorf("gateway: this node answered the continuation with status %d", lw.status)
	}
	return lw.err
}

// fail answers a request no node could serve: before any response, a
// 503 naming the policy (never a fallback elsewhere); in a stream, an
// in-band error. The refusal is a decision too, and is audited.
func (x *exchange) fail(err error) {
	decision := "deny"
	if errors.Is(err, route.ErrBadQuery) {
		decision = "invalid"
	}
	x.rt.met.decided(decision)
	if x.rt.cfg.Audit != nil {
		x.decisions = append(x.decisions, audit.Record{Kind: audit.KindRoute, Tenant: x.pol.TenantName,
			KeyID: x.pol.KeyID, Decision: decision, Reason: err.Error(), Detail: map[string]string{"model": x.model}})
	}
	switch {
	case x.tr != nil:
		x.tr.fail("no_permitted_node", err)
	case !x.wrote && x.busy != nil:
		for k, v := range x.busy.header {
			x.w.Header().Set(k, v)
		}
		x.w.Header().Set("X-Hearth-Node", x.busy.node)
		x.w.WriteHeader(http.StatusServiceUnavailable)
		x.w.Write(x.busy.body)
	case !x.wrote:
		x.rt.fail(x.w, x.r, err)
	}
}

// trackerWriter is the http.ResponseWriter for a continuation served by
// this node: its body goes through the stream's tracker, its head is
// dropped (the client has one already).
type trackerWriter struct {
	tr     *tracker
	header http.Header
	status int
	err    error
}

func (t *trackerWriter) Header() http.Header { return t.header }

func (t *trackerWriter) WriteHeader(status int) {
	if t.status == 0 {
		t.status = status
	}
}

func (t *trackerWriter) Write(p []byte) (int, error) {
	t.WriteHeader(http.StatusOK)
	if t.err != nil {
		return 0, t.err
	}
	if t.status != http.StatusOK {
		return len(p), nil // an error body; the status says it all
	}
	if err := t.tr.write(p); err != nil {
		t.err = err
		return 0, err
	}
	return len(p), nil
}

// Flush is a no-op: the tracker flushes each whole event.
func (t *trackerWriter) Flush() {}

// fail answers a request no permitted node can serve: 503 naming the
// policy, in the API's error shape, and never a fallback elsewhere.
func (rt *Router) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, typ := http.StatusServiceUnavailable, "no_permitted_node"
	if errors.Is(err, route.ErrBadQuery) {
		status, typ = http.StatusBadRequest, "invalid_request_error"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if strings.HasPrefix(r.URL.Path, "/api/") {
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": err.Error(), "type": typ, "param": nil, "code": typ}})
}

// record notes a routing decision for this (gateway) node's audit log.
func (x *exchange) record(d route.Decision) {
	if x.rt.cfg.Audit == nil {
		return
	}
	detail := map[string]string{"node": d.Node}
	if x.tr != nil {
		detail["resume"] = "true" // continues a stream whose node failed
	}
	var cands []string
	for _, c := range d.Candidates {
		cands = append(cands, c.ID+"@"+c.Jurisdiction)
	}
	detail["candidates"] = strings.Join(cands, ",")
	x.decisions = append(x.decisions, audit.Record{Kind: audit.KindRoute, Tenant: x.pol.TenantName,
		KeyID: x.pol.KeyID, Decision: "route", Reason: d.Reason, Detail: detail})
}

// writeAudit appends the request's routing decisions once its response
// has gone out.
func (x *exchange) writeAudit() {
	if len(x.decisions) == 0 {
		return
	}
	if x.wrote {
		http.NewResponseController(x.w).Flush()
	}
	ctx := context.WithoutCancel(x.r.Context())
	for _, rec := range x.decisions {
		if _, err := x.rt.cfg.Audit.Append(ctx, rec); err != nil {
			x.rt.log.Error("audit append failed", "err", err)
		}
	}
}
