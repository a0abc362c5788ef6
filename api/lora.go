package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
)

// LoRA adapters the llama-server and vLLM way: the adapters a node was
// started with (`hearth serve --lora FILE`) have ids, global scales that
// GET and POST /lora-adapters read and set, and a request's "lora" field
// picks some of them with its own scales; vLLM's load_lora_adapter and
// unload_lora_adapter add and remove named adapters while the node runs.
// Adapters of a tenant's registry need none of this: a request names them
// as "BASE:ADAPTER[@VERSION]".

// ModelHeader is the response header that names the model a generating
// request was served by: for an adapter, "BASE:ADAPTER@VERSION" (with the
// version resolved) or "BASE:ADAPTER" for a file adapter.
const ModelHeader = "X-Hearth-Model"

// LoRA is one adapter of a request's "lora" field, or of POST
// /lora-adapters: the adapter's id in GET /lora-adapters and its scale.
type LoRA struct {
	ID    int     `json:"id"`
	Scale float32 `json:"scale"`
}

// LoRAAdapter is an entry of GET /lora-adapters, in llama-server's shape.
type LoRAAdapter struct {
	ID    int     `json:"id"`
	Path  string  `json:"path"`
	Scale float32 `json:"scale"`
}

// LoRABackend is a Backend that serves llama-server's and vLLM's adapter
// interface. A Backend without it leaves /lora-adapters and vLLM's
// endpoints unrouted, and refuses a request's "lora" field.
type LoRABackend interface {
	// AcquireLoRA is Acquire for a request that picks adapters by id with
	// its "lora" field (an empty list: the base alone). An id that is
	// unknown, or an adapter that does not fit the named model, is an
	// error wrapping ErrInvalidModel.
	AcquireLoRA(ctx context.Context, name string, lora []LoRA) (m Model, release func(), err error)
	// LoRAAdapters lists the adapters with ids and their global scales.
	LoRAAdapters() []LoRAAdapter
	// SetLoRAScales sets global scales: ids not listed keep theirs. An
	// unknown id wraps ErrInvalidModel.
	SetLoRAScales(lora []LoRA) error
	// LoadLoRA reads the adapter file at path and publishes it under
	// name, for every caller; UnloadLoRA withdraws it. Requests using it
	// finish as they began. A path that is not a readable adapter, or a
	// name taken or malformed, wraps ErrInvalidModel; an unknown name in
	// UnloadLoRA, ErrModelNotFound.
	LoadLoRA(ctx context.Context, name, path string) error
	UnloadLoRA(ctx context.Context, name string) error
}

// A BaseNamer is a Backend that can tell, without loading anything,
// which base model a name runs on ("qwen:q4_k_m:support@3" runs on
// "qwen:q4_k_m"): the tenant's model allow-list applies to that. Names
// it does not know it returns as they are.
type BaseNamer interface {
	BaseName(ctx context.Context, name string) string
}

// A ModelDescriber is a Backend that can describe, without loading
// anything, a name it serves that its model list does not name as such:
// "BASE:ADAPTER", listed as the version it resolves to,
// "BASE:ADAPTER@VERSION". Its ModelInfo names the model as served. A
// name it does not serve wraps ErrModelNotFound; one it cannot serve,
// ErrInvalidModel.
type ModelDescriber interface {
	DescribeModel(ctx context.Context, name string) (ModelInfo, error)
}

// ErrInvalidModel: the request names a model that exists but cannot
// serve it: an adapter trained on another base, a "lora" id the node
// does not have. A 400 naming the model.
var ErrInvalidModel = errors.New("invalid model")

// maxLoRAs bounds a request's "lora" list (and POST /lora-adapters'):
// llama-server keeps a handful of adapters, never this many.
const maxLoRAs = 64

// maxLoRAScale bounds a scale: llama.cpp applies any float, but beyond
// this an adapter only adds noise, and an infinite one NaNs.
const maxLoRAScale = 1000

// loraList is a decoded "lora" field: nil when absent or null, empty for
// "[]". It is decoded token by token so that a list of a million entries
// is refused at its 65th rather than allocated.
type loraList []LoRA

func (l *loraList) UnmarshalJSON(data []byte) error {
	if isNull(data) {
		return nil
	}
	out, err := parseLoRAs(data, "lora")
	if err != nil {
		return err
	}
	*l = out
	return nil
}

// parseLoRAs reads a JSON array of {"id": N, "scale": S} objects; param
// names the field in errors.
func parseLoRAs(data []byte, param string) ([]LoRA, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil, badRequest(param, "'%s' must be an array of {\"id\": N, \"scale\": S} objects", param)
	}
	out := []LoRA{}
	seen := map[int]bool{}
	for i := 0; dec.More(); i++ {
		if i >= maxLoRAs {
			return nil, badRequest(param, "'%s' lists more than %d adapters", param, maxLoRAs)
		}
		var e struct {
			ID    *jsonNumber `json:"id"`
			Scale *jsonNumber `json:"scale"`
		}
		if err := dec.Decode(&e); err != nil {
			return nil, badRequest(fmt.Sprintf("%s[%d]", param, i), "'%s[%d]' must be an object {\"id\": N, \"scale\": S}", param, i)
		}
		p := fmt.Sprintf("%s[%d]", param, i)
		if e.ID == nil {
			return nil, badRequest(p+".id", "'%s.id' is required", p)
		}
		id, err := e.ID.Int64()
		if e.ID.quoted || err != nil || id < 0 || id > math.MaxInt32 {
			return nil, badRequest(p+".id", "'%s.id' is %s; want an adapter id from GET /lora-adapters, a number", p, clientText(e.ID.text()))
		}
		if seen[int(id)] {
			return nil, badRequest(p+".id", "'%s.id': adapter %d is listed twice", p, id)
		}
		seen[int(id)] = true
		scale := 1.0 // llama-server's default for an entry without one
		if e.Scale != nil {
			scale, err = e.Scale.Float64()
			if e.Scale.quoted || err != nil || math.IsNaN(scale) || math.Abs(scale) > maxLoRAScale {
				return nil, badRequest(p+".scale", "'%s.scale' is %s; want a number from -%d to %d", p, clientText(e.Scale.text()), maxLoRAScale, maxLoRAScale)
			}
		}
		out = append(out, LoRA{ID: int(id), Scale: float32(scale)})
	}
	if t, err := dec.Token(); err != nil || t != json.Delim(']') {
		return nil, badRequest(param, "'%s' must be an array of {\"id\": N, \"scale\": S} objects", param)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest(param, "'%s' must be an array of {\"id\": N, \"scale\": S} objects", param)
	}
	return out, nil
}

// jsonNumber is a JSON number as its text, and whether it came quoted:
// json.Number alone takes "0" as 0, and llama-server, whose ids and
// scales are numbers, refuses a string; so does this.
type jsonNumber struct {
	json.Number
	quoted bool
}

func (n *jsonNumber) UnmarshalJSON(data []byte) error {
	n.quoted = len(data) > 0 && data[0] == '"'
	return json.Unmarshal(data, &n.Number)
}

// text is the number as the client wrote it, quotes included.
func (n *jsonNumber) text() string {
	if n.quoted {
		return `"` + n.String() + `"`
	}
	return n.String()
}

type loraKey struct{}

// withLoRA records a request's "lora" field for acquire; nil (absent)
// records nothing.
func withLoRA(ctx context.Context, l loraList) context.Context {
	if l == nil {
		return ctx
	}
	return context.WithValue(ctx, loraKey{}, []LoRA(l))
}

// acquireFrom asks the backend for the named model, with the adapters
// the request's "lora" field picked, if it has one.
func (s *Server) acquireFrom(ctx context.Context, name string) (Model, func(), error) {
	l, ok := ctx.Value(loraKey{}).([]LoRA)
	if !ok {
		return s.cfg.Backend.Acquire(ctx, name)
	}
	lb, ok := s.cfg.Backend.(LoRABackend)
	if !ok {
		return nil, nil, badRequest("lora", "'lora': this server has no LoRA adapters")
	}
	m, release, err := lb.AcquireLoRA(ctx, name, l)
	if errors.Is(err, ErrInvalidModel) {
		return nil, nil, invalidModel("lora", err)
	}
	return m, release, err
}

// invalidModel is a backend's ErrInvalidModel as a 400 on param, in the
// backend's words.
func invalidModel(param string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), ErrInvalidModel.Error()+": ")
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "invalid_model", Param: param, Message: msg}
}

// baseName is the base model part of a requested name, to which the
// tenant's allow-list applies.
func (s *Server) baseName(ctx context.Context, name string) string {
	if b, ok := s.cfg.Backend.(BaseNamer); ok {
		return b.BaseName(ctx, name)
	}
	return name
}

// An adminCaller is a Caller that can say whether it holds the admin
// scope (package access's does).
type adminCaller interface{ Admin() bool }

// requireAdmin refuses a caller without the admin scope: changing the
// adapters a node serves is the operator's business. With no gate
// everyone is the operator.
func requireAdmin(ctx context.Context) error {
	c := CallerFrom(ctx)
	if c == nil {
		return nil
	}
	if a, ok := c.(adminCaller); ok && a.Admin() {
		return nil
	}
	return Refusal(ErrForbidden, "this endpoint changes the node's LoRA adapters and needs an admin-scoped key")
}

// GET and POST /lora-adapters, llama-server's.
func (s *Server) loraAdapters(w http.ResponseWriter, r *http.Request) error {
	lb := s.cfg.Backend.(LoRABackend) // routed only when it is one
	if r.Method == http.MethodPost {
		if err := requireAdmin(r.Context()); err != nil {
			return err
		}
		var data json.RawMessage
		if err := s.decodeJSON(w, r, &data); err != nil {
			return err
		}
		l, err := parseLoRAs(data, "body")
		if err != nil {
			return err
		}
		before := lb.LoRAAdapters()
		if err := lb.SetLoRAScales(l); err != nil {
			return loraError(err, "body")
		}
		// The record holds the scales as parsed, not the body: padding
		// and unknown fields would otherwise make the audit log keep
		// megabytes a client chose.
		scales, _ := json.Marshal(l)
		if err := s.adminAction(r.Context(), "lora.scales", map[string]string{"scales": string(scales)}); err != nil {
			old := make([]LoRA, len(before))
			for i, a := range before {
				old[i] = LoRA{ID: a.ID, Scale: a.Scale}
			}
			lb.SetLoRAScales(old)
			return err
		}
		s.log.InfoContext(r.Context(), "LoRA global scales set", "adapters", len(l))
	}
	list := lb.LoRAAdapters()
	if list == nil {
		list = []LoRAAdapter{}
	}
	if requireAdmin(r.Context()) != nil {
		// The operator's paths are the operator's: one can name another
		// tenant (.../finetune/tnt_.../adapter.gguf), and every caller
		// reads this list. Others get the file's name, as the adapter's
		// own name is made of it. (A copy: the backend's list is its own.)
		list = slices.Clone(list)
		for i := range list {
			list[i].Path = fileName(list[i].Path)
		}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// fileName is the last element of a path, '/' or '\\' separated.
func fileName(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[i+1:]
	}
	return path
}

type loadLoRARequest struct {
	Name string `json:"lora_name"`
	Path string `json:"lora_path"`
}

// POST /v1/load_lora_adapter and /v1/unload_lora_adapter, vLLM's. vLLM
// answers them in plain text; so does this.
func (s *Server) loadLoRA(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r.Context()); err != nil {
		return err
	}
	var req loadLoRARequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name == "" || req.Path == "" {
		return badRequest("lora_name", "both 'lora_name' and 'lora_path' are required")
	}
	if err := checkModelName(req.Name); err != nil {
		return badRequest("lora_name", "'lora_name' is %d bytes long; at most %d are allowed", len(req.Name), MaxModelNameBytes)
	}
	if len(req.Path) > 4096 {
		return badRequest("lora_path", "'lora_path' is %d bytes long; at most 4096 are allowed", len(req.Path))
	}
	lb := s.cfg.Backend.(LoRABackend)
	if err := lb.LoadLoRA(r.Context(), req.Name, req.Path); err != nil {
		return loraError(err, "lora_path")
	}
	if err := s.adminAction(r.Context(), "lora.load", map[string]string{"name": req.Name, "path": req.Path}); err != nil {
		lb.UnloadLoRA(r.Context(), req.Name)
		return err
	}
	s.log.InfoContext(r.Context(), "LoRA adapter loaded", "name", clientText(req.Name), "path", clientText(req.Path))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Success: LoRA adapter '%s' added successfully.", clientText(req.Name))
	return nil
}

func (s *Server) unloadLoRA(w http.ResponseWriter, r *http.Request) error {
	if err := requireAdmin(r.Context()); err != nil {
		return err
	}
	var req loadLoRARequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Name) == "" {
		return badRequest("lora_name", "'lora_name' is required")
	}
	if err := s.cfg.Backend.(LoRABackend).UnloadLoRA(r.Context(), req.Name); err != nil {
		if errors.Is(err, ErrModelNotFound) {
			return &Error{Status: http.StatusNotFound, Type: TypeNotFound, Code: "lora_not_found", Param: "lora_name",
				Message: fmt.Sprintf("no LoRA adapter named '%s' is loaded", clientText(req.Name))}
		}
		return loraError(err, "lora_name")
	}
	if err := s.adminAction(r.Context(), "lora.unload", map[string]string{"name": req.Name}); err != nil {
		return err // the adapter is gone; the log, failed, refuses what follows
	}
	s.log.InfoContext(r.Context(), "LoRA adapter unloaded", "name", clientText(req.Name))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Success: LoRA adapter '%s' removed successfully.", clientText(req.Name))
	return nil
}

// adminAction records a change to the node's adapters (Config.AdminAction).
func (s *Server) adminAction(ctx context.Context, action string, detail map[string]string) error {
	if s.cfg.AdminAction == nil {
		return nil
	}
	return s.cfg.AdminAction(ctx, action, detail)
}

// loraError is a backend's refusal of an adapter request as a 400 on
// param; other errors pass as they are.
func loraError(err error, param string) error {
	if errors.Is(err, ErrInvalidModel) {
		return invalidModel(param, err)
	}
	return err
}
