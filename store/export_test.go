package store

import (
	"os"
	"testing"
)

// Helpers of the package's tests, for the sweep in sweep_test.go, which is
// package store_test because it runs a steady graph.
var (
	LivePages = livePages
	WriteFile = writeFile
)

// FileSize is the size of the file at path.
func FileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}
