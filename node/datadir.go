package node

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
)

// secureDataDir creates dir (0700) if needed and makes an existing one
// 0700 if group or others may enter or list it.
func secureDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if runtime.GOOS == "windows" {
		return nil
	}
	if !st.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if old := st.Mode().Perm(); old&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("data directory %s has mode %04o, open to other users, and cannot be made 0700: %w", dir, old, err)
		}
		log.Warn("data directory was open to other users; made it 0700", "dir", dir, "was", fmt.Sprintf("%04o", old))
	}
	return nil
}
