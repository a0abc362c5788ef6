package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/bench"
	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/engine/parallel"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// benchJSON is one test in llama-bench's JSON field names, so results of
// the two tools can be compared by the same scripts.
type benchJSON struct {
	BuildCommit string    `json:"build_commit"`
	BuildNumber int       `json:"build_number"`
	CPUInfo     string    `json:"cpu_info"`
	GPUInfo     string    `json:"gpu_info"`
	Backends    string    `json:"backends"`
	ModelFile   string    `json:"model_filename"`
	ModelType   string    `json:"model_type"`
	ModelSize   int64     `json:"model_size"`
	ModelParams int64     `json:"model_n_params"`
	NBatch      int       `json:"n_batch"`
	NUBatch     int       `json:"n_ubatch"`
	NThreads    int       `json:"n_threads"`
	TypeK       string    `json:"type_k"`
	TypeV       string    `json:"type_v"`
	NGPULayers  int       `json:"n_gpu_layers"`
	UseMmap     bool      `json:"use_mmap"`
	Embeddings  bool      `json:"embeddings"`
	NPrompt     int       `json:"n_prompt"`
	NGen        int       `json:"n_gen"`
	TestTime    string    `json:"test_time"`
	AvgNs       int64     `json:"avg_ns"`
	StddevNs    int64     `json:"stddev_ns"`
	AvgTs       float64   `json:"avg_ts"`
	StddevTs    float64   `json:"stddev_ts"`
	SamplesNs   []int64   `json:"samples_ns"`
	SamplesTs   []float64 `json:"samples_ts"`
	MaxRSS      int64     `json:"max_rss_bytes"`
}

func newBenchCmd(g *globals) *cobra.Command {
	var (
		modelPath      string
		prompt, gen    int
		threads, reps  int
		batch          int
		asJSON, noWarm bool
		bandwidth      bool
		kernels        string
		kvType         string
	)
	cmd := &cobra.Command{
		Use:   "bench --model FILE [-p 512] [-n 128] [-t N] [-r 5] [--json]",
		Short: "Measure prompt processing and generation speed, in llama-bench's form",
		Long: `Measure a model's prompt processing (pp: a prompt of -p tokens through an empty
cache) and text generation (tg: -n tokens one at a time) speed, as tokens/s
mean ± standard deviation over -r repetitions after a warm-up, printed like
llama.cpp's llama-bench so the two line up. --json prints a JSON array with
llama-bench's field names. The peak resident memory is reported too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kernels != "" {
				l, err := tensor.ParseLevel(kernels)
				if err != nil {
					return fmt.Errorf("bench: --kernels: %w", err)
				}
				tensor.SetLevel(l)
			}
			if bandwidth {
				if threads <= 0 {
					threads = parallel.PhysicalCores()
				}
				pool := parallel.New(threads)
				defer pool.Close()
				bw := bench.Bandwidth(pool, 1<<30, 5)
				fmt.Fprintf(g.stdout, "memory read bandwidth with %d threads: %.1f GB/s\n", threads, bw/1e9)
				return nil
			}
			if modelPath == "" {
				return fmt.Errorf("bench: --model is required")
			}
			f, err := gguf.Open(modelPath)
			if err != nil {
				return err
			}
			defer f.Close()
			m, err := model.Load(f)
			if err != nil {
				return err
			}
			if m.KVF16, err = engine.ParseKVType(kvType); err != nil {
				return fmt.Errorf("bench: --kv-type: %w", err)
			}
			if threads <= 0 {
				threads = parallel.PhysicalCores()
			}
			pool := parallel.New(threads)
			defer pool.Close()
			m.SetPool(pool)
			res, err := bench.Run(cmd.Context(), m, bench.Params{Prompt: prompt, Gen: gen, Reps: reps, Batch: batch, NoWarmup: noWarm})
			if err != nil {
				return err
			}
			params, quant := f.Parameters(), f.WeightType()
			typ := fmt.Sprintf("%s %s %s", m.Arch, sizeClass(params), quant)
			rss := bench.PeakRSS()
			if asJSON {
				var rows []benchJSON
				for _, r := range res {
					mean, sd := r.TokensPerSec()
					row := benchJSON{BuildCommit: version, CPUInfo: bench.CPUName(), Backends: "CPU", ModelFile: modelPath,
						ModelType: typ, ModelSize: f.Size(), ModelParams: params, NBatch: batch, NUBatch: batch,
						NThreads: threads, TypeK: "f32", TypeV: "f32", UseMmap: true, NPrompt: r.NPrompt, NGen: r.NGen,
						TestTime: time.Now().UTC().Format(time.RFC3339), AvgTs: mean, StddevTs: sd, MaxRSS: rss}
					for _, s := range r.Samples {
						row.SamplesNs = append(row.SamplesNs, int64(s*1e9))
						row.SamplesTs = append(row.SamplesTs, float64(r.NPrompt+r.NGen)/s)
					}
					avg, sdSec := r.Seconds()
					row.AvgNs, row.StddevNs = int64(avg*1e9), int64(sdSec*1e9)
					rows = append(rows, row)
				}
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			w := tabwriter.NewWriter(g.stdout, 0, 0, 1, ' ', tabwriter.Debug)
			fmt.Fprintln(w, "| model\t size\t params\t backend\t threads\t test\t t/s\t")
			fmt.Fprintln(w, "| ---\t ---:\t ---:\t ---\t ---:\t ---:\t ---:\t")
			for _, r := range res {
				mean, sd := r.TokensPerSec()
				fmt.Fprintf(w, "| %s\t %s\t %s\t CPU\t %d\t %s\t %.2f ± %.2f\t\n", typ, gib(f.Size()), billions(params), threads, r.Test, mean, sd)
			}
			w.Flush()
			fmt.Fprintf(g.stdout, "\nkernels %s, peak RSS %s (model file %s)\n", tensor.KernelLevel(), humanBytes(rss), humanBytes(f.Size()))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&modelPath, "model", "m", "", "GGUF model file")
	fl.IntVarP(&prompt, "n-prompt", "p", 512, "prompt tokens for the pp test (0: skip)")
	fl.IntVarP(&gen, "n-gen", "n", 128, "tokens for the tg test (0: skip)")
	fl.IntVarP(&threads, "threads", "t", 0, "threads (0: physical cores)")
	fl.IntVarP(&reps, "repetitions", "r", 5, "repetitions of each test")
	fl.IntVarP(&batch, "batch-size", "b", 512, "prompt tokens per forward step")
	fl.BoolVar(&noWarm, "no-warmup", false, "skip the untimed warm-up run")
	fl.BoolVar(&asJSON, "json", false, "print a JSON array with llama-bench's field names")
	fl.StringVar(&kernels, "kernels", "", "cap the kernels at a CPU level: portable, avx2 or avx512-vnni (default: the best the CPU has)")
	fl.StringVar(&kvType, "kv-type", "f32", "KV cache precision: f32 or f16 (llama-bench's default is f16)")
	fl.BoolVar(&bandwidth, "bandwidth", false, "measure memory read bandwidth instead (the bound on generation speed)")
	return cmd
}

// sizeClass names a parameter count as llama-bench does ("1B", "260K").
func sizeClass(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%dM", (n+5e5)/1e6)
	}
	return fmt.Sprintf("%dK", (n+500)/1000)
}

func gib(n int64) string      { return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30)) }
func billions(n int64) string { return fmt.Sprintf("%.2f B", float64(n)/1e9) }
