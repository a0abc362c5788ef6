package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/hearth-ai/hearth/route"
)

// GET /v1/models on a routing node lists what the caller can use through
// it: this node's models, and the models certified nodes serve inside the
// caller's jurisdictions. A node that serves no model itself (a pure
// gateway) so still shows clients what they may ask for.

type modelEntry struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	Parent  string `json:"parent,omitempty"` // an adapter's base, as the local API lists it
}

// fleetModels returns the models certified peers serve inside the
// caller's jurisdictions that the caller may see.
func (rt *Router) fleetModels(r *http.Request) ([]string, bool) {
	c, pol, err := rt.cfg.Gate.PolicyOf(r)
	if err != nil {
		return nil, false
	}
	var out []string
	for _, p := range rt.cfg.Fabric.Peers() {
		if !p.Certified || len(pol.Jurisdictions) > 0 && !slices.Contains(pol.Jurisdictions, p.Jurisdiction) {
			continue
		}
		for _, m := range p.Load.Models {
			if c.Sees(m) && !slices.ContainsFunc(out, func(o string) bool { return route.SameModel(o, m) }) {
				out = append(out, m)
			}
		}
	}
	return out, true
}

// serveModels answers the model list and single-model lookups with the
// fleet's models added to the local API's answer.
func (rt *Router) serveModels(w http.ResponseWriter, r *http.Request) {
	fleet, ok := rt.fleetModels(r)
	if !ok {
		rt.cfg.Local.ServeHTTP(w, r) // unauthenticated: the API says why
		return
	}
	local := &bufferedResponse{header: http.Header{}}
	rt.cfg.Local.ServeHTTP(local, r)
	id, one := strings.CutPrefix(r.URL.Path, "/v1/models/")
	switch {
	case one && local.status == http.StatusNotFound:
		for _, m := range fleet {
			if route.SameModel(m, id) {
				writeModelJSON(w, modelEntry{ID: m, Object: "model", OwnedBy: "hearth"})
				return
			}
		}
	case !one && local.status == http.StatusOK:
		var list struct {
			Object string       `json:"object"`
			Data   []modelEntry `json:"data"`
		}
		if json.Unmarshal(local.body.Bytes(), &list) == nil {
			for _, m := range fleet {
				if !slices.ContainsFunc(list.Data, func(e modelEntry) bool { return route.SameModel(e.ID, m) }) {
					list.Data = append(list.Data, modelEntry{ID: m, Object: "model", OwnedBy: "hearth"})
				}
			}
			writeModelJSON(w, list)
			return
		}
	}
	local.copyTo(w)
}

func writeModelJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	json.NewEncoder(w).Encode(v)
}

// bufferedResponse holds a handler's whole response.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

func (b *bufferedResponse) copyTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	w.WriteHeader(max(b.status, http.StatusOK))
	w.Write(b.body.Bytes())
}
