package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/steady-go/steady/store"
)

// BenchmarkCommit commits what the committer of a busy durable graph
// would: per batch, 4 appends of 2,500 uint64 messages (8 bytes, 9 framed)
// on two channels, and the heads that consume the batch before, so the
// file keeps a steady size. "fsync" is what the disk costs; "nosync" the
// store's own work.
//
//	go test -run '^$' -bench Commit -benchtime 2000x ./store/
func BenchmarkCommit(b *testing.B) {
	const (
		appends   = 4
		perAppend = 2500
	)
	var data []byte
	for i := range perAppend {
		var m [8]byte
		binary.BigEndian.PutUint64(m[:], uint64(i)*0x9E3779B97F4A7C15)
		data = store.AppendFrame(data, m[:])
	}
	channels := [2]string{"a", "b"}
	shape := store.Shape{
		Actors:   []string{"p", "c"},
		Channels: []store.Entity{{Name: "a", Type: "uint64"}, {Name: "b", Type: "uint64"}},
	}
	for _, bc := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(bc.name, func(b *testing.B) {
			st, err := Open(b.TempDir(), &Options{NoSync: bc.noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Load(shape); err != nil {
				b.Fatal(err)
			}
			batch := &store.Batch{Heads: map[string]uint64{}}
			var tails, consumed [2]uint64
			var lat []time.Duration
			b.SetBytes(appends * int64(len(data)))
			for b.Loop() {
				batch.Reset()
				for i := range appends {
					c := i % len(channels)
					batch.Appends = append(batch.Appends, store.Append{Channel: channels[c], First: tails[c], Count: perAppend, Data: data})
					tails[c] += perAppend
				}
				for c, name := range channels {
					if consumed[c] > 0 {
						batch.Heads[name] = consumed[c]
					}
				}
				start := time.Now()
				if err := st.Commit(batch); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
				consumed = tails
			}
			slices.Sort(lat)
			b.ReportMetric(float64(b.N*appends*perAppend)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// largeFiles are the 1 GiB state files of BenchmarkOpenLarge: unconsumed
// messages in runs of 64 messages of 1 KiB (a few records a page, most
// bytes in overflow pages); in runs of one 200-byte message (the most pages
// to walk for the bytes: about 17 records a page); and the first drained,
// every message consumed (a gigabyte of free pages, a freelist of 260,000
// ids).
var largeFiles = []struct {
	name          string
	msgs, msgSize int // per run
	drained       bool
}{
	{"runs-of-64KiB", 64, 1 << 10, false},
	{"runs-of-200B", 1, 200, false},
	{"drained", 64, 1 << 10, true},
}

// largeShape is the shape of the files of BenchmarkOpenLarge.
var largeShape = store.Shape{Actors: []string{"p", "c"}, Channels: []store.Entity{{Name: "big", Type: "[]uint8"}}}

// BenchmarkOpenLarge measures what Open's check of the file's structure
// (verify.go) costs on 1 GiB state files: "check" is the check alone,
// "bbolt" what Open did before it (open the file read-only, close it, open
// it for writing, which reads the freelist), "Open" is Open and Close, and
// "Open+Load" adds Load, which reads every record. The files are in the
// page cache: a cold read costs what the disk does for each.
//
// It builds the files (about a minute each) only when STEADY_BENCH_LARGE
// names a directory to build them in, and reuses them there; without it,
// as in CI, it is skipped:
//
//	STEADY_BENCH_LARGE=/var/tmp/steady-large go test -run '^$' -bench OpenLarge -benchtime 5x ./store/
func BenchmarkOpenLarge(b *testing.B) {
	root := os.Getenv("STEADY_BENCH_LARGE")
	if root == "" {
		b.Skip("set STEADY_BENCH_LARGE to a directory for three 1 GiB state files")
	}
	for _, lf := range largeFiles {
		dir := filepath.Join(root, lf.name)
		path := filepath.Join(dir, FileName)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			buildLarge(b, dir, lf.msgs, lf.msgSize, lf.drained)
		}
		b.Run(lf.name+"/check", func(b *testing.B) {
			for b.Loop() {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				_, err = verifyFile(f, path)
				if err := errors.Join(err, f.Close()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(lf.name+"/bbolt", func(b *testing.B) {
			for b.Loop() {
				for _, ro := range []bool{true, false} {
					db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: ro, Timeout: time.Second})
					if err := errors.Join(err, db.Close()); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		for _, withLoad := range []bool{false, true} {
			name := lf.name + "/Open"
			if withLoad {
				name += "+Load"
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					st, err := Open(dir, nil)
					if err != nil {
						b.Fatal(err)
					}
					if withLoad {
						_, err = st.Load(largeShape)
					}
					if err := errors.Join(err, st.Close()); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// buildLarge writes a state file of at least 1 GiB in dir: runs of msgs
// messages of size bytes, unconsumed, or all consumed if drained.
func buildLarge(b *testing.B, dir string, msgs, size int, drained bool) {
	b.Helper()
	st, err := Open(dir, &Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Load(largeShape); err != nil {
		b.Fatal(err)
	}
	var data []byte
	for range msgs {
		data = store.AppendFrame(data, bytes.Repeat([]byte{0xA5}, size))
	}
	const perCommit = 16 << 20 // bytes of messages per commit
	var tail uint64
	for fileSize(b, st.Path()) < 1<<30 {
		batch := &store.Batch{}
		for range perCommit / len(data) {
			batch.Appends = append(batch.Appends, store.Append{Channel: "big", First: tail, Count: msgs, Data: data})
			tail += uint64(msgs)
		}
		if err := st.Commit(batch); err != nil {
			b.Fatal(err)
		}
	}
	if drained {
		if err := st.Commit(&store.Batch{Heads: map[string]uint64{"big": tail}}); err != nil {
			b.Fatal(err)
		}
	}
}
