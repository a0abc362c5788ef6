package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/flywheel/registry"
)

// loraFlags are the LoRA adapter flags of generate and chat, with
// llama.cpp's names and forms: --lora FILE and --lora-scaled FILE:SCALE,
// each repeatable or comma-separated.
type loraFlags struct {
	plain  []string
	scaled []string
	tenant string
}

func (l *loraFlags) register(f *pflag.FlagSet) {
	f.StringSliceVar(&l.plain, "lora", nil, "LoRA adapter to apply at scale 1: a GGUF file, or with --tenant a registry name NAME[@VERSION] (repeatable, or comma-separated as in llama.cpp)")
	f.StringSliceVar(&l.scaled, "lora-scaled", nil, "LoRA adapter with a scale, FILE:SCALE as in llama.cpp (repeatable, or comma-separated; several adapters on one weight add up)")
	f.StringVar(&l.tenant, "tenant", "", "tenant whose adapter registry resolves --lora names that are not files")
}

// set reports whether any adapter was asked for.
func (l *loraFlags) set() bool { return len(l.plain)+len(l.scaled) > 0 }

// options returns the adapters to attach to the model in basePath and
// the resolver for their names.
func (l *loraFlags) options(ctx context.Context, g *globals, basePath string) ([]engine.LoRA, adapter.Resolver, error) {
	var out []engine.LoRA
	for _, name := range l.plain {
		if name == "" {
			return nil, nil, fmt.Errorf("--lora: empty adapter name")
		}
		out = append(out, engine.LoRA{Name: name, Scale: 1})
	}
	for _, s := range l.scaled {
		lora, err := parseScaled(s)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, lora)
	}
	if l.tenant == "" {
		return out, nil, nil
	}
	return out, &tenantAdapters{reg: adapterRegistry(ctx, g, l.tenant, basePath)}, nil
}

// parseScaled parses FILE:SCALE. The scale follows the last colon, so a
// name may hold colons of its own.
func parseScaled(s string) (engine.LoRA, error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return engine.LoRA{}, fmt.Errorf("--lora-scaled %q: want FILE:SCALE", s)
	}
	scale, err := strconv.ParseFloat(s[i+1:], 32)
	if err != nil || math.IsNaN(scale) || math.IsInf(scale, 0) {
		return engine.LoRA{}, fmt.Errorf("--lora-scaled %q: scale %q is not a number", s, s[i+1:])
	}
	return engine.LoRA{Name: s[:i], Scale: float32(scale)}, nil
}

// tenantAdapters resolves --lora names for a tenant: a name that is a file
// is read as one, any other is looked up in the tenant's registry.
type tenantAdapters struct {
	reg adapter.Resolver
}

func (r *tenantAdapters) Resolve(name string) (*adapter.Adapter, error) {
	if _, err := os.Stat(name); err == nil {
		return adapter.Read(name)
	}
	a, err := r.reg.Resolve(name)
	if err != nil {
		return nil, fmt.Errorf("adapter %q: no such file, and %w", name, err)
	}
	return a, nil
}

// adapterRegistry is the tenant's adapter registry (flywheel/registry) in
// the data directory as a Resolver of NAME[@VERSION] for the base model in
// basePath: the one place the registry is wired into generate and chat. A
// version trained on another base file or architecture is refused
// (registry.ErrBaseMismatch).
func adapterRegistry(ctx context.Context, g *globals, tenant, basePath string) adapter.Resolver {
	return &registryAdapters{ctx: ctx, g: g, tenant: tenant, basePath: basePath}
}

// registryAdapters keeps the command's context because adapter.Resolver,
// called from engine.Load, takes none.
type registryAdapters struct {
	ctx      context.Context
	g        *globals
	tenant   string
	basePath string
	base     *registry.Base // hashed on first use
}

func (r *registryAdapters) Resolve(name string) (*adapter.Adapter, error) {
	e, err := openFlywheel(r.ctx, r.g, r.tenant, false)
	if err != nil {
		return nil, fmt.Errorf("there is no adapter registry of tenant %s here to look it up in: %w", r.tenant, err)
	}
	defer e.close()
	if r.base == nil {
		b, err := registry.BaseOf(r.basePath, r.basePath)
		if err != nil {
			return nil, err
		}
		r.base = &b
	}
	a, v, err := e.fw.Adapters.Adapter(r.ctx, e.tenant.ID, name, *r.base)
	if err != nil {
		return nil, err
	}
	if v.ErasedData {
		r.g.warnLogger().Warn("an erasure has since removed examples this adapter was trained on", "adapter", v.Ref(), "erased_at", v.ErasedAt)
	}
	return a, nil
}
