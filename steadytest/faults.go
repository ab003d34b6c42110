package steadytest

import (
	"fmt"
	"reflect"

	"github.com/steady-go/steady/observe"
)

// Failure is what an injected fault does: panic or return an error.
type Failure struct {
	panicValue any
	err        error
}

// Panic fails with a panic of v.
func Panic(v any) Failure { return Failure{panicValue: v} }

// Error fails the step with err.
func Error(err error) Failure { return Failure{err: err} }

// fire fails the step at p as f says: it returns f's error, or panics
// (with a value naming p when Panic was given nil).
func (f Failure) fire(p observe.FaultPoint) error {
	if f.err != nil {
		return f.err
	}
	v := f.panicValue
	if v == nil {
		v = fmt.Sprintf("steadytest: injected fault at %+v", p)
	}
	panic(v)
}

// fault is one registered injection.
type fault struct {
	match   func(p observe.FaultPoint) bool
	failure Failure
	times   int // how many more times it fires; negative: always
}

// FailStep fails the actor's nth step (counting every step begun, failed
// ones included, from 1), once.
//
// An injected Error does not stop the step where it is injected: the step
// runs on and fails when it returns, like a step whose send was refused.
// Later fault points of a step that already failed are not consulted, so
// each step fails at most once and Fired lists only faults that failed a
// step.
func (h *Harness) FailStep(actor string, n int64, f Failure) {
	h.add(fault{match: func(p observe.FaultPoint) bool {
		return p.Kind == observe.FaultStep && p.Actor == actor && p.Step == n
	}, failure: f, times: 1})
}

// FailOn fails the actor's step when it peeks msg from channel, times
// times (a negative times: every time, which makes msg a poison message).
// msg is compared with reflect.DeepEqual, so it must have the channel's
// type exactly: uint64(42), not 42, on a channel of uint64.
func (h *Harness) FailOn(actor, channel string, msg any, times int, f Failure) {
	h.add(fault{match: func(p observe.FaultPoint) bool {
		return p.Kind == observe.FaultPeek && p.Actor == actor && p.Channel == channel && reflect.DeepEqual(p.Message, msg)
	}, failure: f, times: times})
}

// FailAt fails the actor's step at the named fault point (Step.Fault),
// times times (negative: every time).
func (h *Harness) FailAt(actor, name string, times int, f Failure) {
	h.add(fault{match: func(p observe.FaultPoint) bool {
		return p.Kind == observe.FaultNamed && p.Actor == actor && p.Name == name
	}, failure: f, times: times})
}

// Fired returns the fault points where a failure was injected, in order.
func (h *Harness) Fired() []observe.FaultPoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]observe.FaultPoint(nil), h.fired...)
}

func (h *Harness) add(f fault) {
	h.mu.Lock()
	h.faults = append(h.faults, f)
	h.mu.Unlock()
}

// inject is the graph's Config.Faults: the kit's faults, then those given
// to WithConfig.
func (h *Harness) inject(p observe.FaultPoint) error {
	if f, ok := h.kit(p); ok {
		return f.fire(p)
	}
	if h.next == nil {
		return nil
	}
	return h.next(p)
}

// kit returns the kit's fault at p, if one matches.
func (h *Harness) kit(p observe.FaultPoint) (Failure, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.faults {
		f := &h.faults[i]
		if f.times == 0 || !f.match(p) {
			continue
		}
		if f.times > 0 {
			f.times--
		}
		h.fired = append(h.fired, p)
		return f.failure, true
	}
	return Failure{}, false
}
