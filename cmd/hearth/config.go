package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// applyConfig fills every flag the user did not set on the command line,
// first from the environment (HEARTH_ plus the flag name in upper case with
// '-' as '_', e.g. HEARTH_DATA_DIR), then from the TOML config file (keys
// are flag names with '_' or '-'). Unknown keys in the file are an error,
// so a typo does not silently keep a default.
func applyConfig(cmd *cobra.Command, path string) error {
	var file map[string]any
	if path != "" {
		if _, err := toml.DecodeFile(path, &file); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	known := map[string]bool{}
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		key := strings.ReplaceAll(f.Name, "-", "_")
		known[key] = true
		if f.Changed || firstErr != nil || f.Name == "config" {
			return
		}
		if v, ok := os.LookupEnv("HEARTH_" + strings.ToUpper(key)); ok {
			if err := setFlag(f, v); err != nil {
				firstErr = fmt.Errorf("environment HEARTH_%s: %w", strings.ToUpper(key), err)
			}
			return
		}
		v, ok := file[key]
		if !ok {
			v, ok = file[f.Name]
		}
		if !ok {
			return
		}
		if list, isList := v.([]any); isList {
			for _, el := range list {
				if err := f.Value.Set(fmt.Sprint(el)); err != nil {
					firstErr = fmt.Errorf("config %s: %s: %w", path, key, err)
					return
				}
			}
			return
		}
		if err := f.Value.Set(fmt.Sprint(v)); err != nil {
			firstErr = fmt.Errorf("config %s: %s: %w", path, key, err)
		}
	})
	if firstErr != nil {
		return firstErr
	}
	var unknown []string
	for k := range file {
		if !known[strings.ReplaceAll(k, "-", "_")] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config %s: unknown keys %s", path, strings.Join(unknown, ", "))
	}
	return nil
}

// setFlag sets a flag from an environment value; list flags take
// comma-separated values.
func setFlag(f *pflag.Flag, v string) error {
	if f.Value.Type() == "stringArray" || f.Value.Type() == "stringSlice" {
		for _, part := range strings.Split(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				if err := f.Value.Set(part); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return f.Value.Set(v)
}
