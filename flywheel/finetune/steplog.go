package finetune

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/hearth-ai/hearth/internal/atomicfile"
)

// stepLog is the run's JSON log, one line per optimizer step.
type stepLog struct {
	f    *os.File
	path string
}

// stepLine is one line of the log.
type stepLine struct {
	Step         int       `json:"step"`
	Epoch        float64   `json:"epoch"`
	Loss         float64   `json:"loss"`
	LR           float64   `json:"lr"`
	GradNorm     float64   `json:"grad_norm"`
	Targets      int       `json:"targets"`
	Tokens       int64     `json:"tokens"`
	TokensPerSec float64   `json:"tokens_per_sec"`
	Elapsed      float64   `json:"elapsed"` // seconds
	Time         time.Time `json:"time"`
}

// openStepLog opens the log for appending after the given step: the lines
// of later steps, written by a session that died before checkpointing
// them, are dropped (they will be taken again), as is a line torn by the
// crash, so the log reads as if the run had never stopped.
func openStepLog(path string, after int) (*stepLog, error) {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("finetune: step log: %w", err)
	}
	var keep bytes.Buffer
	if after > 0 {
		sc := bufio.NewScanner(bytes.NewReader(old))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l stepLine
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Step >= 1 && l.Step <= after {
				keep.Write(sc.Bytes())
				keep.WriteByte('\n')
			}
		}
	}
	if !bytes.Equal(keep.Bytes(), old) {
		if err := atomicfile.WriteFile(path, keep.Bytes(), 0o600); err != nil {
			return nil, fmt.Errorf("finetune: step log: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("finetune: step log: %w", err)
	}
	return &stepLog{f: f, path: path}, nil
}

func (l *stepLog) write(p Progress, gradNorm float64, targets int) error {
	b, err := json.Marshal(stepLine{
		Step: p.Step, Epoch: p.Epoch, Loss: p.Loss, LR: p.LR, GradNorm: gradNorm, Targets: targets,
		Tokens: p.Tokens, TokensPerSec: p.TokensPerSec, Elapsed: p.Elapsed.Seconds(), Time: time.Now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("finetune: step log: %w", err)
	}
	if _, err := l.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("finetune: step log %s: %w", l.path, err)
	}
	return nil
}

func (l *stepLog) Close() error { return l.f.Close() }
