package finetune

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/parallel"
	"github.com/hearth-ai/hearth/engine/train"
	"github.com/hearth-ai/hearth/flywheel/dataset"
)

// Spec is what a run trains and where it keeps its files.
type Spec struct {
	BasePath    string // GGUF file of the base model
	Train, Eval []dataset.Example
	Hyper       Hyper
	Threads     int          // trainer threads; 0 means one per core
	Dir         string       // the run's directory (see the package comment); made if missing
	Logger      *slog.Logger `json:"-"` // a resume, damaged checkpoints passed over; nil means discard
}

// Progress is reported after every optimizer step.
type Progress struct {
	Step, Steps  int
	Epoch        float64 // epochs done, fractional
	Loss         float64 // mean over the step's target tokens
	LR           float64
	Tokens       int64         // trained on so far, over every session of the run
	TokensPerSec float64       // in this session
	Elapsed      time.Duration // training time so far, over every session
	ETA          time.Duration // at this session's pace
	Checkpoint   bool          // a checkpoint of this step was written
}

// Result is a finished run.
type Result struct {
	Adapter   string  `json:"adapter"` // path of the adapter GGUF in the run's directory
	Steps     int     `json:"steps"`
	Tokens    int64   `json:"tokens"`
	TrainLoss float64 `json:"train_loss"` // mean over the targets of the last epoch
	EvalLoss  float64 `json:"eval_loss"`  // mean over the eval split's targets; 0 with no eval examples
	// Hyper are the hyper-parameters as run: defaults filled in, Seq cut
	// to the base's context.
	Hyper Hyper `json:"hyper"`
	// BaseDigest ("sha256:<hex>" of the base file) and ExamplesDigest (of
	// the examples' conversations, train then eval) are the run's lineage.
	BaseDigest     string `json:"base_digest"`
	ExamplesDigest string `json:"examples_digest"`
	TrainReport    Report `json:"train_report"`
	EvalReport     Report `json:"eval_report"`
}

// File names in a run's directory.
const (
	AdapterFile = "adapter.gguf"
	StepsFile   = "steps.jsonl"
)

// Run trains an adapter as s describes and writes it to s.Dir/adapter.gguf,
// resuming from the newest good checkpoint in s.Dir if there is one: a
// damaged newest checkpoint is passed over with a warning for the one
// before it, and a checkpoint of another run (another base, other examples
// or hyper-parameters) is an error. progress, if not nil, is called after
// every step. Cancelling ctx stops the run within the step under way and
// returns ctx.Err(), leaving the checkpoints written so far as they are;
// the adapter file is written only when the run completes.
func Run(ctx context.Context, s Spec, progress func(Progress)) (*Result, error) {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := s.Hyper.WithDefaults()
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	if s.BasePath == "" {
		return nil, errors.New("finetune: no base model")
	}
	if s.Dir == "" {
		return nil, errors.New("finetune: no run directory")
	}

	// The engine's own pool stays at one thread: the trainer runs on its
	// own pool of s.Threads.
	m, err := engine.Load(s.BasePath, engine.Options{Threads: 1, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("finetune: base: %w", err)
	}
	defer m.Close()
	h.Seq = min(h.Seq, m.Net.Context)

	enc := &encoder{tmpl: m.Template, tok: m.Tok}
	seqs, trainRep, firstErr := enc.pack(s.Train, h.Seq)
	if len(seqs) == 0 {
		return nil, fmt.Errorf("finetune: %w", whyEmpty(trainRep, h.Seq, firstErr))
	}
	evalSeqs, evalRep, _ := enc.pack(s.Eval, h.Seq)
	perEpoch := (len(seqs) + h.Batch - 1) / h.Batch
	steps := h.Epochs * perEpoch

	id, err := identify(s.BasePath, s.Train, s.Eval, h)
	if err != nil {
		return nil, err
	}
	threads := s.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	pool := parallel.New(threads)
	defer pool.Close()
	cfg := h.trainConfig(steps)
	newTrainer := func() (*train.Trainer, error) {
		t, err := train.New(m.Net, cfg, pool)
		if err != nil {
			return nil, fmt.Errorf("finetune: base %s: %w", s.BasePath, err)
		}
		return t, nil
	}
	// Only now, with the base and the examples found usable, does the
	// run's directory appear.
	if err := os.MkdirAll(checkpointDir(s.Dir), 0o700); err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	tr, at, err := resume(s.Dir, id, newTrainer, log)
	if err != nil {
		return nil, err
	}
	adapter := filepath.Join(s.Dir, AdapterFile)
	if at.Step == 0 {
		// A run begun afresh has no adapter yet, whatever an earlier run
		// whose checkpoints are gone left here.
		if err := os.Remove(adapter); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("finetune: %w", err)
		}
	}
	if at.Step > steps {
		return nil, fmt.Errorf("finetune: checkpoint of step %d is past the run's %d steps", at.Step, steps)
	}
	steplog, err := openStepLog(filepath.Join(s.Dir, StepsFile), at.Step)
	if err != nil {
		return nil, err
	}
	defer steplog.Close()

	res := &Result{
		Adapter: adapter, Steps: steps, Hyper: h,
		BaseDigest: id.Base, ExamplesDigest: id.Examples, TrainReport: trainRep, EvalReport: evalRep,
	}
	start, startTokens, startStep, startElapsed := time.Now(), at.Tokens, at.Step, at.Elapsed
	var order []int
	for step := at.Step; step < steps; step++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		epoch := step / perEpoch
		if step%perEpoch == 0 {
			at.EpochLoss, at.EpochTargets = 0, 0
		}
		if order == nil || step%perEpoch == 0 {
			order = epochOrder(h.Seed, epoch, len(seqs))
		}
		first := (step % perEpoch) * h.Batch
		var lossSum float64
		var targets, tokens int
		for _, i := range order[first:min(first+h.Batch, len(order))] {
			l, n, err := tr.Backward(ctx, seqs[i])
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, fmt.Errorf("finetune: step %d: %w", step+1, err)
			}
			lossSum += l
			targets += n
			tokens += len(seqs[i].Tokens)
		}
		st := tr.Update()
		done := step + 1
		at.Step, at.Steps = done, steps
		at.Loss = lossSum / float64(max(targets, 1))
		if math.IsNaN(at.Loss) || math.IsInf(at.Loss, 0) {
			return nil, fmt.Errorf("finetune: step %d: the loss is %v (a learning rate of %g may be too high)", done, at.Loss, h.LR)
		}
		at.Tokens += int64(tokens)
		at.EpochLoss += lossSum
		at.EpochTargets += int64(targets)
		session := time.Since(start)
		at.Elapsed = startElapsed + session
		p := Progress{
			Step: done, Steps: steps, Epoch: float64(done) / float64(perEpoch),
			Loss: at.Loss, LR: st.LR, Tokens: at.Tokens,
			TokensPerSec: float64(at.Tokens-startTokens) / max(session.Seconds(), 1e-9),
			Elapsed:      at.Elapsed,
			ETA:          time.Duration(float64(session) / float64(done-startStep) * float64(steps-done)),
		}
		if err := steplog.write(p, st.GradNorm, targets); err != nil {
			return nil, err
		}
		if done == steps || (h.CheckpointEvery > 0 && done%h.CheckpointEvery == 0) {
			at.Time = time.Now().UTC()
			if _, err := writeCheckpoint(s.Dir, at, tr.Save); err != nil {
				return nil, err
			}
			p.Checkpoint = true
		}
		if progress != nil {
			progress(p)
		}
	}
	res.Tokens = at.Tokens
	res.TrainLoss = at.EpochLoss / float64(max(at.EpochTargets, 1))

	var evalSum float64
	var evalTargets int
	for _, sq := range evalSeqs {
		l, n, err := tr.Loss(ctx, sq)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("finetune: eval loss: %w", err)
		}
		evalSum += l
		evalTargets += n
	}
	if evalTargets > 0 {
		res.EvalLoss = evalSum / float64(evalTargets)
	}
	if err := writeAdapter(res.Adapter, m.Net, h.Alpha, tr.LoRA()); err != nil {
		return nil, fmt.Errorf("finetune: adapter: %w", err)
	}
	return res, nil
}

// resume returns a trainer at the newest good checkpoint in dir with that
// checkpoint's header, or a new trainer and an empty header when there is
// none. A checkpoint that fails its checksum or that the trainer cannot
// load is passed over, with a warning, for the one before it; if none is
// good, the error names each. A good checkpoint of another run is an
// error: resuming it would mix two runs.
func resume(dir string, id runID, newTrainer func() (*train.Trainer, error), log *slog.Logger) (*train.Trainer, header, error) {
	files, err := checkpointFiles(dir)
	if err != nil {
		return nil, header{}, err
	}
	var bad []string
	for _, path := range files {
		tr, h, err := loadCheckpoint(path, id, newTrainer)
		var other *otherRunError
		switch {
		case errors.As(err, &other):
			return nil, header{}, err
		case err != nil:
			log.Warn("finetune: checkpoint damaged, trying the one before", "path", path, "err", err)
			bad = append(bad, fmt.Sprintf("%s: %v", filepath.Base(path), err))
			continue
		}
		if len(bad) > 0 {
			log.Warn("finetune: resuming from an older checkpoint", "path", path, "step", h.Step, "passed_over", len(bad))
		} else {
			log.Info("finetune: resuming", "path", path, "step", h.Step)
		}
		return tr, h, nil
	}
	if len(bad) > 0 {
		return nil, header{}, fmt.Errorf("finetune: no good checkpoint in %s (%s); remove them to start over", checkpointDir(dir), strings.Join(bad, "; "))
	}
	tr, err := newTrainer()
	return tr, header{Run: id}, err
}

// otherRunError is a good checkpoint written by another run.
type otherRunError struct {
	path, what string
}

func (e *otherRunError) Error() string {
	return fmt.Sprintf("finetune: checkpoint %s belongs to another run (%s differ); use another directory, or remove its checkpoints to start over", e.path, e.what)
}

// loadCheckpoint checks the checkpoint at path and loads it into a new
// trainer.
func loadCheckpoint(path string, id runID, newTrainer func() (*train.Trainer, error)) (*train.Trainer, header, error) {
	h, state, err := openCheckpoint(path)
	if err != nil {
		return nil, header{}, err
	}
	defer state.Close()
	var differ []string
	for _, d := range []struct {
		what       string
		have, want string
	}{{"the base model files", h.Run.Base, id.Base}, {"the examples", h.Run.Examples, id.Examples}, {"the hyper-parameters", h.Run.Hyper, id.Hyper}} {
		if d.have != d.want {
			differ = append(differ, d.what)
		}
	}
	if len(differ) > 0 {
		return nil, header{}, &otherRunError{path, strings.Join(differ, " and ")}
	}
	tr, err := newTrainer()
	if err != nil {
		return nil, header{}, err
	}
	if err := tr.Load(state); err != nil {
		return nil, header{}, err
	}
	if tr.Step() != h.Step {
		return nil, header{}, fmt.Errorf("trainer state is at step %d, the header at %d", tr.Step(), h.Step)
	}
	return tr, h, nil
}

// identify computes a run's identity: digests of the base file, of the
// examples' conversations and of the hyper-parameters as run (all that
// decide its result).
func identify(base string, trainEx, evalEx []dataset.Example, h Hyper) (runID, error) {
	f, err := os.Open(base)
	if err != nil {
		return runID{}, fmt.Errorf("finetune: base: %w", err)
	}
	defer f.Close()
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return runID{}, fmt.Errorf("finetune: base: %w", err)
	}
	convs := func(ex []dataset.Example) [][]dataset.Message {
		out := make([][]dataset.Message, len(ex))
		for i, e := range ex {
			out[i] = e.Messages
		}
		return out
	}
	ej, err := json.Marshal(struct{ Train, Eval [][]dataset.Message }{convs(trainEx), convs(evalEx)})
	if err != nil {
		return runID{}, fmt.Errorf("finetune: examples: %w", err)
	}
	// How often checkpoints are written changes nothing in the result: a
	// run may resume with another interval.
	h.CheckpointEvery = 0
	hj, err := json.Marshal(h)
	if err != nil {
		return runID{}, fmt.Errorf("finetune: hyper-parameters: %w", err)
	}
	return runID{Base: "sha256:" + hex.EncodeToString(sum.Sum(nil)), Examples: digest(ej), Hyper: digest(hj)}, nil
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// epochOrder is the order of n sequences in an epoch: a Fisher-Yates
// shuffle driven by PCG, seeded by the run's seed and the epoch, so any
// step's batch is known without replaying the steps before it. It takes
// raw 64-bit outputs (whose stream PCG fixes) rather than a library
// shuffle, whose algorithm a Go release may change.
func epochOrder(seed uint64, epoch, n int) []int {
	rng := rand.NewPCG(seed, 0x5eed0000+uint64(epoch))
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(rng.Uint64() % uint64(i+1))
		order[i], order[j] = order[j], order[i]
	}
	return order
}

// RunDir is the directory of a run on a tenant's dataset version under a
// node's data directory, for callers given no other: running the same
// training again finds its checkpoints there and resumes.
func RunDir(dataDir, tenantID, dataset string, version int) string {
	return filepath.Join(dataDir, "finetune", tenantID, fmt.Sprintf("%s-v%d", dataset, version))
}
