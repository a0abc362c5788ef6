package train

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"reflect"
)

// The state file: a magic line, a little-endian uint32 header length, a
// JSON header, then for each parameter in the header's order its A, B and
// their Adam moments as float32, and a CRC-32 (Castagnoli) of everything
// before it. Sizes come from the trainer that loads it, never from the
// file, so a damaged file cannot make Load allocate.
const stateMagic = "hearth lora train state 1\n"

type stateHeader struct {
	Config Config       `json:"config"`
	Step   int          `json:"step"`
	Model  stateModel   `json:"model"`
	Params []stateParam `json:"params"`
}

type stateModel struct {
	Arch                    string
	Dim, Blocks, Vocab, FFN int
	Heads, KVHeads, HeadDim int
}

type stateParam struct {
	Name    string `json:"name"`
	In, Out int
}

func (t *Trainer) header() stateHeader {
	m := t.m
	h := stateHeader{Config: t.c, Step: t.step, Model: stateModel{
		Arch: m.Arch, Dim: m.Dim, Blocks: m.Blocks, Vocab: m.Vocab, FFN: m.FFN,
		Heads: m.Heads, KVHeads: m.KVHeads, HeadDim: m.HeadDim,
	}}
	for _, p := range t.params {
		h.Params = append(h.Params, stateParam{Name: p.name, In: p.in, Out: p.out})
	}
	return h
}

// Save writes the trainer's whole state: settings, step, weights and
// optimizer moments. Gradients accumulated since the last Update are not
// part of it: save between steps.
func (t *Trainer) Save(w io.Writer) error {
	if t.targets != 0 {
		return errors.New("train: save between steps: gradients of an unfinished step are not saved")
	}
	hdr, err := json.Marshal(t.header())
	if err != nil {
		return err
	}
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	bw := bufio.NewWriter(io.MultiWriter(w, crc))
	bw.WriteString(stateMagic)
	binary.Write(bw, binary.LittleEndian, uint32(len(hdr)))
	bw.Write(hdr)
	var b [4]byte
	for _, p := range t.params {
		for _, v := range [][]float32{p.a, p.b, p.ma, p.va, p.mb, p.vb} {
			for _, x := range v {
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(x))
				bw.Write(b[:])
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("train: save: %w", err)
	}
	binary.LittleEndian.PutUint32(b[:], crc.Sum32())
	if _, err := w.Write(b[:]); err != nil {
		return fmt.Errorf("train: save: %w", err)
	}
	return nil
}

// maxHeader bounds the JSON header Load reads: a few hundred bytes per
// projection.
const maxHeader = 1 << 20

// Load restores a state written by Save from a trainer of the same model
// and settings. A state of another model or run, or a damaged one, is an
// error naming what differs, and leaves t as it was.
func (t *Trainer) Load(r io.Reader) error {
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	br := io.TeeReader(bufio.NewReader(r), crc)
	magic := make([]byte, len(stateMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != stateMagic {
		return errors.New("train: load: not a Hearth training state")
	}
	var n uint32
	if err := binary.Read(br, binary.LittleEndian, &n); err != nil {
		return fmt.Errorf("train: load: truncated header: %w", err)
	}
	if n > maxHeader {
		return fmt.Errorf("train: load: header of %d bytes is corrupt", n)
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(br, raw); err != nil {
		return fmt.Errorf("train: load: truncated header: %w", err)
	}
	var h stateHeader
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return fmt.Errorf("train: load: header: %w", err)
	}
	want := t.header()
	switch {
	case h.Model != want.Model:
		return fmt.Errorf("train: load: the state is of a %s model %+v, not this %s model %+v", h.Model.Arch, h.Model, want.Model.Arch, want.Model)
	case !reflect.DeepEqual(h.Config, want.Config):
		return fmt.Errorf("train: load: the state is of a run with settings %+v, not %+v", h.Config, want.Config)
	case !reflect.DeepEqual(h.Params, want.Params):
		return errors.New("train: load: the state trains other projections than this run")
	case h.Step < 0:
		return fmt.Errorf("train: load: step %d", h.Step)
	}
	// Read into fresh buffers, so that a failure leaves t untouched.
	vals := make([][6][]float32, len(t.params))
	var b [4]byte
	for i, p := range t.params {
		for j, size := range [6]int{len(p.a), len(p.b), len(p.a), len(p.a), len(p.b), len(p.b)} {
			v := make([]float32, size)
			for k := range v {
				if _, err := io.ReadFull(br, b[:]); err != nil {
					return fmt.Errorf("train: load: truncated at %s: %w", p.name, err)
				}
				v[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[:]))
				if math.IsNaN(float64(v[k])) || math.IsInf(float64(v[k]), 0) {
					return fmt.Errorf("train: load: %s holds a non-finite value", p.name)
				}
			}
			vals[i][j] = v
		}
	}
	sum := crc.Sum32()
	if _, err := io.ReadFull(br, b[:]); err != nil {
		return fmt.Errorf("train: load: truncated checksum: %w", err)
	}
	if binary.LittleEndian.Uint32(b[:]) != sum {
		return errors.New("train: load: checksum mismatch: the state is damaged")
	}
	for i, p := range t.params {
		p.a, p.b, p.ma, p.va, p.mb, p.vb = vals[i][0], vals[i][1], vals[i][2], vals[i][3], vals[i][4], vals[i][5]
		clear(p.ga)
		clear(p.gb)
	}
	t.step = h.Step
	t.lossSum, t.targets, t.calls = 0, 0, 0
	return nil
}
