package robust_test

import (
	"errors"
	"log/slog"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/examples/robust"
)

// TestMain fails the package if any test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// faultLog records the injected faults the graph reported, by actor.
type faultLog struct {
	mu     sync.Mutex
	faults map[string][]*robust.Fault
	other  []error // failures that were not injected
}

// config is a quiet graph configuration with a fixed seed whose events
// feed fl.
func (fl *faultLog) config() steady.Config {
	fl.faults = map[string][]*robust.Fault{}
	return steady.Config{
		Logger: slog.New(slog.DiscardHandler),
		Seed:   1,
		OnEvent: func(e steady.Event) {
			if e.Kind != steady.EventPanicked && e.Kind != steady.EventFailed {
				return
			}
			fl.mu.Lock()
			defer fl.mu.Unlock()
			var f *robust.Fault
			if errors.As(e.Err, &f) {
				fl.faults[e.Actor] = append(fl.faults[e.Actor], f)
			} else {
				fl.other = append(fl.other, e.Err)
			}
		},
	}
}

// count returns how many faults actor injected with the given mode whose
// point is p (any point if p is 0).
func (fl *faultLog) count(actor string, mode robust.Mode, p robust.Point) int {
	fl.mu.Lock()
	defer fl.mu.Unlock()
	n := 0
	for _, f := range fl.faults[actor] {
		if f.Mode == mode && (p == 0 || f.Point == p) {
			n++
		}
	}
	return n
}

func (fl *faultLog) checkNoOther(t *testing.T) {
	t.Helper()
	fl.mu.Lock()
	defer fl.mu.Unlock()
	for _, err := range fl.other {
		t.Errorf("failure that was not injected: %v", err)
	}
}

// feed adds an actor that sends vals into ch, as many per step as fit,
// and finishes, which closes ch.
func feed[T any](g *steady.Graph, name string, ch *steady.Channel[T], vals []T) {
	var out *steady.Sender[T]
	sent := steady.NewState(g, name, 0)
	a := g.Actor(name, func(a *steady.Actor) error {
		for sent.Value() < len(vals) {
			if err := a.WaitVacant(out, 1); err != nil {
				return err
			}
			err := a.Step(func(s *steady.Step) error {
				i := sent.Get(s)
				n := min(out.Vacant(), len(vals)-*i)
				*i += n
				return out.SendMany(s, vals[*i-n:*i])
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	out = ch.Sender(a)
	sent.Bind(a)
}

// collector takes everything from a channel. It never fails, so appending
// after each committed step records each message once.
type collector[T any] struct {
	got []T
}

// collect adds a collector of ch; after stopAfter messages (0: never) it
// asks the graph to shut down.
func collect[T any](g *steady.Graph, name string, ch *steady.Channel[T], stopAfter int) *collector[T] {
	c := &collector[T]{}
	var in *steady.Receiver[T]
	buf := make([]T, 64)
	a := g.Actor(name, func(a *steady.Actor) error {
		for a.Running() {
			if err := a.WaitAvailable(in, 1); err != nil {
				return err
			}
			var n int
			if err := a.Step(func(s *steady.Step) error { n = in.PeekMany(s, buf); return nil }); err != nil {
				return err
			}
			c.got = append(c.got, buf[:n]...)
			if stopAfter > 0 && len(c.got) >= stopAfter {
				a.RequestShutdown("collected enough")
			}
		}
		return nil
	})
	in = ch.Receiver(a)
	return c
}

// upTo returns 0, 1, ..., n-1 without the values in skip.
func upTo(n uint64, skip ...uint64) []uint64 {
	var vs []uint64
	for v := range n {
		skipped := false
		for _, s := range skip {
			skipped = skipped || s == v
		}
		if !skipped {
			vs = append(vs, v)
		}
	}
	return vs
}
