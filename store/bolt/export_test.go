package bolt

// Helpers of the package's tests, for the sweep in sweep_test.go, which is
// package store_test because it runs a steady graph.
var (
	LivePages = livePages
	WriteFile = writeFile
	FileSize  = fileSize
)
