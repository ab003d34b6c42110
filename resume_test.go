package steady_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// TestResumedEventShowsCommittedState: every restart announces the state
// the actor runs again with, its last committed value and not what the
// failed step had made of it; a fresh first run, and an actor without
// state, announce nothing. The announcement is logged at Debug only.
func TestResumedEventShowsCommittedState(t *testing.T) {
	type counter struct{ N int }
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(level.String(), func(t *testing.T) {
			var ev collect
			var logs bytes.Buffer
			cfg := steady.Config{Seed: 1, OnEvent: ev.hook,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level}))}
			g := steady.NewGraph(cfg)
			st := steady.NewState(g, "count", counter{})
			a := g.Actor("counter", func(a *steady.Actor) error {
				for range 5 {
					if err := a.Step(func(s *steady.Step) error { st.Get(s).N++; return nil }); err != nil {
						return err
					}
				}
				if a.Restarts() < 2 {
					// A step that changed the state and failed: the
					// restart must not see its change.
					return a.Step(func(s *steady.Step) error {
						st.Get(s).N = -1
						panic("after changing the state")
					})
				}
				return nil
			}, steady.Backoff(0, 0))
			st.Bind(a)
			g.Actor("stateless", func(a *steady.Actor) error {
				if a.Restarts() == 0 {
					return errors.New("once")
				}
				return nil
			}, steady.Backoff(0, 0))
			if err := g.Run(context.Background()); err != nil {
				t.Fatal(err)
			}

			var counterStates, stateless []string
			for _, e := range ev.kinds(observe.EventResumed) {
				switch e.Actor {
				case "counter":
					counterStates = append(counterStates, e.State)
					if want := fmt.Sprintf("actor %q resumed (restart %d) with state %s", "counter", len(counterStates), e.State); e.String() != want {
						t.Errorf("event text %q, want %q", e.String(), want)
					}
				case "stateless":
					stateless = append(stateless, e.String())
				}
			}
			// Two restarts of the counter, after 5 and 10 committed steps.
			if want := []string{"count={N:5}", "count={N:10}"}; strings.Join(counterStates, "|") != strings.Join(want, "|") {
				t.Errorf("counter resumed with %q, want %q", counterStates, want)
			}
			if len(stateless) != 0 {
				t.Errorf("an actor without state announced %q, want nothing (its restart has its own event)", stateless)
			}
			logged := strings.Contains(logs.String(), `msg="actor \"counter\" resumed (restart 1) with state count={N:5}"`)
			if logged != (level == slog.LevelDebug) {
				t.Errorf("at %v, resumed logged: %v; want it at Debug only\n%s", level, logged, logs.String())
			}
		})
	}
}

// TestResumedEventAfterLoad: the first run of a graph resumed from its
// store announces the state it resumes with; so does no run of a fresh
// graph. A state too large for a log line is cut.
func TestResumedEventAfterLoad(t *testing.T) {
	_, cfg := counterRan(t, 100)
	var ev collect
	cfg.OnEvent = ev.hook
	g, _ := counterGraph(cfg, 1)
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := ev.kinds(observe.EventResumed)
	if len(got) != 1 || got[0].State != "count=100" || got[0].Restarts != 0 ||
		got[0].String() != `actor "counter" resumed from the store with state count=100` {
		t.Fatalf("resumed events %v, want one from the store with count=100", got)
	}

	var big collect
	cfg = quiet()
	cfg.OnEvent = big.hook
	g = steady.NewGraph(cfg)
	st := steady.NewState(g, "text", "a"+strings.Repeat("é", 1000)) // byte 512 is inside a rune
	st.Bind(g.Actor("big", func(a *steady.Actor) error {
		if a.Restarts() == 0 {
			return errors.New("once")
		}
		return nil
	}, steady.Backoff(0, 0)))
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got = big.kinds(observe.EventResumed)
	if len(got) != 1 {
		t.Fatalf("resumed events %v, want one", got)
	}
	s := got[0].State
	if !strings.HasPrefix(s, "text=aé") || !strings.HasSuffix(s, "…") || len(s) > 600 || !utf8.ValidString(s) {
		t.Errorf("a 2,000-byte state shows as %d bytes %.40q…, want it cut to about 512 on a rune boundary", len(s), s)
	}
}
