//go:build !unix

package store

import "os"

// unlockFile does nothing here: bbolt locks a byte range of the handle
// (LockFileEx on Windows), and closing the handle, which the caller does
// next, releases it.
func unlockFile(*os.File) {}
