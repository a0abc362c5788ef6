package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/hearth-ai/hearth/access"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/fabric"
)

// serveForwarded runs a request another node forwarded through this
// node's own API, as the tenant that node authenticated. The fabric has
// already checked that the gateway is a certified peer and that this node
// is in a jurisdiction the request permits; the API's gate checks the
// tenant's policy again and records the request in this node's audit log.
func (rt *Router) serveForwarded(ctx context.Context, req *fabric.InferRequest, w fabric.InferWriter) error {
	ctx, err := rt.cfg.Gate.ResolveForwarded(ctx, access.Forwarded{TenantID: req.Tenant, KeyID: req.KeyID, Gateway: req.Gateway})
	if err != nil {
		// Before any answer: the gateway tries another node.
		return fmt.Errorf("node %s cannot serve tenant %q: %v", rt.cfg.Fabric.ID(), req.Tenant, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, req.Path, bytes.NewReader(req.Body))
	if err != nil {
		return err
	}
	for k, v := range req.Header {
		if k == resumeHeader {
			var rs api.Resume
			if err := json.Unmarshal([]byte(v), &rs); err != nil {
				return fmt.Errorf("gateway: malformed %s: %v", resumeHeader, err)
			}
			hreq = hreq.WithContext(api.WithResume(hreq.Context(), rs))
			continue
		}
		hreq.Header.Set(k, v)
	}
	rw := &inferResponse{w: w, header: http.Header{}}
	rt.cfg.Local.ServeHTTP(rw, hreq)
	if !rw.wrote {
		rw.WriteHeader(http.StatusOK)
	}
	return rw.err
}

// inferResponse is an http.ResponseWriter over a fabric stream.
type inferResponse struct {
	w      fabric.InferWriter
	header http.Header
	wrote  bool
	err    error
}

func (r *inferResponse) Header() http.Header { return r.header }

func (r *inferResponse) WriteHeader(status int) {
	if r.wrote {
		return
	}
	r.wrote = true
	h := map[string]string{}
	for k := range r.header {
		h[k] = r.header.Get(k)
	}
	if err := r.w.WriteHead(status, h); err != nil && r.err == nil {
		r.err = err
	}
}

func (r *inferResponse) Write(p []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.w.Write(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// Flush is a no-op: every Write is already a message on the wire.
func (r *inferResponse) Flush() {}
