package steady

import (
	"context"
	"fmt"
	"strings"

	"github.com/steady-go/steady/observe"
)

// maxStateText bounds the text of one state in an EventResumed: enough for
// a struct of counters and positions on one log line; a state holding a
// large collection is cut, marked with "…", rather than flood the log.
const maxStateText = 512

// describer is a State without its type, for EventResumed.
type describer interface {
	describe() string
}

// describe is the committed value as name=value, cut to maxStateText.
func (st *State[T]) describe() string {
	v := fmt.Sprintf("%+v", st.Value())
	if len(v) > maxStateText {
		v = clipText(v, maxStateText)
	}
	return st.name + "=" + v
}

// clipText cuts s to at most n bytes on a rune boundary, marking the cut.
func clipText(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 { // a continuation byte
		n--
	}
	return s[:n] + "…"
}

// announceResume emits EventResumed for a run of a that resumes committed
// state: every run after a restart, and the first run of a graph that
// Load resumed from its store. A fresh graph's first run resumes nothing,
// and an actor without a State has nothing to show (EventRestarting
// already told of its restart); neither is announced. It runs on the
// actor's goroutine before its function, so the state it shows is the
// state that run starts from.
func (a *Actor) announceResume() {
	g := a.g
	if len(a.states) == 0 || (a.Restarts() == 0 && !g.resumed.Load()) {
		return
	}
	if g.cfg.OnEvent == nil && !g.log.Enabled(context.Background(), eventLevel(observe.Event{Kind: observe.EventResumed})) {
		return // nobody would see it: spare formatting the states
	}
	var b strings.Builder
	for _, p := range a.states {
		if d, ok := p.(describer); ok {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(d.describe())
		}
	}
	g.emit(observe.Event{Kind: observe.EventResumed, Actor: a.name, Restarts: a.Restarts(), State: b.String()})
}
