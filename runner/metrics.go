package runner

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes the loaded models' scheduler counters to Prometheus:
// queue depth, active sequences, KV-cache use and prefix-cache hits.
func (r *Runner) Collector() prometheus.Collector { return collector{r} }

type collector struct{ r *Runner }

var (
	descLoaded     = prometheus.NewDesc("hearth_models_loaded", "Models in memory.", nil, nil)
	descQueue      = prometheus.NewDesc("hearth_queue_depth", "Requests waiting for a batch slot.", []string{"model"}, nil)
	descActive     = prometheus.NewDesc("hearth_active_sequences", "Sequences in the batch.", []string{"model"}, nil)
	descKVUsed     = prometheus.NewDesc("hearth_kv_cache_used_tokens", "KV-cache tokens allocated, live and kept for prefix reuse.", []string{"model"}, nil)
	descKVLive     = prometheus.NewDesc("hearth_kv_cache_live_tokens", "KV-cache tokens held by running sequences.", []string{"model"}, nil)
	descKVTotal    = prometheus.NewDesc("hearth_kv_cache_budget_tokens", "KV-cache budget in tokens.", []string{"model"}, nil)
	descSteps      = prometheus.NewDesc("hearth_batch_steps_total", "Model forward steps run by the scheduler.", []string{"model"}, nil)
	descPrompt     = prometheus.NewDesc("hearth_prefix_cache_lookup_tokens_total", "Prompt tokens of admitted requests.", []string{"model"}, nil)
	descPrefixHits = prometheus.NewDesc("hearth_prefix_cache_hit_tokens_total", "Prompt tokens served from a reused KV prefix.", []string{"model"}, nil)
	descAdapters   = prometheus.NewDesc("hearth_lora_adapters_cached", "LoRA adapter sets built and kept on a loaded model.", []string{"model"}, nil)
	descAdapterMem = prometheus.NewDesc("hearth_lora_adapter_bytes", "Memory of the LoRA adapter sets kept on a loaded model.", []string{"model"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLoaded, descQueue, descActive, descKVUsed, descKVLive, descKVTotal, descSteps, descPrompt, descPrefixHits, descAdapters, descAdapterMem} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.r.mu.Lock()
	var ready []*loaded
	sets, bytes := map[*loaded]int{}, map[*loaded]int64{}
	for _, l := range c.r.loaded {
		if l.ready() {
			ready = append(ready, l)
			sets[l], bytes[l] = len(l.adapters), l.adapterBytes()
		}
	}
	c.r.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descLoaded, prometheus.GaugeValue, float64(len(ready)))
	for _, l := range ready {
		st := l.Stats()
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l.name)
		}
		cnt := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l.name)
		}
		g(descQueue, float64(st.Queued))
		g(descActive, float64(st.Active))
		g(descKVUsed, float64(st.KVUsed))
		g(descKVLive, float64(st.KVLive))
		g(descKVTotal, float64(st.KVTotal))
		cnt(descSteps, float64(st.Steps))
		cnt(descPrompt, float64(st.PromptTokens))
		cnt(descPrefixHits, float64(st.PrefixHits))
		g(descAdapters, float64(sets[l]))
		g(descAdapterMem, float64(bytes[l]))
	}
}
