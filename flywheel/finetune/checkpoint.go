package finetune

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/internal/atomicfile"
)

// Checkpoint is one checkpoint of a run, as Checkpoints lists it.
type Checkpoint struct {
	Step int       `json:"step"`
	Path string    `json:"path"`
	Time time.Time `json:"time"` // when it was written
	Loss float64   `json:"loss"` // of its step
}

// keepCheckpoints is how many checkpoints a run keeps: the newest, and
// two to fall back on should it be damaged.
const keepCheckpoints = 3

// checkpointMagic opens every checkpoint file.
const checkpointMagic = "hearth finetune checkpoint 1\n"

// runID names what a run trains: the digests of its base file, its
// examples and its hyper-parameters. A checkpoint resumes only the run
// it was written by.
type runID struct {
	Base     string `json:"base"`
	Examples string `json:"examples"`
	Hyper    string `json:"hyper"`
}

// header is a checkpoint's own part, before the trainer's state: where the
// run was and what it had counted.
type header struct {
	Run     runID         `json:"run"`
	Step    int           `json:"step"`
	Steps   int           `json:"steps"`
	Time    time.Time     `json:"time"`
	Loss    float64       `json:"loss"`    // of the step
	Tokens  int64         `json:"tokens"`  // trained on so far
	Elapsed time.Duration `json:"elapsed"` // training time so far, over every session
	// The current epoch's loss so far (summed over targets), from which
	// the final epoch's mean is the run's training loss.
	EpochLoss    float64 `json:"epoch_loss"`
	EpochTargets int64   `json:"epoch_targets"`
}

func checkpointDir(dir string) string { return filepath.Join(dir, "checkpoints") }

func checkpointPath(dir string, step int) string {
	return filepath.Join(checkpointDir(dir), fmt.Sprintf("step-%06d.ckpt", step))
}

// stepOf parses a checkpoint's file name.
func stepOf(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "step-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".ckpt")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// checkpointFiles lists the checkpoint files of dir, newest first.
func checkpointFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(checkpointDir(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	type file struct {
		step int
		path string
	}
	var files []file
	for _, e := range ents {
		if n, ok := stepOf(e.Name()); ok && e.Type().IsRegular() {
			files = append(files, file{n, filepath.Join(checkpointDir(dir), e.Name())})
		}
	}
	slices.SortFunc(files, func(a, b file) int { return b.step - a.step })
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.path
	}
	return out, nil
}

// Checkpoints lists the checkpoints of the run in dir (a Spec's Dir),
// oldest first. It reads only their headers: a file whose header cannot
// be read is left out, and a damaged body is found when a run resumes.
func Checkpoints(dir string) ([]Checkpoint, error) {
	files, err := checkpointFiles(dir)
	if err != nil {
		return nil, err
	}
	out := []Checkpoint{}
	for _, p := range slices.Backward(files) {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		h, _, err := readHeader(bufio.NewReader(f))
		f.Close()
		if err != nil {
			continue
		}
		out = append(out, Checkpoint{Step: h.Step, Path: p, Time: h.Time, Loss: h.Loss})
	}
	return out, nil
}

// writeCheckpoint writes h and the state save writes as the checkpoint of
// h.Step, atomically, then deletes all but the newest few.
func writeCheckpoint(dir string, h header, save func(io.Writer) error) (string, error) {
	path := checkpointPath(dir, h.Step)
	hj, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("finetune: checkpoint: %w", err)
	}
	err = atomicfile.WriteFunc(path, 0o600, func(f io.Writer) error {
		sum := sha256.New()
		bw := bufio.NewWriterSize(io.MultiWriter(f, sum), 1<<20)
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(len(hj)))
		bw.WriteString(checkpointMagic)
		bw.Write(n[:])
		bw.Write(hj)
		if err := save(bw); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if _, err := f.Write(sum.Sum(nil)); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("finetune: checkpoint: %w", err)
	}
	files, err := checkpointFiles(dir)
	if err != nil {
		return path, err
	}
	for _, old := range files[min(keepCheckpoints, len(files)):] {
		os.Remove(old)
	}
	return path, nil
}

// maxHeader bounds a checkpoint header, so a damaged length cannot ask
// for gigabytes.
const maxHeader = 1 << 20

// readHeader reads the magic and the header, returning the header's
// length in bytes with its framing.
func readHeader(r io.Reader) (header, int64, error) {
	var h header
	magic := make([]byte, len(checkpointMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != checkpointMagic {
		return h, 0, errors.New("not a checkpoint file")
	}
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return h, 0, errors.New("truncated header")
	}
	size := binary.LittleEndian.Uint32(n[:])
	if size > maxHeader {
		return h, 0, fmt.Errorf("header of %d bytes", size)
	}
	hj := make([]byte, size)
	if _, err := io.ReadFull(r, hj); err != nil {
		return h, 0, errors.New("truncated header")
	}
	if err := json.Unmarshal(hj, &h); err != nil {
		return h, 0, fmt.Errorf("header: %w", err)
	}
	return h, int64(len(magic) + len(n) + len(hj)), nil
}

// openCheckpoint checks a checkpoint whole (its checksum over every byte)
// and returns its header and a reader of the trainer's state, which
// the caller closes.
func openCheckpoint(path string) (header, io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return header{}, nil, err
	}
	fail := func(err error) (header, io.ReadCloser, error) {
		f.Close()
		return header{}, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	body := st.Size() - sha256.Size
	if body <= 0 {
		return fail(errors.New("truncated"))
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, io.LimitReader(f, body)); err != nil {
		return fail(err)
	}
	want := make([]byte, sha256.Size)
	if _, err := io.ReadFull(f, want); err != nil {
		return fail(err)
	}
	if !bytes.Equal(sum.Sum(nil), want) {
		return fail(errors.New("checksum mismatch: the file is damaged or was cut short"))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(io.LimitReader(f, body), 1<<20)
	h, n, err := readHeader(br)
	if err != nil {
		return fail(err)
	}
	if n > body {
		return fail(errors.New("truncated"))
	}
	return h, struct {
		io.Reader
		io.Closer
	}{br, f}, nil
}
