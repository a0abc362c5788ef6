package api

import "slices"

// Endpoint names: each route's name in metrics and log lines
// ("endpoint"), and what a Gate (Caller.Use, Admission) and a Capturer
// (CaptureInput) are told a request is.
const (
	EndpointChatCompletions = "chat_completions"
	EndpointCompletions     = "completions"
	EndpointEmbeddings      = "embeddings"
	EndpointModels          = "models"
	EndpointModel           = "model"
	EndpointFeedback        = "feedback"
	// LoRA adapters, llama-server's and vLLM's (lora.go).
	EndpointLoRAAdapters = "lora_adapters"
	EndpointLoadLoRA     = "load_lora_adapter"
	EndpointUnloadLoRA   = "unload_lora_adapter"
	// OpenAI's fine-tuning API (finetuning.go).
	EndpointFiles                 = "files"
	EndpointFile                  = "file"
	EndpointFineTuningJobs        = "fine_tuning_jobs"
	EndpointFineTuningJob         = "fine_tuning_job"
	EndpointFineTuningEvents      = "fine_tuning_job_events"
	EndpointFineTuningCheckpoints = "fine_tuning_job_checkpoints"
	EndpointFineTuningCancel      = "fine_tuning_job_cancel"
	EndpointOllamaChat            = "ollama_chat"
	EndpointOllamaGenerate        = "ollama_generate"
	EndpointOllamaEmbed           = "ollama_embed"
	EndpointOllamaEmbeddings      = "ollama_embeddings"
	EndpointOllamaTags            = "ollama_tags"
	EndpointOllamaShow            = "ollama_show"
	EndpointOllamaPS              = "ollama_ps"
	EndpointOllamaVersion         = "ollama_version"
	EndpointHealthz               = "healthz"
	EndpointReadyz                = "readyz"
	EndpointMetrics               = "metrics"
	EndpointRoot                  = "root"
	EndpointNotFound              = "not_found" // any path no route serves
)

// A ModelRoute is an endpoint that runs a model: a POST whose body names
// the model. These are the requests the fleet's gateway may send to
// another node.
type ModelRoute struct {
	Path     string // "/v1/chat/completions"
	Endpoint string // EndpointChatCompletions
	// Samples is set for the endpoints that generate tokens by sampling;
	// the others compute embeddings.
	Samples bool
}

// modelRoutes is the route table's part that runs a model; routes()
// registers each of these.
var modelRoutes = []ModelRoute{
	{"/v1/chat/completions", EndpointChatCompletions, true},
	{"/v1/completions", EndpointCompletions, true},
	{"/v1/embeddings", EndpointEmbeddings, false},
	{"/api/chat", EndpointOllamaChat, true},
	{"/api/generate", EndpointOllamaGenerate, true},
	{"/api/embed", EndpointOllamaEmbed, false},
	{"/api/embeddings", EndpointOllamaEmbeddings, false},
}

// ModelRoutes lists the API's endpoints that run a model.
func ModelRoutes() []ModelRoute { return slices.Clone(modelRoutes) }

// samples reports whether the endpoint named endpoint generates tokens by
// sampling.
func samples(endpoint string) bool {
	return slices.ContainsFunc(modelRoutes, func(m ModelRoute) bool { return m.Endpoint == endpoint && m.Samples })
}

// generates reports whether the route at path generates tokens by
// sampling.
func generates(path string) bool {
	return slices.ContainsFunc(modelRoutes, func(m ModelRoute) bool { return m.Path == path && m.Samples })
}
