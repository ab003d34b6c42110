package steady_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The storage engine is linked only by a program that asks for it: an
// in-memory graph, or one with a store of its own, imports the root and
// package store, and neither may pull in bbolt or what bbolt needs of the
// system (x/sys/unix). The bbolt backend, store/bolt, must. go list
// reads the import graph without building anything.
func TestDependencies(t *testing.T) {
	const (
		bbolt = "go.etcd.io/bbolt"
		unix  = "golang.org/x/sys/unix"
	)
	for _, c := range []struct {
		pkg              string
		without, linking []string
	}{
		{pkg: ".", without: []string{bbolt, unix}},
		{pkg: "./store", without: []string{bbolt, unix}},
		{pkg: "./jsbridge", without: []string{bbolt}},
		{pkg: "./steadytest", without: []string{bbolt}},
		{pkg: "./store/bolt", linking: []string{bbolt, unix}},
		// observe is plain values: a reader of a graph links no runtime.
		{pkg: "./observe", without: []string{"github.com/steady-go/steady", "github.com/steady-go/steady/store"}},
	} {
		out, err := exec.Command("go", "list", "-deps", c.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", c.pkg, err)
		}
		deps := strings.Fields(string(out))
		for _, d := range c.without {
			if slices.Contains(deps, d) {
				t.Errorf("%s depends on %s", c.pkg, d)
			}
		}
		for _, d := range c.linking {
			if !slices.Contains(deps, d) {
				t.Errorf("%s does not depend on %s; is the list above still checking the right name?", c.pkg, d)
			}
		}
	}
}
