package steady_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// letterValues lists the values of the graph's dead letters, by ID.
func letterValues(g *steady.Graph) []any {
	var vs []any
	for _, d := range g.DeadLetters() {
		vs = append(vs, d.Value)
	}
	return vs
}

// letterID is the ID of the graph's dead letter of value v, or 0.
func letterID(g *steady.Graph, v any) uint64 {
	for _, d := range g.DeadLetters() {
		if d.Value == v {
			return d.ID
		}
	}
	return 0
}

// checkStoreFull checks that err is Run's error after the consumer
// found a store of max letters full on a message of channel values.
func checkStoreFull(t *testing.T, err error, max int) {
	t.Helper()
	var gaveUp *steady.GaveUpError
	if !errors.Is(err, steady.ErrDeadLetterStoreFull) || !errors.As(err, &gaveUp) || gaveUp.Actor == "" {
		t.Fatalf("Run: %v; want a *GaveUpError wrapping ErrDeadLetterStoreFull", err)
	}
	unit := "letters"
	if max == 1 {
		unit = "letter"
	}
	wiringContains(t, err, fmt.Sprintf("dead-letter store full (%d %s)", max, unit), `channel "`+poisonChan+`"`)
}

// TestDeadLetterStoreFull: once the store holds Config.MaxDeadLetters
// letters, the next poison message is not quarantined: it stays at the
// head of its channel, the consumer gives up with an error and an event
// saying why, and the graph runs on degraded or stops, by the consumer's
// OnLimit. Nothing is lost: every value was consumed, dead-lettered or is
// still in the channel. An actor that carries on after the refused Step
// gives up all the same.
func TestDeadLetterStoreFull(t *testing.T) {
	const n = 20
	for _, tc := range []struct {
		name    string
		mode    poisonMode
		onLimit steady.LimitAction
	}{
		{"panics, degrade", poisonPanics, steady.Degrade},
		{"returns, stop graph", poisonReturns, steady.StopGraph},
		{"carries on after the refusal", poisonCarries, steady.Degrade},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newPoisonRig(t, poisonSetup{
				n: n, capacity: 32, chunk: n, batch: 1, poison: []int{3, 6, 9}, mode: tc.mode,
				opts:           []steady.ActorOption{steady.Backoff(0, 0), steady.OnLimit(tc.onLimit)},
				maxDeadLetters: 2,
			})
			err := r.run(t)
			checkStoreFull(t, err, 2)
			if tc.mode == poisonPanics {
				var pe *steady.PanicError
				if !errors.As(err, &pe) || pe.Value != "poison 9" {
					t.Errorf("Run: %v; want the last failure, the panic on 9, kept", err)
				}
			}
			if got := letterValues(r.g); !slices.Equal(got, []any{3, 6}) {
				t.Errorf("dead letters %v, want 3 and 6", got)
			}
			vals := r.log.Value().Vals
			poisonExpect(t, vals, 9, 3, 6)
			if l := r.ch.Len(); l != n-9 || len(vals)+2+l != n {
				t.Errorf("%d messages left in the channel, want %d (9 at its head); %d consumed + 2 dead + %d left ≠ %d",
					l, n-9, len(vals), l, n)
			}
			if st := r.consumer.Status(); st != observe.StatusDegraded {
				t.Errorf("consumer %v, want degraded", st)
			}
			gaveUp := r.events.kinds(observe.EventGaveUp)
			if len(gaveUp) != 1 || !errors.Is(gaveUp[0].Err, steady.ErrDeadLetterStoreFull) ||
				!strings.Contains(gaveUp[0].String(), "dead-letter store full") {
				t.Errorf("EventGaveUp events %v, want one saying the store is full", gaveUp)
			}
			if last := r.consumer.Stats().LastError; !errors.Is(last, steady.ErrDeadLetterStoreFull) {
				t.Errorf("consumer's LastError %v, want the give-up", last)
			}
			reason := r.g.Snapshot().ShutdownReason
			if tc.onLimit == steady.StopGraph && !strings.Contains(reason, "dead-letter store full") {
				t.Errorf("shutdown reason %q, want the full store", reason)
			}
			if tc.onLimit == steady.Degrade && reason != "" {
				t.Errorf("shutdown reason %q; a degraded graph runs on until its actors finish", reason)
			}
		})
	}
}

// TestDeadLetterPurge: a purge makes room in a full store, is announced
// and counted; it purges all the letters asked for or, if one is unknown,
// none, naming it.
func TestDeadLetterPurge(t *testing.T) {
	const n = 20
	var purgeErr error
	var first uint64
	var r *poisonRig
	r = newPoisonRig(t, poisonSetup{
		n: n, capacity: 32, chunk: n, batch: 1, poison: []int{3, 6, 9}, mode: poisonPanics,
		opts: []steady.ActorOption{steady.Backoff(0, 0)}, maxDeadLetters: 2,
		// Once the store is full, an operator purges the first letter
		// (from the hook, which runs before the consumer goes on).
		onEvent: func(e observe.Event) {
			if e.Kind != observe.EventDeadLettered {
				return
			}
			switch e.DeadLetter.Value {
			case 3:
				first = e.DeadLetter.ID
			case 6:
				purgeErr = r.g.Purge(first)
			}
		},
	})
	if err := r.run(t); err != nil || purgeErr != nil {
		t.Fatalf("Run: %v; Purge: %v", err, purgeErr)
	}
	poisonExpect(t, r.log.Value().Vals, n, 3, 6, 9)
	if got := letterValues(r.g); !slices.Equal(got, []any{6, 9}) {
		t.Errorf("dead letters %v, want 6 and 9 (3 purged)", got)
	}
	purged := r.events.kinds(observe.EventPurged)
	if len(purged) != 1 || purged[0].DeadLetter == nil || purged[0].DeadLetter.ID != first ||
		purged[0].DeadLetter.Value != 3 || !strings.Contains(purged[0].String(), "purged") {
		t.Errorf("EventPurged events %v, want one for letter %d of 3", purged, first)
	}
	if p := r.g.Snapshot().DeadLettersPurged; p != 1 {
		t.Errorf("Snapshot().DeadLettersPurged = %d, want 1", p)
	}

	six, nine := letterID(r.g, 6), letterID(r.g, 9)
	for _, ids := range [][]uint64{{99}, {six, 99}, {first}} {
		err := r.g.Purge(ids...)
		if !errors.Is(err, steady.ErrDeadLetterNotFound) {
			t.Errorf("Purge(%v): %v, want ErrDeadLetterNotFound", ids, err)
			continue
		}
		wiringContains(t, err, fmt.Sprint(ids[len(ids)-1]))
	}
	if err := r.g.Purge(); err != nil {
		t.Errorf("Purge(): %v", err)
	}
	if got := letterValues(r.g); !slices.Equal(got, []any{6, 9}) {
		t.Errorf("after the refused purges: dead letters %v, want 6 and 9", got)
	}
	if err := r.g.Purge(six, nine, six); err != nil {
		t.Fatalf("Purge(%d, %d, %d): %v", six, nine, six, err)
	}
	if dl := r.g.DeadLetters(); len(dl) != 0 {
		t.Errorf("dead letters %v after purging all", dl)
	}
	if p, e := r.g.Snapshot().DeadLettersPurged, len(r.events.kinds(observe.EventPurged)); p != 3 || e != 3 {
		t.Errorf("%d purged, %d EventPurged; want 3 of each", p, e)
	}
}

// TestDeadLetterReplayAll: Replay takes every letter given, in one go, or
// none if one is unknown; the replayed messages arrive once each.
func TestDeadLetterReplayAll(t *testing.T) {
	const n = 20
	var failing atomic.Bool
	failing.Store(true)
	r := newPoisonRig(t, poisonSetup{
		n: n, capacity: 32, chunk: n, batch: 1, poison: []int{3, 6, 9}, mode: poisonPanics,
		opts: []steady.ActorOption{steady.Backoff(0, 0)}, failing: &failing, linger: true,
	})
	wait := r.start(t)
	defer func() {
		r.g.Shutdown("test done")
		if err := wait(); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var ids []uint64
	for range 3 {
		select {
		case d := <-r.events.deadLettered:
			ids = append(ids, d.ID)
		case <-time.After(poisonRunLimit):
			t.Fatalf("only %d dead letters within %v", len(ids), poisonRunLimit)
		}
	}
	err := r.g.Replay(append(slices.Clone(ids), 99)...)
	if !errors.Is(err, steady.ErrDeadLetterNotFound) || !strings.Contains(err.Error(), "99") {
		t.Errorf("Replay with an unknown id: %v, want ErrDeadLetterNotFound naming 99", err)
	}
	if got := letterValues(r.g); !slices.Equal(got, []any{3, 6, 9}) {
		t.Fatalf("dead letters %v after a refused replay, want all three", got)
	}
	failing.Store(false)
	if err := r.g.Replay(ids...); err != nil {
		t.Fatalf("Replay(%v): %v", ids, err)
	}
	if dl := r.g.DeadLetters(); len(dl) != 0 {
		t.Errorf("dead letters %v after replaying all", dl)
	}
	waitFor(t, func() bool { return len(r.log.Value().Vals) == n })
	got := slices.Clone(r.log.Value().Vals)
	slices.Sort(got)
	poisonExpect(t, got, n)
}

// TestDeadLetterReplayKeepsItsPlace: a replayed letter still counts
// against the limit until it is consumed, and, when it fails again, takes
// its place back: it is quarantined again in a full store, not refused.
func TestDeadLetterReplayKeepsItsPlace(t *testing.T) {
	r := newPoisonRig(t, poisonSetup{
		n: 10, capacity: 16, chunk: 10, batch: 1, poison: []int{3}, mode: poisonPanics,
		opts: []steady.ActorOption{steady.Backoff(0, 0)}, linger: true, maxDeadLetters: 1,
	})
	wait := r.start(t)
	var d observe.DeadLetter
	select {
	case d = <-r.events.deadLettered:
	case <-time.After(poisonRunLimit):
		t.Fatalf("no dead letter within %v", poisonRunLimit)
	}
	if err := r.g.Replay(d.ID); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	var again observe.DeadLetter
	select {
	case again = <-r.events.deadLettered:
	case <-time.After(poisonRunLimit):
		t.Fatalf("the replayed letter was not quarantined again within %v", poisonRunLimit)
	}
	r.g.Shutdown("test done")
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if dl := r.g.DeadLetters(); len(dl) != 1 || dl[0].ID != again.ID || again.ID == d.ID || dl[0].Value != 3 {
		t.Errorf("dead letters %+v, want 3 alone, under a new ID", dl)
	}
	if e := r.events.kinds(observe.EventGaveUp); len(e) != 0 {
		t.Errorf("the consumer gave up: %v", e[0].Err)
	}
	poisonExpect(t, r.log.Value().Vals, 10, 3)
}

func poisonIn(vs ...uint64) func(uint64) bool {
	return func(v uint64) bool { return slices.Contains(vs, v) }
}

// durableCfg is quiet() with the store and the dead-letter limit.
func durableCfg(ms *memStore, max int) steady.Config {
	cfg := quiet()
	cfg.Store, cfg.MaxDeadLetters = ms, max
	return cfg
}

// TestDurableDeadLetterStoreFull: the refused message stays at the head of
// its channel on disk too, with its attempts, and a graph resumed on the
// same full store behaves the same. Raising the limit, or purging a
// letter, lets it be quarantined, and the rest arrives.
func TestDurableDeadLetterStoreFull(t *testing.T) {
	ms := newMemStore()
	for run := range 2 {
		r := newSinkRig(durableCfg(ms, 1), false, poisonIn(2, 5))
		checkStoreFull(t, wiringRun(t, r.g), 1)
		if got := r.got.Value(); !slices.Equal(got, []uint64{0, 1, 3, 4}) {
			t.Errorf("run %d: the sink got %v, want 0, 1, 3, 4", run, got)
		}
		if dl := letterValues(r.g); !slices.Equal(dl, []any{uint64(2)}) || r.ch.Len() != 5 {
			t.Errorf("run %d: dead letters %v and %d messages in the channel, want 2 and 5..9", run, dl, r.ch.Len())
		}
		ms.mu.Lock()
		head, left, attempts := ms.heads[poisonChan], len(ms.msgs[poisonChan]), ms.attempts[poisonChan]
		ms.mu.Unlock()
		if head != 5 || left != 5 || attempts < 2 {
			t.Errorf("run %d: the store has the channel at %d with %d messages, %d attempts; want 5 (the refused one), 5, at least 2",
				run, head, left, attempts)
		}
	}

	t.Run("limit raised", func(t *testing.T) {
		r := newSinkRig(durableCfg(ms.crash(), 2), false, poisonIn(2, 5))
		if err := wiringRun(t, r.g); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got, dl := r.got.Value(), letterValues(r.g); !slices.Equal(got, []uint64{0, 1, 3, 4, 6, 7, 8, 9}) ||
			!slices.Equal(dl, []any{uint64(2), uint64(5)}) {
			t.Errorf("the sink got %v, dead letters %v; want the rest of 0..9, and 2 and 5", got, dl)
		}
	})

	t.Run("purged", func(t *testing.T) {
		disk := ms.crash()
		r := newSinkRig(durableCfg(disk, 1), false, poisonIn(2, 5))
		if err := r.g.Load(); err != nil {
			t.Fatal(err)
		}
		if err := r.g.Purge(letterID(r.g, uint64(2))); err != nil {
			t.Fatalf("Purge before Run: %v", err)
		}
		if len(disk.dead) != 0 || disk.purged != 1 {
			t.Errorf("store after the purge: %d letters, %d purged; want 0 and 1", len(disk.dead), disk.purged)
		}
		if err := wiringRun(t, r.g); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got, dl := r.got.Value(), letterValues(r.g); !slices.Equal(got, []uint64{0, 1, 3, 4, 6, 7, 8, 9}) ||
			!slices.Equal(dl, []any{uint64(5)}) {
			t.Errorf("the sink got %v, dead letters %v; want the rest of 0..9, and 5", got, dl)
		}
		again := newSinkRig(durableCfg(disk, 1), false, nil)
		if err := again.g.Load(); err != nil {
			t.Fatal(err)
		}
		if p := again.g.Snapshot().DeadLettersPurged; p != 1 {
			t.Errorf("a later run counts %d purged, want 1", p)
		}
	})
}

// TestDurableReplayBeforeRun: a replay asked for after Load, by a process
// that then ends without running the graph (an operator's command), is
// delivered by the next run on the store.
func TestDurableReplayBeforeRun(t *testing.T) {
	ms := newMemStore()
	r := newSinkRig(durableCfg(ms, 0), false, poisonIn(5))
	if err := wiringRun(t, r.g); err != nil {
		t.Fatalf("Run: %v", err)
	}
	id := letterID(r.g, uint64(5))

	cmd := newSinkRig(durableCfg(ms, 0), false, poisonIn(5))
	if err := cmd.g.Load(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.g.Replay(id + 1); !errors.Is(err, steady.ErrDeadLetterNotFound) || !strings.Contains(err.Error(), fmt.Sprint(id+1)) {
		t.Errorf("Replay(%d): %v, want ErrDeadLetterNotFound naming it", id+1, err)
	}
	if err := cmd.g.Replay(id); err != nil {
		t.Fatalf("Replay(%d): %v", id, err)
	}
	if !ms.dead[id].Replay || len(cmd.g.DeadLetters()) != 0 {
		t.Fatalf("after Replay: stored %+v, listed %v; want it marked, and no longer listed", ms.dead[id], cmd.g.DeadLetters())
	}

	next := newSinkRig(durableCfg(ms, 0), false, nil)
	if err := wiringRun(t, next.g); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := next.got.Value(); !slices.Equal(got, []uint64{0, 1, 2, 3, 4, 6, 7, 8, 9, 5}) {
		t.Errorf("the sink got %v, want 0..9 with 5 last", got)
	}
	if len(next.g.DeadLetters()) != 0 || len(ms.dead) != 0 {
		t.Errorf("dead letters %v, stored %v; want none", next.g.DeadLetters(), ms.dead)
	}
}

// TestDurableReplayIsDurableWhenItReturns: a process killed right after
// Replay returned still delivers the replayed message, once.
func TestDurableReplayIsDurableWhenItReturns(t *testing.T) {
	ms := newMemStore()
	var pass atomic.Bool
	var once sync.Once
	quarantined := make(chan uint64, 1)
	cfg := durableCfg(ms, 0)
	cfg.OnEvent = func(e observe.Event) {
		if e.Kind == observe.EventDeadLettered {
			once.Do(func() { quarantined <- e.DeadLetter.ID })
		}
	}
	r := newSinkRig(cfg, true, func(v uint64) bool { return v == 5 && !pass.Load() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.g.Run(ctx) }()
	id := <-quarantined
	pass.Store(true)
	if err := r.g.Replay(id); err != nil {
		t.Fatal(err)
	}
	disk := ms.crash() // kill -9, now
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	next := newSinkRig(durableCfg(disk, 0), false, nil)
	if err := wiringRun(t, next.g); err != nil {
		t.Fatalf("Run after the crash: %v", err)
	}
	got := slices.Clone(next.got.Value())
	slices.Sort(got)
	if !slices.Equal(got, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) || len(next.g.DeadLetters()) != 0 {
		t.Errorf("after the crash the sink got %v, dead letters %v; want 0..9 once each, none", got, next.g.DeadLetters())
	}
}

// TestDeadLetterDeliveredReplayFreesItsPlace: once a replayed message is
// consumed, its letter no longer counts against the limit.
func TestDeadLetterDeliveredReplayFreesItsPlace(t *testing.T) {
	const n = 20
	var failing atomic.Bool
	failing.Store(true)
	var replayErr error
	var r *poisonRig
	r = newPoisonRig(t, poisonSetup{
		n: n, capacity: 4, chunk: 1, batch: 1, poison: []int{3, 15}, mode: poisonPanics,
		opts:    []steady.ActorOption{steady.Backoff(0, 0), steady.OnLimit(steady.StopGraph)},
		failing: &failing, maxDeadLetters: 1,
		// On the consumer's goroutine: after the quarantine of 3 fills
		// the store, replay 3 and let it through; fail again after.
		onCommit: func(vals []int) {
			switch {
			case slices.Contains(vals, 4):
				failing.Store(false)
				replayErr = r.g.Replay(letterID(r.g, 3))
			case slices.Contains(vals, 3):
				failing.Store(true)
			}
		},
	})
	if err := r.run(t); err != nil || replayErr != nil {
		t.Fatalf("Run: %v; Replay: %v", err, replayErr)
	}
	if got := letterValues(r.g); !slices.Equal(got, []any{15}) {
		t.Errorf("dead letters %v, want 15 alone", got)
	}
	got := slices.Clone(r.log.Value().Vals)
	if i := slices.Index(got, 3); i < 0 || !slices.Contains(got[:i], 4) {
		t.Errorf("the consumer got %v; want 3 after 4, replayed", got)
	}
	slices.Sort(got)
	poisonExpect(t, got, n, 15)
}

// TestDurableReplayOutlivesItsConsumer: a replay whose consumer stops for
// good before taking it is back in the run's list of dead letters, and
// still asked for in the store: the next run delivers it.
func TestDurableReplayOutlivesItsConsumer(t *testing.T) {
	ms := newMemStore()
	if err := wiringRun(t, newSinkRig(durableCfg(ms, 0), false, poisonIn(5)).g); err != nil {
		t.Fatalf("first run: %v", err)
	}
	// A sink that fails on every value and gives up at once.
	r := newSinkRig(durableCfg(ms, 0), false, func(uint64) bool { return true }, steady.Intensity(0, 0))
	if err := r.g.Load(); err != nil {
		t.Fatal(err)
	}
	id := letterID(r.g, uint64(5))
	if err := r.g.Replay(id); err != nil {
		t.Fatal(err)
	}
	var gaveUp *steady.GaveUpError
	if err := wiringRun(t, r.g); !errors.As(err, &gaveUp) {
		t.Fatalf("Run: %v, want the sink to give up", err)
	}
	if dl := r.g.DeadLetters(); len(dl) != 1 || dl[0].ID != id || !ms.dead[id].Replay {
		t.Fatalf("dead letters %+v, stored %+v; want letter %d back in the list and still asked for in the store", dl, ms.dead[id], id)
	}

	next := newSinkRig(durableCfg(ms, 0), false, nil)
	if err := wiringRun(t, next.g); err != nil {
		t.Fatalf("next run: %v", err)
	}
	if got := next.got.Value(); !slices.Equal(got, []uint64{0, 1, 2, 3, 4, 6, 7, 8, 9, 5}) || len(next.g.DeadLetters()) != 0 {
		t.Errorf("the sink got %v, dead letters %v; want 0..9 with 5 last, none", got, next.g.DeadLetters())
	}
}
