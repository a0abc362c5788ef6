package api

import (
	"fmt"
	"net/http"
)

// GET /healthz: the process is up and serving HTTP.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
	return nil
}

// GET /readyz: the node can take requests now (Config.Ready says so).
// Load balancers stop sending traffic while it answers 503.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(r.Context()); err != nil {
			return &Error{Status: http.StatusServiceUnavailable, Type: TypeServer, Code: "not_ready", Message: "not ready: " + err.Error()}
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ready")
	return nil
}
