package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/access"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/route"
)

// run tries the request on the nodes route.Choose picks, at most
// Attempts of them: the first that answers serves it; a node that could
// not take it (unreachable, full, without the tenant) is replaced by the
// next. A node lost while running the request is not: the request may be
// what killed it, and the next node would die of it too. Before any
// answer the client then gets a 502 naming the lost node; a stream under
// way, whose first node got through the prompt, is continued once on
// another node from what the client already has (a second loss ends it).
func (x *exchange) run(q route.Query) {
	var lastErr error
	for attempt := 0; attempt < x.rt.cfg.Attempts; attempt++ {
		q.InFlight = x.rt.inFlight()
		d, err := route.Choose(x.rt.cfg.Fabric.Peers(), q)
		if err != nil {
			x.fail(err)
			return
		}
		x.record(d)
		local := d.Node == q.Self
		if local {
			x.rt.met.decided("local")
		} else {
			x.rt.met.decided("remote")
		}
		if local && !x.wrote {
			// This node serves it: nothing to follow, it lives or dies
			// with the gateway.
			defer x.rt.running(d.Node)()
			x.rt.cfg.Local.ServeHTTP(x.w, x.r)
			return
		}
		done := x.rt.running(d.Node)
		if local {
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
		if errors.Is(err, errClientGone) || x.r.Context().Err() != nil {
			return // nobody to answer; closing the stream cancelled the remote work
		}
		var lost *lostRunning
		if errors.As(err, &lost) {
			x.losses++
			if !x.wrote || x.losses > 1 {
				x.rt.log.Error("node lost while running a request; not sent to another node", "node", d.Node, "losses", x.losses, "err", err)
				x.failLost(lost)
				return
			}
		}
		if x.wrote && (x.tr == nil || !x.tr.resumable()) {
			x.rt.log.Warn("forwarded response ended early and cannot be continued", "node", d.Node, "err", err)
			if x.tr != nil {
				x.tr.end()
			}
			return
		}
		if x.wrote {
			x.rt.met.retried("mid_stream")
			x.rt.log.Warn("node failed mid-stream; continuing on the next", "node", d.Node, "err", err)
		} else {
			x.rt.met.retried("before_answer")
			x.rt.log.Warn("node failed before answering; trying the next", "node", d.Node, "err", err)
		}
		lastErr = err
		q.Exclude = append(q.Exclude, d.Node)
	}
	x.fail(fmt.Errorf("%w: %d nodes failed (last: %v)", route.ErrNoPermittedNode, x.rt.cfg.Attempts, lastErr))
}

// exchange is one routed request and what of its response has reached
// the client.
type exchange struct {
	rt     *Router
	w      http.ResponseWriter
	r      *http.Request
	pol    access.Policy
	model  string
	body   []byte
	seeded []byte   // body as forwarded (forwardBody)
	wrote  bool     // the response's status has gone to the client
	tr     *tracker // set when that response is a stream the gateway follows
	// decisions wait for the response to be sent: an audit append
	// waits for fsync, which must not delay the first token.
	decisions []audit.Record
	busy      *busyAnswer // the last overloaded node's answer
	losses    int         // nodes lost while running this request
}

// lostRunning is a node that took the request and then stopped answering
// (ErrPeerLost after fabric's InferStream.Accepted): it may have died of
// the request.
type lostRunning struct {
	node string
	err  error
}

func (e *lostRunning) Error() string {
	return fmt.Sprintf("node %s stopped answering while running this request (%v); the request is not sent to another node, since it may be what stopped it", e.node, e.err)
}

func (e *lostRunning) Unwrap() error { return e.err }

// busyAnswer is a 503 an overloaded node gave, passed on if no other
// permitted node can take the request.
type busyAnswer struct {
	node   string
	header map[string]string
	body   []byte
}

// forwardBody is the body other nodes get, and this node when it takes a
// stream over: the request with a sampling seed if it had none (made on
// first use, then the same for every node), so that a stream can go on
// exactly where it stopped.
func (x *exchange) forwardBody() []byte {
	if x.seeded == nil {
		x.seeded = x.body
		if seeded[x.r.URL.Path] {
			x.seeded = withSeed(x.body, x.r.URL.Path)
		}
	}
	return x.seeded
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
	// The tenant goes by name: tenantdoc shares a tenant's document
	// across the fleet, but each node gives the tenant its own id.
	req := &fabric.InferRequest{Tenant: x.pol.TenantName, KeyID: x.pol.KeyID, Jurisdictions: x.pol.Jurisdictions, Model: x.model,
		Path: x.r.URL.Path, Header: hdr, Body: x.forwardBody()}
	sent := time.Now()
	s, err := x.rt.cfg.Fabric.Infer(x.r.Context(), node, req)
	if err != nil {
		return err
	}
	defer s.Close()
	status, head, err := s.Head()
	if err != nil {
		if s.Accepted() && errors.Is(err, fabric.ErrPeerLost) {
			return &lostRunning{node: node, err: err}
		}
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
			if x.tr != nil {
				x.tr.stall = x.rt.stall()
			}
		}
	}
	flusher, _ := x.w.(http.Flusher)
	for {
		chunk, err := s.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, fabric.ErrPeerLost) {
			return &lostRunning{node: node, err: err}
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
	r.Body = io.NopCloser(bytes.NewReader(x.forwardBody()))
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
	decision := audit.DecisionDeny
	if errors.Is(err, route.ErrBadQuery) {
		decision = audit.DecisionInvalid
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
		// Its length declared, the answer is whole on arrival, before
		// the audit append (writeAudit flushes it first).
		x.w.Header().Set("Content-Length", strconv.Itoa(len(x.busy.body)))
		x.w.WriteHeader(http.StatusServiceUnavailable)
		x.w.Write(x.busy.body)
		x.wrote = true
	case !x.wrote:
		x.rt.fail(x.w, x.r, err)
		x.wrote = true
	}
}

// failLost answers a request whose node was lost while running it: a 502
// naming the node and why it is not retried, or, in a stream, an in-band
// error. It is audited like any refusal.
func (x *exchange) failLost(lost *lostRunning) {
	x.rt.met.decided(audit.DecisionFailed)
	if x.rt.cfg.Audit != nil {
		x.decisions = append(x.decisions, audit.Record{Kind: audit.KindRoute, Tenant: x.pol.TenantName,
			KeyID: x.pol.KeyID, Decision: audit.DecisionFailed, Reason: lost.Error(), Detail: map[string]string{"model": x.model, "node": lost.node}})
	}
	switch {
	case x.tr != nil:
		x.tr.fail("node_lost", lost)
		x.tr.end()
	case !x.wrote:
		api.WriteError(x.w, x.r, refusal(http.StatusBadGateway, "node_lost", lost))
		x.wrote = true
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
		KeyID: x.pol.KeyID, Decision: audit.DecisionRoute, Reason: d.Reason, Detail: detail})
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
