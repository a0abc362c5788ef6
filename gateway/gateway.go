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
	"net/http"
	"strings"

	"github.com/hearth-ai/hearth/access"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/route"
)

// JurisdictionHeader narrows a request to one of its tenant's permitted
// jurisdictions.
const JurisdictionHeader = "X-Hearth-Jurisdiction"

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
}

// Router is the http.Handler in front of a node's API.
type Router struct {
	cfg Config
	log *slog.Logger
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
	r := &Router{cfg: cfg, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Fabric.HandleInfer(r.serveForwarded); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return r, nil
}

// ServeHTTP routes generation requests and passes everything else to the
// local API.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	for attempt := 0; attempt < rt.cfg.Attempts; attempt++ {
		d, err := route.Choose(rt.cfg.Fabric.Peers(), q)
		if err != nil {
			rt.fail(w, r, err)
			return
		}
		if d.Node == q.Self {
			rt.cfg.Local.ServeHTTP(w, r)
			return
		}
		rt.record(r.Context(), pol, d)
		started, err := rt.forward(w, r, pol, d.Node, peek.Model, body)
		if err == nil || started {
			if err != nil {
				rt.log.Warn("forwarded stream ended early", "node", d.Node, "err", err)
			}
			return
		}
		rt.log.Warn("node failed before answering; trying the next", "node", d.Node, "err", err)
		q.Exclude = append(q.Exclude, d.Node)
	}
	rt.fail(w, r, fmt.Errorf("%w: %d nodes failed before answering", route.ErrNoPermittedNode, rt.cfg.Attempts))
}

// forward sends the request to node and copies its response. started
// reports whether any of the response reached the client (after which it
// cannot be retried elsewhere).
func (rt *Router) forward(w http.ResponseWriter, r *http.Request, pol access.Policy, node, model string, body []byte) (started bool, err error) {
	hdr := map[string]string{}
	for _, k := range []string{"Content-Type", "Accept", api.CaptureHeader, JurisdictionHeader} {
		if v := r.Header.Get(k); v != "" {
			hdr[k] = v
		}
	}
	// The tenant goes by name: until tenants are shared fleet state, an
	// operator creates the same tenant on every node, and ids differ.
	req := &fabric.InferRequest{Tenant: pol.TenantName, KeyID: pol.KeyID, Jurisdictions: pol.Jurisdictions, Model: model,
		Path: r.URL.Path, Header: hdr, Body: body}
	s, err := rt.cfg.Fabric.Infer(r.Context(), node, req)
	if err != nil {
		return false, err
	}
	defer s.Close()
	status, head, err := s.Head()
	if err != nil {
		return false, err
	}
	for k, v := range head {
		w.Header().Set(k, v)
	}
	w.Header().Set("X-Hearth-Node", node)
	w.WriteHeader(status)
	flusher, _ := w.(http.Flusher)
	for {
		chunk, err := s.Next()
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return true, err
		}
		if _, err := w.Write(chunk); err != nil {
			return true, err // the client went away; Close cancels the remote work
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
}

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

// record writes the routing decision to this (gateway) node's audit log.
func (rt *Router) record(ctx context.Context, pol access.Policy, d route.Decision) {
	if rt.cfg.Audit == nil {
		return
	}
	detail := map[string]string{"node": d.Node}
	var cands []string
	for _, c := range d.Candidates {
		cands = append(cands, c.ID+"@"+c.Jurisdiction)
	}
	detail["candidates"] = strings.Join(cands, ",")
	if _, err := rt.cfg.Audit.Append(context.WithoutCancel(ctx), audit.Record{Kind: audit.KindRoute, Tenant: pol.TenantName,
		KeyID: pol.KeyID, Decision: "route", Reason: d.Reason, Detail: detail}); err != nil {
		rt.log.Error("audit append failed", "err", err)
	}
}
