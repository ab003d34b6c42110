package steady

import (
	"fmt"
	"reflect"
	"sync"
)

// State is a typed value kept by the graph for one actor. It survives
// restarts of the actor: after a failure the actor sees the value of its
// last committed step, never a half-applied one.
//
// Inside a step the actor works on a copy ([State.Get]), installed when the
// step commits. The copy is a plain assignment, so a State holding maps,
// slices or pointers would share them with the committed value; give such a
// type a method
//
//	func (v T) Clone() T   // or func (v *T) Clone() T
//
// returning a deep copy, and Get calls it instead. The copy is made once per
// step that calls Get: for a plain struct it costs a memory copy of its size,
// for a Clone whatever Clone costs, so keep big collections out of hot
// state or batch more work per step.
type State[T any] struct {
	g     *Graph
	name  string
	owner *Actor
	err   error
	clone bool // T has a Clone method

	typeName string
	codec    Codec[T] // a durable graph's codec

	mu        sync.Mutex // guards committed against readers on other goroutines
	committed T
	work      T
	inStep    bool // work is this step's copy
}

// Cloner is implemented by state types that need a deep copy per step.
type Cloner[T any] interface{ Clone() T }

// NewState adds a state to the graph, starting at initial. Bind it to its
// actor with [State.Bind].
func NewState[T any](g *Graph, name string, initial T) *State[T] {
	st := &State[T]{g: g, name: name, committed: initial, typeName: reflect.TypeFor[T]().String()}
	_, st.clone = any(new(T)).(Cloner[T])
	st.err = g.register(kindState, name, st)
	return st
}

// Bind makes a the state's only owner and returns the state. Binding it to a
// second actor is a wiring error, reported by [Graph.Run].
func (st *State[T]) Bind(a *Actor) *State[T] {
	if st.err != nil {
		return st
	}
	if err := st.g.bindState(st.name, &st.owner, a); err != nil {
		st.err = err
		return st
	}
	a.states = append(a.states, st)
	return st
}

// Name is the state's name in the graph.
func (st *State[T]) Name() string { return st.name }

// Err is the error that made the state unusable, or nil.
func (st *State[T]) Err() error { return st.err }

// Get returns the step's working copy of the state. Changes to it are
// installed when the step commits and discarded if it fails. Calls within
// one step return the same copy. Outside a step, or from another actor, Get
// fails the step and returns a pointer to a throwaway zero value.
func (st *State[T]) Get(s *Step) *T {
	switch {
	case st.err != nil:
		s.fail(st.err)
	case s == nil || !s.open:
		s.fail(misuseErr("state %q (owner %s) used outside a step", st.name, st.ownerName()))
	case s.actor != st.owner:
		s.fail(misuseErr("actor %q used state %q, which belongs to %s", s.actor.name, st.name, st.ownerName()))
	default:
		if !st.inStep {
			// Only the owner writes committed, so it reads it unlocked.
			if st.clone {
				st.work = any(&st.committed).(Cloner[T]).Clone()
			} else {
				st.work = st.committed
			}
			st.inStep = true
			s.touched = append(s.touched, st)
		}
		return &st.work
	}
	return new(T)
}

func (st *State[T]) ownerName() string {
	if st.owner == nil {
		return "no actor"
	}
	return fmt.Sprintf("%q", st.owner.name)
}

// Value returns a copy of the committed value. It may be called from any
// goroutine at any time; it never sees a step's uncommitted changes. For a
// state holding maps or slices the copy is shallow: the owner's next
// Clone-and-commit replaces them, but do not modify them.
func (st *State[T]) Value() T {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.committed
}

// commit installs the working copy. The lock costs about 10 ns uncontended
// and is taken only by steps that called Get.
func (st *State[T]) commit() {
	st.mu.Lock()
	st.committed = st.work
	st.mu.Unlock()
	st.inStep = false
}

func (st *State[T]) abort(bool, bool) {
	var zero T
	st.work, st.inStep = zero, false
}
