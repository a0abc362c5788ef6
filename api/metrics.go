package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the HTTP layer's Prometheus metrics. The scheduler's own
// (queue depth, KV cache use, prefix hits) live on the same registry,
// registered elsewhere.
type Metrics struct {
	requests         *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	promptTokens     *prometheus.CounterVec
	completionTokens *prometheus.CounterVec
	ttft             *prometheus.HistogramVec
	itl              *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	// Token latencies span a fast CPU on a tiny model (sub-millisecond)
	// to a large model on a small machine (seconds).
	latency := prometheus.ExponentialBuckets(0.001, 2, 15) // 1ms .. ~16s
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_http_requests_total", Help: "HTTP requests by endpoint, model and status code.",
		}, []string{"endpoint", "model", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hearth_http_request_duration_seconds", Help: "Time from request to the end of its response.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16), // 5ms .. ~160s
		}, []string{"endpoint", "model"}),
		promptTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_prompt_tokens_total", Help: "Prompt tokens processed (generation and embeddings).",
		}, []string{"model"}),
		completionTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_completion_tokens_total", Help: "Tokens generated.",
		}, []string{"model"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hearth_time_to_first_token_seconds", Help: "Time from request arrival to the first generated token.",
			Buckets: latency,
		}, []string{"model"}),
		itl: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hearth_inter_token_latency_seconds", Help: "Time between consecutive generated tokens of a request.",
			Buckets: latency,
		}, []string{"model"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.promptTokens, m.completionTokens, m.ttft, m.itl} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) observeRequest(endpoint, model string, status int, d time.Duration) {
	m.requests.WithLabelValues(endpoint, model, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(endpoint, model).Observe(d.Seconds())
}

// MetricsHandler serves g in Prometheus' text format.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// GET /metrics
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	MetricsHandler(s.cfg.Gatherer).ServeHTTP(w, r)
	return nil
}
