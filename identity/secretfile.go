package identity

import (
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// CheckSecretFile refuses a file holding a secret (a private key, a
// token, a master key) that group or others may read or write, naming the
// file and the fix. It is for every secret a node keeps on disk, so they
// all fail the same way: the secret may already have leaked, so the file
// is refused rather than silently re-permissioned, and the operator
// decides (chmod 600, or rotate). A missing file gives an error wrapping
// fs.ErrNotExist. Windows has no such mode bits; there the directory's
// ACL is what counts.
func CheckSecretFile(path, what string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return secretMode(path, what, st.Mode())
}

// ReadSecretFile reads a small secret file whole (at most 64 KiB),
// refusing it as CheckSecretFile does; the mode is checked on the open
// file, so the file checked is the file read. A missing file gives an
// error wrapping fs.ErrNotExist.
func ReadSecretFile(path, what string) ([]byte, error) {
	return readSecret(path, what, "")
}

func secretMode(path, what string, mode fs.FileMode) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if !mode.IsRegular() {
		return fmt.Errorf("%s %s is not a regular file", what, path)
	}
	if perm := mode.Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s %s has mode %04o, so other users may read it; refusing to use it: "+
			"run `chmod 600 %s` if no one else can have read it, or replace the secret", what, path, perm, path)
	}
	return nil
}
