package robust_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/examples/robust"
	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/steadytest"
)

// TestMain fails the package if any test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// kitFault is the value of every failure a test injects itself, through
// the kit (steadytest.Panic, steadytest.Error) or through a test sink, so
// that faultLog tells it from the demo's own faults and from a real
// failure.
type kitFault string

func (f kitFault) Error() string { return "test fault: " + string(f) }

// faultLog sorts the failures a harness's graph reported, by actor: the
// demo's own injected faults, the tests' kit faults, and anything else,
// which no test expects.
type faultLog struct {
	demo  map[string][]*robust.Fault
	kit   map[string][]observe.EventKind // EventPanicked or EventFailed, per kit fault
	other []error
}

// faultsOf reads the failures from the events the harness kept. Call it
// once the graph has run.
func faultsOf(h *steadytest.Harness) *faultLog {
	fl := &faultLog{demo: map[string][]*robust.Fault{}, kit: map[string][]observe.EventKind{}}
	for _, e := range h.Events() {
		if e.Kind != observe.EventPanicked && e.Kind != observe.EventFailed {
			continue
		}
		var f *robust.Fault
		var k kitFault
		switch {
		case errors.As(e.Err, &f):
			fl.demo[e.Actor] = append(fl.demo[e.Actor], f)
		case errors.As(e.Err, &k):
			fl.kit[e.Actor] = append(fl.kit[e.Actor], e.Kind)
		default:
			fl.other = append(fl.other, e.Err)
		}
	}
	return fl
}

// count returns how many faults the demo's injector injected into actor
// with the given mode whose message holds about (any fault if about is
// empty): a point's name, or what the step was doing.
func (fl *faultLog) count(actor string, mode robust.Mode, about string) int {
	n := 0
	for _, f := range fl.demo[actor] {
		if f.Mode == mode && strings.Contains(f.Error(), about) {
			n++
		}
	}
	return n
}

// newHarness returns a harness whose graph takes the demo's faults f
// through an injector, after the kit's, and the injector. Give it the
// actors (Injector.Watch) before the harness runs.
func newHarness(t *testing.T, f robust.Faults) (*steadytest.Harness, *robust.Injector) {
	in := robust.NewInjector(f)
	h := steadytest.New(t, steadytest.WithConfig(func(c *steady.Config) { c.Faults = in.Inject }))
	return h, in
}

// kitCount returns how many kit faults made actor fail with the given
// event kind: EventPanicked for steadytest.Panic, EventFailed for
// steadytest.Error.
func (fl *faultLog) kitCount(actor string, kind observe.EventKind) int {
	n := 0
	for _, k := range fl.kit[actor] {
		if k == kind {
			n++
		}
	}
	return n
}

func (fl *faultLog) checkNoOther(t *testing.T) {
	t.Helper()
	for _, err := range fl.other {
		t.Errorf("failure that was not injected: %v", err)
	}
}

// firedIn returns the fault points where the kit injected a failure into
// actor.
func firedIn(h *steadytest.Harness, actor string) []observe.FaultPoint {
	var ps []observe.FaultPoint
	for _, p := range h.Fired() {
		if p.Actor == actor {
			ps = append(ps, p)
		}
	}
	return ps
}

// firedOn returns how many of the kit's faults fired when actor peeked msg
// from channel.
func firedOn(h *steadytest.Harness, actor, channel string, msg any) int {
	n := 0
	for _, p := range h.Fired() {
		if p.Kind == observe.FaultPeek && p.Actor == actor && p.Channel == channel && p.Message == msg {
			n++
		}
	}
	return n
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

// memSink is an in-memory robust.Sink. With panicPast set it fails its
// step once, right after the first write that takes the "file" past that
// offset: the lines are written and the step is not yet committed, a point
// the kit's fault points (step start, each peek) do not reach in the
// logger. An offset picks a line, where a write count would pick whatever
// batch the scheduling made.
type memSink struct {
	b         []byte
	truncates int
	panicPast int64
	panicked  bool
}

func (m *memSink) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > len(m.b) {
		m.b = append(m.b, make([]byte, need-len(m.b))...)
	}
	n := copy(m.b[off:], p)
	if end := off + int64(n); m.panicPast > 0 && !m.panicked && end > m.panicPast {
		m.panicked = true
		panic(kitFault(fmt.Sprintf("after writing up to offset %d", end)))
	}
	return n, nil
}

func (m *memSink) Truncate(n int64) error {
	m.truncates++
	if int(n) <= len(m.b) {
		m.b = m.b[:n]
	} else {
		m.b = append(m.b, make([]byte, int(n)-len(m.b))...)
	}
	return nil
}
