package observe

import (
	"errors"
	"strings"
	"testing"
)

// Every kind a graph emits has a name of its own: a kind added without one
// would log as "EventKind(n)".
func TestEveryEventKindIsNamed(t *testing.T) {
	seen := map[string]EventKind{}
	for k := EventPanicked; k <= EventResumed; k++ {
		name := k.String()
		if strings.HasPrefix(name, "EventKind(") {
			t.Errorf("kind %d has no name", k)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("kinds %d and %d are both %q", other, k, name)
		}
		seen[name] = k
	}
	if got := EventKind(0).String(); got != "EventKind(0)" {
		t.Errorf("the zero kind is %q, want EventKind(0)", got)
	}
}

// An event's line names its actor and says what happened, without
// repeating what the error already says.
func TestEventString(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		e    Event
		want string
	}{
		{Event{Kind: EventPanicked, Actor: "w", Restarts: 1, Err: errors.New(`actor "w" panicked: boom`)}, `actor "w" panicked: boom (restarts 1)`},
		{Event{Kind: EventFailed, Actor: "w", Restarts: 2, Err: boom}, `actor "w" failed (restarts 2): boom`},
		{Event{Kind: EventRestarting, Actor: "w", Restarts: 2, Delay: 4e6}, `actor "w" restarting in 4ms (restart 3)`},
		{Event{Kind: EventDeadLettered, Actor: "w", DeadLetter: &DeadLetter{Value: 7, Channel: "in", Attempts: 3, Err: boom}},
			`actor "w" dead-lettered message 7 from channel "in" after 3 attempts: boom`},
		{Event{Kind: EventStopped, Actor: "w"}, `actor "w" stopped`},
		{Event{Kind: EventShutdownRequested, Reason: "done"}, `shutdown requested: done`},
	}
	for _, c := range cases {
		if got := c.e.String(); got != c.want {
			t.Errorf("%v event: %q, want %q", c.e.Kind, got, c.want)
		}
	}
}
