package store

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"
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
		data = AppendFrame(data, m[:])
	}
	channels := [2]string{"a", "b"}
	shape := Shape{
		Actors:   []string{"p", "c"},
		Channels: []Entity{{"a", "uint64"}, {"b", "uint64"}},
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
			batch := &Batch{Heads: map[string]uint64{}}
			var tails, consumed [2]uint64
			var lat []time.Duration
			b.SetBytes(appends * int64(len(data)))
			for b.Loop() {
				batch.Reset()
				for i := range appends {
					c := i % len(channels)
					batch.Appends = append(batch.Appends, Append{Channel: channels[c], First: tails[c], Count: perAppend, Data: data})
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
