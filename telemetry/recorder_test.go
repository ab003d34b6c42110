package telemetry_test

import (
	"sync"
	"testing"

	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/telemetry"
)

// The recorder keeps the last N events, oldest first, and counts all.
func TestRecorderKeepsLastN(t *testing.T) {
	rec := telemetry.NewRecorder(5)
	if got := rec.Events(); len(got) != 0 {
		t.Fatalf("a new recorder has %d events", len(got))
	}
	for i := 1; i <= 3; i++ {
		rec.Record(observe.Event{Kind: observe.EventRestarting, Count: i})
	}
	counts := func() []int {
		var out []int
		for _, e := range rec.Events() {
			out = append(out, e.Count)
		}
		return out
	}
	if got := counts(); len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Errorf("after 3 events: %v, want [1 2 3]", got)
	}
	for i := 4; i <= 12; i++ {
		rec.Record(observe.Event{Kind: observe.EventRestarting, Count: i})
	}
	want := []int{8, 9, 10, 11, 12}
	got := counts()
	if len(got) != len(want) {
		t.Fatalf("after 12 events: %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("after 12 events: %v, want %v", got, want)
		}
	}
	if rec.Total() != 12 {
		t.Errorf("Total %d, want 12", rec.Total())
	}
	if n := len(telemetry.NewRecorder(0).Events()); n != 0 {
		t.Errorf("NewRecorder(0) starts with %d events", n)
	}
}

// Chain records, then calls the hook it wraps; a nil hook is fine.
func TestRecorderChain(t *testing.T) {
	rec := telemetry.NewRecorder(0)
	var seen []observe.EventKind
	hook := rec.Chain(func(e observe.Event) { seen = append(seen, e.Kind) })
	hook(observe.Event{Kind: observe.EventPanicked})
	rec.Chain(nil)(observe.Event{Kind: observe.EventStopped})
	if len(seen) != 1 || seen[0] != observe.EventPanicked {
		t.Errorf("the chained hook saw %v, want [panicked]", seen)
	}
	if evs := rec.Events(); len(evs) != 2 || evs[0].Kind != observe.EventPanicked || evs[1].Kind != observe.EventStopped {
		t.Errorf("recorded %v", evs)
	}
}

// Record is safe from many goroutines (the race detector checks), and
// each writer's events stay in its order.
func TestRecorderConcurrent(t *testing.T) {
	const writers, each, size = 8, 500, 64
	rec := telemetry.NewRecorder(size)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				rec.Record(observe.Event{Actor: string(rune('a' + w)), Count: i})
				if i%50 == 0 {
					rec.Events()
				}
			}
		})
	}
	wg.Wait()
	if rec.Total() != writers*each {
		t.Errorf("Total %d, want %d", rec.Total(), writers*each)
	}
	evs := rec.Events()
	if len(evs) != size {
		t.Fatalf("%d events kept, want %d", len(evs), size)
	}
	last := map[string]int{}
	for _, e := range evs {
		if prev, ok := last[e.Actor]; ok && e.Count <= prev {
			t.Errorf("writer %s: event %d after %d", e.Actor, e.Count, prev)
		}
		last[e.Actor] = e.Count
	}
}

// Recording a full ring allocates nothing.
func TestRecorderAllocs(t *testing.T) {
	rec := telemetry.NewRecorder(16)
	e := observe.Event{Kind: observe.EventRestarting, Actor: "worker"}
	for range 16 {
		rec.Record(e)
	}
	if n := testing.AllocsPerRun(1000, func() { rec.Record(e) }); n != 0 {
		t.Errorf("Record allocates %v times", n)
	}
}

func BenchmarkRecorderRecord(b *testing.B) {
	rec := telemetry.NewRecorder(0)
	e := observe.Event{Kind: observe.EventRestarting, Actor: "worker"}
	for b.Loop() {
		rec.Record(e)
	}
}
