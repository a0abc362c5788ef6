package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearth-ai/hearth/fabric"
)

// metrics are the router's Prometheus metrics: what it decided, how often
// it had to try again, how long remote nodes took to start answering, and
// the fleet as this node sees it.
type metrics struct {
	decisions *prometheus.CounterVec
	retries   *prometheus.CounterVec
	firstByte prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, fab *fabric.Node) (*metrics, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_route_decisions_total",
			Help: "Routing decisions: local (served here), remote (forwarded), deny (no permitted node: 503), invalid (bad narrowing: 400), failed (a node was lost while running the request, which is not sent to another: 502).",
		}, []string{"outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hearth_route_retries_total",
			Help: "Requests moved to another node: before_answer (the node failed, was full or did not know the tenant) or mid_stream (a stream under way continued once after its node was lost).",
		}, []string{"stage"}),
		firstByte: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hearth_route_remote_head_seconds",
			Help:    "Time from forwarding a request to the remote node's first answer (its status).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5ms .. ~16s
		}),
	}
	for _, c := range []prometheus.Collector{m.decisions, m.retries, m.firstByte, peersCollector{fab}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) decided(outcome string) {
	if m != nil {
		m.decisions.WithLabelValues(outcome).Inc()
	}
}

func (m *metrics) retried(stage string) {
	if m != nil {
		m.retries.WithLabelValues(stage).Inc()
	}
}

func (m *metrics) head(d time.Duration) {
	if m != nil {
		m.firstByte.Observe(d.Seconds())
	}
}

// peersCollector reports the live nodes of the fleet this node knows, by
// jurisdiction and whether they are certified.
type peersCollector struct{ fab *fabric.Node }

var descPeers = prometheus.NewDesc("hearth_fleet_peers", "Live fleet nodes this node knows (itself included), by jurisdiction and certification.",
	[]string{"jurisdiction", "certified"}, nil)

func (c peersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descPeers }

func (c peersCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct {
		j    string
		cert bool
	}
	counts := map[key]int{}
	for _, p := range c.fab.Peers() {
		counts[key{p.Jurisdiction, p.Certified}]++
	}
	for k, n := range counts {
		cert := "false"
		if k.cert {
			cert = "true"
		}
		ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(n), k.j, cert)
	}
}
