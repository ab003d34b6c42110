package steadytest

import (
	"errors"
	"sync"
	"time"

	"github.com/steady-go/steady"
)

// Command is an instruction for a Scripted actor.
type Command struct {
	kind  commandKind
	err   error
	value any
}

type commandKind uint8

const (
	cmdSucceed commandKind = iota + 1
	cmdFail
	cmdPanic
	cmdHang
	cmdFinish
)

// Succeed commits one step (which counts it in Scripted.Steps).
func Succeed() Command { return Command{kind: cmdSucceed} }

// Fail returns err from the actor.
func Fail(err error) Command { return Command{kind: cmdFail, err: err} }

// PanicWith panics with v.
func PanicWith(v any) Command { return Command{kind: cmdPanic, value: v} }

// Hang blocks, ignoring shutdown requests, until the graph stops for good
// (the shutdown timeout), like an actor stuck in a call.
func Hang() Command { return Command{kind: cmdHang} }

// Finish returns nil: the actor is done.
func Finish() Command { return Command{kind: cmdFinish} }

// Scripted is an actor that follows commands: from a script given to
// NewScripted, then from Do, in order. While it has no command it waits,
// and it finishes when the graph shuts down. Add it with
// h.Actor(name, s.Run).
type Scripted struct {
	mu    sync.Mutex
	queue []Command
	wake  chan struct{}
	steps int
	runs  []time.Time
}

// NewScripted returns a Scripted actor that starts with script.
func NewScripted(script ...Command) *Scripted {
	return &Scripted{queue: script, wake: make(chan struct{}, 1)}
}

// Do queues commands for the actor; it returns at once.
func (sc *Scripted) Do(cmds ...Command) {
	sc.mu.Lock()
	sc.queue = append(sc.queue, cmds...)
	sc.mu.Unlock()
	select {
	case sc.wake <- struct{}{}:
	default:
	}
}

// Steps is the number of steps the actor committed.
func (sc *Scripted) Steps() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.steps
}

// Runs returns when each run of the actor began: the first start and every
// restart.
func (sc *Scripted) Runs() []time.Time {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return append([]time.Time(nil), sc.runs...)
}

// pollEvery is how often a waiting Scripted actor checks for shutdown: it
// waits on its own command channel, which steady does not wake.
const pollEvery = 10 * time.Millisecond

// Run is the actor function.
func (sc *Scripted) Run(a *steady.Actor) error {
	sc.mu.Lock()
	sc.runs = append(sc.runs, time.Now())
	sc.mu.Unlock()
	for {
		cmd, ok := sc.next()
		if !ok {
			if !a.Running() {
				return nil
			}
			t := time.NewTimer(pollEvery)
			select {
			case <-sc.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		switch cmd.kind {
		case cmdSucceed:
			if err := a.Step(func(*steady.Step) error { return nil }); err != nil {
				return err
			}
			sc.mu.Lock()
			sc.steps++
			sc.mu.Unlock()
		case cmdFail:
			if cmd.err == nil {
				cmd.err = errors.New("steadytest: scripted failure")
			}
			return cmd.err
		case cmdPanic:
			panic(cmd.value)
		case cmdHang:
			<-a.Context().Done()
			return a.Context().Err()
		case cmdFinish:
			return nil
		}
	}
}

func (sc *Scripted) next() (Command, bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if len(sc.queue) == 0 {
		return Command{}, false
	}
	cmd := sc.queue[0]
	sc.queue = sc.queue[1:]
	return cmd, true
}
