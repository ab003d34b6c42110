//go:build windows || plan9 || solaris || aix || android

package bolt

import "os"

// unlockFile does nothing here: bbolt locks the file with LockFileEx on
// Windows and with fcntl on Solaris, AIX and Android, and closing the file,
// which the caller does next, releases either lock.
func unlockFile(*os.File) {}
