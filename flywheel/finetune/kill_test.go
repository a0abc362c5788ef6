package finetune

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// childEnv names the spec file a re-executed test binary trains from.
const childEnv = "HEARTH_FINETUNE_TEST_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		if err := runChild(path); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild trains the spec in path, slowed down after every step so that
// the parent can kill it part-way.
func runChild(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	_, err = Run(context.Background(), s, func(Progress) { time.Sleep(40 * time.Millisecond) })
	return err
}

// A run killed with SIGKILL after its first checkpoint resumes from it to
// the adapter an uninterrupted run writes, byte for byte.
func TestKilledRunResumes(t *testing.T) {
	if _, err := os.Stat(storiesPath); err != nil {
		t.Fatal(err)
	}
	s := Spec{
		BasePath: storiesPath, Train: examples(10), Eval: examples(2),
		Hyper:   Hyper{Rank: 2, Epochs: 4, Batch: 1, Seq: 160, CheckpointEvery: 3, Seed: 11},
		Threads: 1, Dir: filepath.Join(t.TempDir(), "killed"),
	}
	specFile := filepath.Join(t.TempDir(), "spec.json")
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(specFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+specFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for {
		cps, _ := Checkpoints(s.Dir)
		if len(cps) > 0 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the child ended before its first checkpoint: %v\n%s", err, stderr.String())
		case <-deadline:
			cmd.Process.Kill()
			t.Fatal("no checkpoint within a minute")
		case <-time.After(2 * time.Millisecond):
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-exited
	if _, err := os.Stat(filepath.Join(s.Dir, AdapterFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the child finished before it was killed (adapter: %v)", err)
	}
	cps, err := Checkpoints(s.Dir)
	if err != nil || len(cps) == 0 {
		t.Fatalf("checkpoints after the kill: %v, %v", cps, err)
	}
	killedAt := cps[len(cps)-1].Step

	var first int
	res, err := Run(context.Background(), s, func(p Progress) {
		if first == 0 {
			first = p.Step
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if first != killedAt+1 || res.Steps != 20 {
		t.Errorf("resumed at step %d after a checkpoint of step %d; %d steps", first, killedAt, res.Steps)
	}
	checkStepLog(t, s.Dir, res.Steps)

	whole := s
	whole.Dir = filepath.Join(t.TempDir(), "whole")
	if _, err := Run(context.Background(), whole, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAdapter(t, s.Dir), readAdapter(t, whole.Dir)) {
		t.Error("the adapter of the killed and resumed run differs from the uninterrupted run's")
	}
}
