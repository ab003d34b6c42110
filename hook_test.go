package steady_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// lockedBuffer is a log destination several goroutines may write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// An OnEvent hook that panics at every event, on every goroutine events
// happen on (the actor's runner for a failure and restart, Run's for the
// stops, Shutdown's caller), fails nothing: the worker that failed once is
// restarted once, every value arrives once, Run returns nil, and each
// panic is logged.
func TestPanickingHookFailsNothing(t *testing.T) {
	var logs lockedBuffer
	cfg := steady.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Seed: 1}
	var hooked sync.Map
	cfg.OnEvent = func(e observe.Event) {
		hooked.Store(e.Kind, true)
		panic("the hook is broken")
	}
	g := steady.NewGraph(cfg)
	const n = 1000
	nums := steady.NewChannel[int](g, "nums", 64)
	out := steady.NewChannel[int](g, "out", 64)
	sent := steady.NewState(g, "sent", 0)
	got := steady.NewState(g, "got", []int(nil))
	var tx *steady.Sender[int]
	prod := g.Actor("producer", func(a *steady.Actor) error {
		return steady.Source(a, tx, func(s *steady.Step) (int, bool, error) {
			v := sent.Get(s)
			if *v == n {
				return 0, false, nil
			}
			*v++
			return *v, true, nil
		})
	})
	tx = nums.Sender(prod)
	sent.Bind(prod)
	var rx *steady.Receiver[int]
	var fwd *steady.Sender[int]
	failed := false
	worker := g.Actor("worker", func(a *steady.Actor) error {
		return steady.Stage(a, rx, fwd, func(s *steady.Step, v int) (int, bool, error) {
			if v == n/2 && !failed {
				failed = true
				panic("the worker fails once")
			}
			return v, true, nil
		})
	}, steady.Backoff(0, 0))
	rx, fwd = nums.Receiver(worker), out.Sender(worker)
	var sink *steady.Receiver[int]
	sinkActor := g.Actor("sink", func(a *steady.Actor) error {
		return steady.SinkBatch(a, sink, 64, func(s *steady.Step, vs []int) error {
			v := got.Get(s)
			*v = append(slices.Clip(*v), vs...)
			return nil
		})
	})
	sink = out.Receiver(sinkActor)
	got.Bind(sinkActor)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := g.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(got.Value(), want) {
		t.Fatalf("the sink got %d values, want 1..%d once each, in order", len(got.Value()), n)
	}
	if r := worker.Restarts(); r != 1 {
		t.Errorf("worker restarted %d times, want 1", r)
	}
	for _, k := range []observe.EventKind{observe.EventPanicked, observe.EventRestarting, observe.EventStopped} {
		if _, ok := hooked.Load(k); !ok {
			t.Errorf("the hook never saw %v", k)
		}
	}
	if c := strings.Count(logs.String(), "the OnEvent hook panicked"); c < 3 {
		t.Errorf("%d hook panics logged, want one an event (at least 3):\n%s", c, logs.String())
	}
}
