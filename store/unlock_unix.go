//go:build unix

package store

import (
	"os"
	"syscall"
)

// unlockFile releases the advisory lock bbolt took on f with flock, for a
// file whose bbolt.DB never came to be and so cannot be closed.
func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
