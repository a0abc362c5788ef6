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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearth-ai/hearth/access"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/route"
)

// JurisdictionHeader narrows a request to one of its tenant's permitted
// jurisdictions.
// Every node that runs a request checks it as well (api.JurisdictionHeader).
const JurisdictionHeader = api.JurisdictionHeader

// resumeHeader carries an api.Resume (JSON) from a gateway to the node
// continuing a stream, inside the signed fabric request. The serving side
// takes it out before the request reaches the API; a client's own header
// of that name is never forwarded.
const resumeHeader = "X-Hearth-Resume"

// routed are the endpoints that run a model and so may run elsewhere;
// seeded, of those, the ones whose requests sample tokens (withSeed).
var routed, seeded = modelPaths()

func modelPaths() (routed, seeded map[string]bool) {
	routed, seeded = map[string]bool{}, map[string]bool{}
	for _, m := range api.ModelRoutes() {
		routed[m.Path] = true
		if m.Samples {
			seeded[m.Path] = true
		}
	}
	return routed, seeded
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
	// StallTimeout is how long a forwarded stream waits for a client that
	// stops reading (api.Config.StallTimeout). Zero means
	// api.DefaultStallTimeout; negative, no limit.
	StallTimeout time.Duration
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
	var peek peekBody
	_, pol, err := rt.cfg.Gate.PolicyOf(r)
	if json.Unmarshal(body, &peek) != nil || peek.Model == "" || len(peek.Model) > api.MaxModelNameBytes || err != nil {
		// Malformed, model-less, with an absurd model name or
		// unauthenticated: the local API says why.
		rt.cfg.Local.ServeHTTP(w, r)
		return
	}
	if err := rt.cfg.Gate.Preflight(); err != nil {
		// This node's audit log cannot record the routing decision: refuse,
		// as the node refuses what it would serve itself.
		rt.log.Warn("request refused: the audit log cannot record the routing decision", "tenant", pol.TenantName, "err", err)
		e := refusal(http.StatusServiceUnavailable, "audit_unavailable", err)
		e.RetryAfter = 5 * time.Second
		api.WriteError(w, r, e)
		return
	}
	// The tenant's name (its ID is this node's own) is what the nodes'
	// heartbeats key the tenant's adapters by.
	q := route.Query{Jurisdictions: pol.Jurisdictions, Narrow: r.Header.Get(JurisdictionHeader), Self: rt.cfg.Fabric.ID(), Tenant: pol.TenantName}
	q.Model, q.Adapter = rt.modelOf(peek.Model)
	if m := peek.Messages; m.Role == "system" && m.Content != "" {
		q.PrefixKey = route.PrefixKey(m.Content) // the same system prompt goes where its KV cache is
	}
	x := &exchange{rt: rt, w: w, r: r, pol: pol, model: peek.Model, body: body}
	// A forwarded stream's last write deadline must not reach the
	// connection's next request (cleared after writeAudit's flush).
	defer http.NewResponseController(w).SetWriteDeadline(time.Time{})
	defer x.writeAudit()
	x.run(q)
}

// modelOf reads a request's model name as a base model and the adapter
// on it, if any: a name some node of the fleet serves as a model is that
// base; else "BASE:ADAPTER[@VERSION]" whose BASE a node serves is the
// adapter on that base (the serving node resolves the adapter itself).
// Anything else is taken as a model, which no node then serves.
func (rt *Router) modelOf(name string) (base, adapter string) {
	b, _, ok := route.SplitAdapter(name)
	if !ok {
		return name, "" // no adapter part: a model, without asking the table
	}
	peers := rt.cfg.Fabric.Peers()
	serves := func(m string) bool {
		return slices.ContainsFunc(peers, func(p fabric.Peer) bool {
			return slices.ContainsFunc(p.Load.Models, func(have string) bool { return route.SameModel(have, m) })
		})
	}
	if serves(name) || !serves(b) {
		return name, ""
	}
	return b, name
}

// fail answers a request no permitted node can serve: 503 naming the
// policy, in the API's error shape, and never a fallback elsewhere.
func (rt *Router) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusServiceUnavailable, "no_permitted_node"
	if errors.Is(err, route.ErrBadQuery) {
		status, code = http.StatusBadRequest, api.TypeInvalidRequest
	}
	api.WriteError(w, r, refusal(status, code, err))
}

// refusal is an error of the gateway's own, in the API's terms: the
// gateway's codes double as OpenAI error types, as they always have.
func refusal(status int, code string, err error) *api.Error {
	return &api.Error{Status: status, Type: code, Code: code, Message: err.Error()}
}

// stall is the write deadline for forwarded streams.
func (rt *Router) stall() time.Duration { return api.StallDeadline(rt.cfg.StallTimeout) }

// peekBody is what routing reads of a request's body.
type peekBody struct {
	Model    string       `json:"model"`
	Messages firstMessage `json:"messages"`
}

// firstMessage decodes, of a request's messages, the first one's role and
// text content only: all routing needs. The rest of the conversation is
// the serving node's to decode (and bound); decoding it here, into
// generic values, multiplied a padded body's size in memory.
type firstMessage struct {
	Role, Content string
}

func (f *firstMessage) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') || !dec.More() {
		return nil // not an array, or empty: the serving node says so
	}
	var m struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if dec.Decode(&m) != nil {
		return nil
	}
	f.Role = m.Role
	json.Unmarshal(m.Content, &f.Content) // a string, or not a system prompt to place by
	return nil
}
