//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import (
	"errors"
	"os"
	"time"
)

// errLocked means a non-waiting lock found the file locked.
var errLocked = errors.New("locked by another process")

// staleLock is how old a lock file must be before it is taken to belong to
// a process that died holding it. Manifest updates take milliseconds; a
// pull holds its lock longer but refreshes nothing, so a long pull on these
// systems can be joined by a second one after this time.
const staleLock = 10 * time.Minute

// lockFile stands in for flock where the syscall package has none: the lock
// is the existence of path, created exclusively.
func lockFile(path string, wait bool) (unlock func(), err error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
		if st, serr := os.Stat(path); serr == nil && time.Since(st.ModTime()) > staleLock {
			os.Remove(path)
			continue
		}
		if !wait {
			return nil, errLocked
		}
		time.Sleep(20 * time.Millisecond)
	}
}
