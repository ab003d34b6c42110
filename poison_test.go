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

// poisonChan is the channel the consumer of the poison tests reads.
const poisonChan = "values"

// errPoison is what the consumer returns for a poison message when it fails
// with an error rather than a panic.
var errPoison = errors.New("cannot handle value")

// poisonMode is how the consumer fails on a poison message.
type poisonMode int

const (
	poisonPanics  poisonMode = iota // the step panics
	poisonReturns                   // the step returns an error, and so does the actor
	poisonCarries                   // the step returns an error, the actor carries on
)

// poisonLog is the consumer's committed state: every value it received, in
// order, and the size of every step it committed.
type poisonLog struct {
	Vals    []int
	Batches []int
}

func (l poisonLog) Clone() poisonLog {
	return poisonLog{Vals: slices.Clone(l.Vals), Batches: slices.Clone(l.Batches)}
}

// poisonEvents collects the events of a graph, as collect does, and can
// hand over each dead letter as it is recorded.
type poisonEvents struct {
	collect
	// deadLettered, if set, receives every dead letter as it is recorded.
	deadLettered chan observe.DeadLetter
}

func (e *poisonEvents) add(ev observe.Event) {
	e.hook(ev)
	if ev.Kind == observe.EventDeadLettered && e.deadLettered != nil && ev.DeadLetter != nil {
		e.deadLettered <- *ev.DeadLetter
	}
}

// poisonSetup describes a producer → values → consumer graph. The producer
// sends 0..n-1, chunk values per step; the consumer takes batch values per
// step (Peek for 1, PeekMany for more) and fails on the poison values.
type poisonSetup struct {
	n, capacity, chunk, batch int
	poison                    []int
	mode                      poisonMode
	opts                      []steady.ActorOption // the consumer's policy
	// failing, if set, turns the poison failures on and off.
	failing *atomic.Bool
	// linger keeps the producer running after its last value until the
	// graph shuts down, so the consumer does not see its input close.
	linger bool
	// onCommit, if set, is called by the consumer after each committed
	// step with the values it took.
	onCommit func(vals []int)
	// onRun, if set, is called at the start of every run of the consumer
	// and says whether this run fails before it peeks anything, and where.
	onRun func(a *steady.Actor) poisonEarly
	// maxDeadLetters is the graph's Config.MaxDeadLetters.
	maxDeadLetters int
	// onEvent, if set, also receives every event.
	onEvent func(observe.Event)
}

// poisonEarly says where a consumer run fails before peeking, if at all.
type poisonEarly int

const (
	earlyNone         poisonEarly = iota
	earlyPanicInStep              // panics inside a step, before any peek
	earlyErrorInStep              // returns an error from a step, before any peek
	earlyPanicOutside             // panics outside any step
)

// poisonRig is a built graph and what the test reads back.
type poisonRig struct {
	g        *steady.Graph
	ch       *steady.Channel[int]
	log      *steady.State[poisonLog]
	consumer *steady.Actor
	events   *poisonEvents

	// failedBatches is the number of messages peeked by each step that
	// failed on a poison value; the consumer's goroutine writes it.
	failedBatches []int
}

func newPoisonRig(t *testing.T, s poisonSetup) *poisonRig {
	t.Helper()
	r := &poisonRig{events: &poisonEvents{deadLettered: make(chan observe.DeadLetter, 16)}}
	cfg := quiet()
	cfg.OnEvent = r.events.add
	if s.onEvent != nil {
		cfg.OnEvent = func(e observe.Event) { r.events.add(e); s.onEvent(e) }
	}
	cfg.MaxDeadLetters = s.maxDeadLetters
	g := steady.NewGraph(cfg)
	r.g = g
	r.ch = steady.NewChannel[int](g, poisonChan, s.capacity)
	next := steady.NewState(g, "producer-next", 0)
	r.log = steady.NewState(g, "consumer-log", poisonLog{})
	var tx *steady.Sender[int]
	var rx *steady.Receiver[int]

	producer := g.Actor("producer", func(a *steady.Actor) error {
		err := steady.SourceBatch(a, tx, s.chunk, func(st *steady.Step, buf []int) (int, bool, error) {
			v := next.Get(st)
			k := min(len(buf), s.n-*v)
			for i := range k {
				buf[i] = *v + i
			}
			*v += k
			return k, *v < s.n, nil
		})
		for err == nil && s.linger {
			err = a.Sleep(time.Hour)
		}
		return err
	}, steady.Backoff(0, 0))

	isPoison := func(v int) bool {
		return slices.Contains(s.poison, v) && (s.failing == nil || s.failing.Load())
	}
	buf := make([]int, s.batch)
	r.consumer = g.Actor("consumer", func(a *steady.Actor) error {
		early := earlyNone
		if s.onRun != nil {
			early = s.onRun(a)
		}
		if early == earlyPanicOutside {
			panic("consumer fails outside any step")
		}
		for {
			if err := a.WaitAvailable(rx, 1); err != nil {
				return err
			}
			var took []int
			err := a.Step(func(st *steady.Step) error {
				switch early {
				case earlyPanicInStep:
					panic("consumer fails before peeking")
				case earlyErrorInStep:
					return errors.New("consumer fails before peeking")
				}
				var vals []int
				if s.batch == 1 {
					v, ok := rx.Peek(st)
					if !ok {
						return nil
					}
					vals = []int{v}
				} else {
					vals = buf[:rx.PeekMany(st, buf)]
				}
				l := r.log.Get(st)
				for _, v := range vals {
					if isPoison(v) {
						r.failedBatches = append(r.failedBatches, len(vals))
						if s.mode == poisonPanics {
							panic(fmt.Sprintf("poison %d", v))
						}
						return fmt.Errorf("%w %d", errPoison, v)
					}
					l.Vals = append(l.Vals, v)
				}
				l.Batches = append(l.Batches, len(vals))
				took = vals
				return nil
			})
			if err != nil {
				if s.mode == poisonCarries {
					continue
				}
				return err
			}
			if s.onCommit != nil {
				s.onCommit(took)
			}
		}
	}, s.opts...)

	tx, rx = r.ch.Sender(producer), r.ch.Receiver(r.consumer)
	next.Bind(producer)
	r.log.Bind(r.consumer)
	return r
}

// poisonRunLimit bounds every Run in these tests.
const poisonRunLimit = 15 * time.Second

// start runs the graph in the background; the returned function waits for
// Run's result, failing the test if it takes longer than poisonRunLimit.
func (r *poisonRig) start(t *testing.T) (wait func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.g.Run(context.Background()) }()
	return func() error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(poisonRunLimit):
			r.g.Shutdown("test: Run hung")
			t.Fatalf("Run did not return within %v", poisonRunLimit)
			return nil
		}
	}
}

// run runs the graph to the end and returns Run's error.
func (r *poisonRig) run(t *testing.T) error {
	t.Helper()
	return r.start(t)()
}

// poisonExpect fails the test unless got is 0..n-1 without the values in
// except, each once, in order.
func poisonExpect(t *testing.T, got []int, n int, except ...int) {
	t.Helper()
	var want []int
	for v := range n {
		if !slices.Contains(except, v) {
			want = append(want, v)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("consumer received %d values %v,\nwant %d values %v", len(got), got, len(want), want)
	}
}

// poisonCheckPanicLetter checks a dead letter quarantined after panics on value v.
func poisonCheckPanicLetter(t *testing.T, d observe.DeadLetter, v, attempts int, start, end time.Time) {
	t.Helper()
	if d.ID == 0 {
		t.Error("dead letter has ID 0")
	}
	if d.Actor != "consumer" || d.Channel != poisonChan {
		t.Errorf("dead letter from actor %q, channel %q; want %q, %q", d.Actor, d.Channel, "consumer", poisonChan)
	}
	if d.Value != any(v) {
		t.Errorf("dead letter value %#v, want %d", d.Value, v)
	}
	if d.Attempts != attempts {
		t.Errorf("dead letter after %d attempts, want %d", d.Attempts, attempts)
	}
	var pe *steady.PanicError
	if !errors.As(d.Err, &pe) {
		t.Fatalf("dead letter error %v (%T) is not a *PanicError", d.Err, d.Err)
	}
	if want := fmt.Sprintf("poison %d", v); pe.Value != want {
		t.Errorf("panic value %#v, want %q", pe.Value, want)
	}
	if pe.Actor != "consumer" {
		t.Errorf("panic of actor %q, want consumer", pe.Actor)
	}
	if !strings.Contains(d.Stack, "poison_test.go") {
		t.Errorf("dead letter stack does not show the panic site in poison_test.go:\n%s", d.Stack)
	}
	if d.Time.Before(start) || d.Time.After(end) {
		t.Errorf("dead letter time %v outside the run [%v, %v]", d.Time, start, end)
	}
}

// poisonCheckEvents checks that exactly the dead letters in dl were
// announced by an EventDeadLettered each.
func poisonCheckEvents(t *testing.T, ev *poisonEvents, dl []observe.DeadLetter) {
	t.Helper()
	got := ev.kinds(observe.EventDeadLettered)
	if len(got) != len(dl) {
		t.Fatalf("%d EventDeadLettered events, want %d", len(got), len(dl))
	}
	for i, e := range got {
		d := e.DeadLetter
		if d == nil {
			t.Errorf("EventDeadLettered %d has no DeadLetter", i)
			continue
		}
		if e.Actor != "consumer" || d.ID != dl[i].ID || d.Value != dl[i].Value || d.Attempts != dl[i].Attempts {
			t.Errorf("EventDeadLettered %d: actor %q, %+v; want the dead letter %+v", i, e.Actor, *d, dl[i])
		}
		if e.Time.IsZero() {
			t.Errorf("EventDeadLettered %d has no time", i)
		}
	}
}

// TestPoisonSingleMessage: a message whose step panics on every attempt is
// quarantined after PoisonAfter attempts with everything a user needs to
// understand it, an event says so, and every other message arrives once,
// in order.
func TestPoisonSingleMessage(t *testing.T) {
	for _, tc := range []struct {
		name     string
		opts     []steady.ActorOption
		attempts int
	}{
		{"default", nil, steady.DefaultPolicy().PoisonAfter},
		{"PoisonAfter(5)", []steady.ActorOption{steady.PoisonAfter(5)}, 5},
		{"PoisonAfter(1)", []steady.ActorOption{steady.PoisonAfter(1)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n, poison = 50, 17
			r := newPoisonRig(t, poisonSetup{
				n: n, capacity: 4, chunk: 1, batch: 1, poison: []int{poison},
				mode: poisonPanics,
				opts: append([]steady.ActorOption{steady.Backoff(0, 0)}, tc.opts...),
			})
			start := time.Now()
			if err := r.run(t); err != nil {
				t.Fatalf("Run: %v", err)
			}
			end := time.Now()

			dl := r.g.DeadLetters()
			if len(dl) != 1 {
				t.Fatalf("%d dead letters, want 1: %+v", len(dl), dl)
			}
			poisonCheckPanicLetter(t, dl[0], poison, tc.attempts, start, end)
			poisonCheckEvents(t, r.events, dl)
			panics := r.events.kinds(observe.EventPanicked)
			if len(panics) != tc.attempts {
				t.Errorf("%d panics, want %d (one per attempt)", len(panics), tc.attempts)
			}
			if got := r.consumer.Restarts(); got != tc.attempts {
				t.Errorf("consumer restarted %d times, want %d", got, tc.attempts)
			}
			if got := r.consumer.Stats().DeadLetters; got != 1 {
				t.Errorf("consumer stats count %d dead letters, want 1", got)
			}
			poisonExpect(t, r.log.Value().Vals, n, poison)
			if l := r.ch.Len(); l != 0 {
				t.Errorf("%d messages left in the channel", l)
			}
		})
	}
}

// TestPoisonInBatch: a consumer taking up to 32 messages per step fails on
// one value in the middle of a batch. The framework narrows the next steps
// to one message until the failed batch is consumed, so exactly the poison
// value is quarantined, every other value arrives once and in order, and
// full batches resume afterwards.
func TestPoisonInBatch(t *testing.T) {
	const n, batch = 100, 32
	for _, tc := range []struct {
		name   string
		poison []int
		mode   poisonMode
	}{
		{"panic in the middle", []int{40}, poisonPanics},
		{"panic on the first of a batch", []int{32}, poisonPanics},
		{"panic on the last of a batch", []int{63}, poisonPanics},
		{"two poisons in one batch", []int{40, 45}, poisonPanics},
		{"error in the middle", []int{40}, poisonReturns},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The producer sends all n values in one step, so the consumer
			// sees them all at once and its batches are [0,32), [32,64), ...
			r := newPoisonRig(t, poisonSetup{
				n: n, capacity: 128, chunk: n, batch: batch, poison: tc.poison,
				mode: tc.mode, opts: []steady.ActorOption{steady.Backoff(0, 0)},
			})
			if err := r.run(t); err != nil {
				t.Fatalf("Run: %v", err)
			}
			dl := r.g.DeadLetters()
			var got []any
			for _, d := range dl {
				got = append(got, d.Value)
				if d.Attempts != steady.DefaultPolicy().PoisonAfter {
					t.Errorf("value %v quarantined after %d attempts, want %d", d.Value, d.Attempts, steady.DefaultPolicy().PoisonAfter)
				}
			}
			var want []any
			for _, v := range tc.poison {
				want = append(want, v)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("dead letters %v, want exactly %v", got, want)
			}
			poisonCheckEvents(t, r.events, dl)
			poisonExpect(t, r.log.Value().Vals, n, tc.poison...)

			// One failed batch, then PoisonAfter failures of each poison
			// value alone: the batch failure is not charged to any message.
			if want := 1 + steady.DefaultPolicy().PoisonAfter*len(tc.poison); len(r.failedBatches) != want {
				t.Errorf("%d failed steps %v, want %d", len(r.failedBatches), r.failedBatches, want)
			}
			if len(r.failedBatches) == 0 || r.failedBatches[0] != batch {
				t.Errorf("failed steps peeked %v messages; the first must be a full batch of %d", r.failedBatches, batch)
			}
			for _, k := range r.failedBatches[1:] {
				if k != 1 {
					t.Errorf("failed steps peeked %v messages; after the batch failed, each must peek one", r.failedBatches)
					break
				}
			}
			// Batches: [0,32) whole; [32,64) one by one after it failed,
			// less the poison values; then whole batches again.
			b := r.log.Value().Batches
			wantB := []int{batch}
			for range 32 - len(tc.poison) {
				wantB = append(wantB, 1)
			}
			wantB = append(wantB, batch, n-3*batch)
			if !slices.Equal(b, wantB) {
				t.Errorf("committed batch sizes %v, want %v", b, wantB)
			}
		})
	}
}

// TestPoisonByError: a step that fails by returning an error, not by
// panicking, quarantines its message too, with Err being that error and no
// stack; whether the actor returns the error (and is restarted) or carries
// on with its next step.
func TestPoisonByError(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     poisonMode
		restarts int
	}{
		{"actor returns the error", poisonReturns, steady.DefaultPolicy().PoisonAfter},
		{"actor carries on", poisonCarries, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n, poison = 30, 11
			r := newPoisonRig(t, poisonSetup{
				n: n, capacity: 4, chunk: 1, batch: 1, poison: []int{poison},
				mode: tc.mode, opts: []steady.ActorOption{steady.Backoff(0, 0)},
			})
			start := time.Now()
			if err := r.run(t); err != nil {
				t.Fatalf("Run: %v", err)
			}
			end := time.Now()
			dl := r.g.DeadLetters()
			if len(dl) != 1 {
				t.Fatalf("%d dead letters, want 1: %+v", len(dl), dl)
			}
			d := dl[0]
			if d.Value != any(poison) || d.Actor != "consumer" || d.Channel != poisonChan || d.Attempts != steady.DefaultPolicy().PoisonAfter {
				t.Errorf("dead letter %+v, want value %d from consumer on %q after %d attempts",
					d, poison, poisonChan, steady.DefaultPolicy().PoisonAfter)
			}
			if !errors.Is(d.Err, errPoison) || !strings.Contains(fmt.Sprint(d.Err), fmt.Sprint(poison)) {
				t.Errorf("dead letter error %v, want the step's error %q", d.Err, fmt.Errorf("%w %d", errPoison, poison))
			}
			var pe *steady.PanicError
			if errors.As(d.Err, &pe) {
				t.Errorf("dead letter error is a panic: %v", pe)
			}
			if d.Stack != "" {
				t.Errorf("dead letter of an error has a stack:\n%s", d.Stack)
			}
			if d.Time.Before(start) || d.Time.After(end) {
				t.Errorf("dead letter time %v outside the run", d.Time)
			}
			poisonCheckEvents(t, r.events, dl)
			if e := r.events.kinds(observe.EventDeadLettered); len(e) == 1 && !errors.Is(e[0].DeadLetter.Err, errPoison) {
				t.Errorf("event's dead letter error %v, want the step's error", e[0].DeadLetter.Err)
			}
			if got := len(r.events.kinds(observe.EventFailed)); got != tc.restarts {
				t.Errorf("%d failure events, want %d", got, tc.restarts)
			}
			if len(r.events.kinds(observe.EventPanicked)) != 0 {
				t.Error("panic events for a failure by error")
			}
			if got := r.consumer.Restarts(); got != tc.restarts {
				t.Errorf("consumer restarted %d times, want %d", got, tc.restarts)
			}
			poisonExpect(t, r.log.Value().Vals, n, poison)
		})
	}
}

// TestPoisonReplayDuringRun: once the consumer no longer fails on it, a
// replayed dead letter arrives at the consumer exactly once, ahead of the
// messages it has not yet peeked, and leaves the store; replaying it again
// is ErrDeadLetterNotFound.
func TestPoisonReplayDuringRun(t *testing.T) {
	const n, poison = 40, 13
	var failing atomic.Bool
	failing.Store(true)
	replayDone := make(chan struct{})
	gotPoison := make(chan struct{})
	var once sync.Once
	runs := 0 // touched by the consumer's goroutine only
	r := newPoisonRig(t, poisonSetup{
		// All values are in the channel from the start, so a shutdown
		// lets the consumer drain every one of them.
		n: n, capacity: 64, chunk: n, batch: 1, poison: []int{poison},
		mode: poisonPanics, opts: []steady.ActorOption{steady.Backoff(0, 0)},
		failing: &failing, linger: true,
		// The run after the quarantine waits for the replay, so the
		// replayed value is the next one the consumer peeks.
		onRun: func(a *steady.Actor) poisonEarly {
			runs++
			if runs == steady.DefaultPolicy().PoisonAfter+1 {
				select {
				case <-replayDone:
				case <-a.Context().Done():
				}
			}
			return earlyNone
		},
		onCommit: func(vals []int) {
			if slices.Contains(vals, poison) {
				once.Do(func() { close(gotPoison) })
			}
		},
	})
	wait := r.start(t)
	fail := func(format string, args ...any) {
		t.Helper()
		r.g.Shutdown("test failed")
		close(replayDone)
		t.Fatalf(format+"; Run: %v", append(args, wait())...)
	}

	var d observe.DeadLetter
	select {
	case d = <-r.events.deadLettered:
	case <-time.After(poisonRunLimit):
		fail("no dead letter within %v", poisonRunLimit)
	}
	if d.Value != any(poison) {
		fail("dead-lettered %v, want %d", d.Value, poison)
	}
	if dl := r.g.DeadLetters(); len(dl) != 1 || dl[0].ID != d.ID {
		t.Errorf("store holds %+v, want the dead letter %d", dl, d.ID)
	}
	failing.Store(false)
	if err := r.g.Replay(d.ID); err != nil {
		fail("Replay(%d) while the consumer runs: %v", d.ID, err)
	}
	if dl := r.g.DeadLetters(); len(dl) != 0 {
		t.Errorf("store still holds %+v after the replay", dl)
	}
	close(replayDone)
	select {
	case <-gotPoison:
	case <-time.After(poisonRunLimit):
		r.g.Shutdown("test failed")
		t.Fatalf("the replayed value did not arrive within %v; Run: %v", poisonRunLimit, wait())
	}
	err := r.g.Replay(d.ID)
	if !errors.Is(err, steady.ErrDeadLetterNotFound) {
		t.Errorf("second Replay(%d): %v, want ErrDeadLetterNotFound", d.ID, err)
	}
	r.g.Shutdown("test done")
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	poisonExpect(t, r.log.Value().Vals, n)
	if dl := r.g.DeadLetters(); len(dl) != 0 {
		t.Errorf("dead letters after the run: %+v", dl)
	}
	if e := r.events.kinds(observe.EventDeadLettered); len(e) != 1 {
		t.Errorf("%d EventDeadLettered events, want 1", len(e))
	}
	if l := r.ch.Len(); l != 0 {
		t.Errorf("%d messages left in the channel", l)
	}
}

// TestPoisonReplayRejected: Replay of an unknown id is ErrDeadLetterNotFound;
// Replay once the consumer has stopped fails and leaves the dead letter in
// the store, unchanged.
func TestPoisonReplayRejected(t *testing.T) {
	const n, poison = 20, 5
	r := newPoisonRig(t, poisonSetup{
		n: n, capacity: 4, chunk: 1, batch: 1, poison: []int{poison},
		mode: poisonPanics, opts: []steady.ActorOption{steady.Backoff(0, 0)},
	})
	for _, id := range []uint64{0, 1, 42} {
		if err := r.g.Replay(id); !errors.Is(err, steady.ErrDeadLetterNotFound) {
			t.Errorf("Replay(%d) before Run: %v, want ErrDeadLetterNotFound", id, err)
		}
	}
	if err := r.run(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	before := r.g.DeadLetters()
	if len(before) != 1 {
		t.Fatalf("%d dead letters, want 1", len(before))
	}
	d := before[0]

	err := r.g.Replay(d.ID + 1)
	if !errors.Is(err, steady.ErrDeadLetterNotFound) {
		t.Errorf("Replay(unknown id %d): %v, want ErrDeadLetterNotFound", d.ID+1, err)
	} else if !strings.Contains(err.Error(), fmt.Sprint(d.ID+1)) {
		t.Errorf("Replay(unknown id %d): %q does not name the id", d.ID+1, err)
	}

	for i := range 2 { // a failed replay leaves the letter, so it fails again
		err = r.g.Replay(d.ID)
		if err == nil {
			t.Fatalf("Replay %d after the consumer stopped returned nil", i+1)
		}
		if errors.Is(err, steady.ErrDeadLetterNotFound) {
			t.Errorf("Replay %d after the consumer stopped: %v; the letter exists, the consumer is what is missing", i+1, err)
		}
		wiringContains(t, err, `"consumer"`, `"`+poisonChan+`"`)
		after := r.g.DeadLetters()
		if len(after) != 1 || after[0].ID != d.ID || after[0].Value != d.Value ||
			after[0].Attempts != d.Attempts || after[0].Err != d.Err || !after[0].Time.Equal(d.Time) {
			t.Errorf("store after a failed replay: %+v, want it unchanged: %+v", after, before)
		}
	}
	poisonExpect(t, r.log.Value().Vals, n, poison)
}

// TestPoisonReplayRacingConsumerStop: a Replay that lands after the consumer
// has seen its input closed and empty, but before it is marked stopped, must
// not lose the message: either the replay fails and the dead letter stays,
// or the consumer receives it. The consumer calls Replay itself at that
// point, to hit the window deterministically; a Replay from an HTTP handler
// can land there by chance.
func TestPoisonReplayRacingConsumerStop(t *testing.T) {
	const poison = 3
	ev := &poisonEvents{deadLettered: make(chan observe.DeadLetter, 1)}
	cfg := quiet()
	cfg.OnEvent = ev.add
	g := steady.NewGraph(cfg)
	ch := steady.NewChannel[int](g, poisonChan, 8)
	log := steady.NewState(g, "consumer-log", poisonLog{})
	var tx *steady.Sender[int]
	var rx *steady.Receiver[int]
	var replayErr error
	replayed := false
	p := g.Actor("producer", func(a *steady.Actor) error {
		return a.Step(func(s *steady.Step) error { return tx.SendMany(s, []int{1, 2, 3, 4}) })
	})
	c := g.Actor("consumer", func(a *steady.Actor) error {
		for {
			if err := a.WaitAvailable(rx, 1); err != nil {
				if errors.Is(err, steady.ErrClosed) && !replayed {
					// The dead letter was recorded long before the input
					// ran dry; the timeout only guards against a hang.
					select {
					case d := <-ev.deadLettered:
						replayed = true
						replayErr = g.Replay(d.ID)
					case <-time.After(poisonRunLimit):
					}
				}
				return err
			}
			err := a.Step(func(s *steady.Step) error {
				v, ok := rx.Peek(s)
				if !ok {
					return nil
				}
				if v == poison && !replayed {
					panic(fmt.Sprintf("poison %d", v))
				}
				l := log.Get(s)
				l.Vals = append(l.Vals, v)
				return nil
			})
			if err != nil {
				return err
			}
		}
	}, steady.Backoff(0, 0))
	tx, rx = ch.Sender(p), ch.Receiver(c)
	log.Bind(c)
	if err := wiringRun(t, g); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !replayed {
		t.Fatalf("no dead letter to replay; dead letters %+v", g.DeadLetters())
	}
	got := log.Value().Vals
	dl := g.DeadLetters()
	switch {
	case replayErr != nil && len(dl) == 1:
		// Refused and kept: fine.
	case replayErr == nil && slices.Contains(got, poison) && len(dl) == 0:
		// Delivered: fine.
	case replayErr == nil && !slices.Contains(got, poison) && len(dl) == 1 && dl[0].Value == poison:
		// Accepted, but the consumer stopped before taking it: the dead
		// letter went back to the store. Fine.
	default:
		t.Errorf("Replay: %v; consumer got %v; dead letters %+v", replayErr, got, dl)
	}
}

// TestPoisonFailureBeforePeek: a failure before the step peeked anything,
// or outside any step, is not the message's fault: nothing is quarantined,
// even after failures that were charged to the head message. Past its
// restart limit the actor degrades, the messages stay in the channel, and
// Run returns a *GaveUpError.
func TestPoisonFailureBeforePeek(t *testing.T) {
	const n = 10
	for _, tc := range []struct {
		name string
		// chargedFirst runs fail on the head message (peeked alone) before
		// the failures before peeking begin.
		chargedFirst int
		early        poisonEarly
		limit        int
	}{
		{"panic in a step before peeking", 0, earlyPanicInStep, 3},
		{"error from a step before peeking", 0, earlyErrorInStep, 3},
		{"panic outside a step", 0, earlyPanicOutside, 3},
		{"after failures charged to the head message", steady.DefaultPolicy().PoisonAfter - 1, earlyPanicInStep, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := 0 // touched by the consumer's goroutine only
			r := newPoisonRig(t, poisonSetup{
				n: n, capacity: n, chunk: n, batch: 1, poison: []int{0}, mode: poisonPanics,
				opts: []steady.ActorOption{steady.Backoff(0, 0), steady.Intensity(tc.limit, time.Minute)},
				onRun: func(*steady.Actor) poisonEarly {
					runs++
					if runs <= tc.chargedFirst {
						return earlyNone // fails on the poison head message, 0
					}
					return tc.early
				},
			})
			err := r.run(t)
			var gu *steady.GaveUpError
			if !errors.As(err, &gu) {
				t.Fatalf("Run: %v, want a *GaveUpError", err)
			}
			if gu.Actor != "consumer" || gu.Restarts != tc.limit {
				t.Errorf("gave up: actor %q after %d restarts; want consumer after %d", gu.Actor, gu.Restarts, tc.limit)
			}
			if dl := r.g.DeadLetters(); len(dl) != 0 {
				t.Errorf("dead letters for failures that were not the message's fault: %+v", dl)
			}
			if e := r.events.kinds(observe.EventDeadLettered); len(e) != 0 {
				t.Errorf("%d EventDeadLettered events", len(e))
			}
			if e := r.events.kinds(observe.EventGaveUp); len(e) != 1 {
				t.Errorf("%d EventGaveUp events, want 1", len(e))
			}
			if st := r.consumer.Status(); st != observe.StatusDegraded {
				t.Errorf("consumer is %v, want degraded", st)
			}
			if got := r.log.Value().Vals; len(got) != 0 {
				t.Errorf("consumer committed %v", got)
			}
			if l := r.ch.Len(); l != n {
				t.Errorf("%d messages left in the channel, want all %d", l, n)
			}
		})
	}
}

// TestPoisonAfterZero: PoisonAfter(0) never quarantines; a message that
// always fails stays in its channel, with those behind it, and the actor
// degrades past its limit.
func TestPoisonAfterZero(t *testing.T) {
	const n, poison = 10, 5
	r := newPoisonRig(t, poisonSetup{
		n: n, capacity: 64, chunk: n, batch: 1, poison: []int{poison}, mode: poisonPanics,
		opts: []steady.ActorOption{steady.Backoff(0, 0), steady.PoisonAfter(0), steady.Intensity(5, time.Minute)},
	})
	err := r.run(t)
	var gu *steady.GaveUpError
	if !errors.As(err, &gu) || gu.Actor != "consumer" {
		t.Fatalf("Run: %v, want a *GaveUpError for consumer", err)
	}
	var pe *steady.PanicError
	if !errors.As(gu.Last, &pe) || pe.Value != fmt.Sprintf("poison %d", poison) {
		t.Errorf("gave up on %v, want the poison panic", gu.Last)
	}
	if dl := r.g.DeadLetters(); len(dl) != 0 {
		t.Errorf("dead letters with PoisonAfter(0): %+v", dl)
	}
	if e := r.events.kinds(observe.EventPanicked); len(e) != 6 {
		t.Errorf("%d panics, want 6 (5 restarts, then giving up)", len(e))
	}
	poisonExpect(t, r.log.Value().Vals, poison)
	if l := r.ch.Len(); l != n-poison {
		t.Errorf("%d messages left in the channel, want %d (the poison and those behind it)", l, n-poison)
	}
}
