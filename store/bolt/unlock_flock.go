//go:build !windows && !plan9 && !solaris && !aix && !android

package bolt

import (
	"os"
	"syscall"
)

// unlockFile releases the lock bbolt took on f with flock (on these
// systems it does, with the same build constraint), for a file whose
// bbolt.DB never came to be and so cannot be closed.
func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
