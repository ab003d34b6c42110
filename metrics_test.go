package steady_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steady-go/steady"
)

// TestFailureClusterAcrossNeighbours: failures spread over two actors
// joined by a channel raise one cluster alert when they reach K within W;
// the same number spread over a longer time raises none.
func TestFailureClusterAcrossNeighbours(t *testing.T) {
	for _, tc := range []struct {
		name   string
		gap    time.Duration // between failures
		alerts int
	}{
		{"clustered", 500 * time.Millisecond, 1},
		{"spread", 3 * time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var ev collect
				cfg := quiet()
				cfg.OnEvent = ev.hook
				cfg.ClusterFailures, cfg.ClusterWindow = 4, 5*time.Second
				g := steady.NewGraph(cfg)
				ch := steady.NewChannel[int](g, "link", 1)
				// up and down each fail twice, alternating, tc.gap apart.
				start := time.Now()
				failAt := func(i int) error {
					time.Sleep(time.Until(start.Add(time.Duration(i) * tc.gap)))
					return errors.New("scripted")
				}
				opts := []steady.ActorOption{steady.Backoff(0, 0), steady.Intensity(-1, 0)}
				up := g.Actor("up", func(a *steady.Actor) error {
					if r := a.Restarts(); r < 2 {
						return failAt(2*r + 1)
					}
					return nil
				}, opts...)
				var in *steady.Receiver[int]
				down := g.Actor("down", func(a *steady.Actor) error {
					if r := a.Restarts(); r < 2 {
						return failAt(2*r + 2)
					}
					return a.WaitAvailable(in, 1) // ErrClosed once up finished
				}, opts...)
				ch.Sender(up)
				in = ch.Receiver(down)
				// An unrelated actor failing at the same time is not in
				// the group.
				g.Actor("elsewhere", func(a *steady.Actor) error {
					if a.Restarts() < 3 {
						return errors.New("unrelated")
					}
					return nil
				}, opts...)
				if err := g.Run(context.Background()); err != nil {
					t.Fatal(err)
				}
				got := ev.kinds(steady.EventFailureCluster)
				if len(got) != tc.alerts {
					t.Fatalf("%d cluster alerts, want %d: %v", len(got), tc.alerts, got)
				}
				if tc.alerts > 0 && (got[0].Count != 4 || got[0].Actor != "down") {
					t.Errorf("alert %v, want 4 failures at down", got[0])
				}
				if n := g.Snapshot().FailureClusters; n != int64(tc.alerts) {
					t.Errorf("snapshot counts %d clusters, want %d", n, tc.alerts)
				}
			})
		})
	}
}

// TestChannelBackedUpAlert: a channel kept full by a slow consumer raises
// one alert after FillAlertAfter, and the snapshot shows it.
func TestChannelBackedUpAlert(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev collect
		cfg := quiet()
		cfg.OnEvent = ev.hook
		cfg.FillAlert, cfg.FillAlertAfter = 0.8, 2*time.Second
		p := newPipe(cfg, 10, 100*time.Millisecond)
		p.g.Actor("stopper", func(a *steady.Actor) error {
			if err := a.Sleep(1900 * time.Millisecond); err != nil {
				return err
			}
			if n := len(ev.kinds(steady.EventChannelBackedUp)); n != 0 {
				t.Errorf("alert after 1.9s of a full channel, want none before 2s")
			}
			snap := p.g.Snapshot()
			if c := snap.Channels[0]; c.Name != "numbers" || c.Fill < 0.8 || c.Producer != "producer" || c.Consumer != "consumer" || c.Rate < 5 || c.Rate > 15 {
				t.Errorf("channel stats %+v, want numbers nearly full at about 10 msg/s", c)
			}
			if err := a.Sleep(time.Second); err != nil {
				return err
			}
			if c := p.g.Snapshot().Channels[0]; !c.BackedUp {
				t.Errorf("channel not marked backed up: %+v", c)
			}
			return steady.ErrStopGraph
		})
		if err := p.g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := ev.kinds(steady.EventChannelBackedUp)
		if len(got) != 1 || got[0].Channel != "numbers" || got[0].Actor != "consumer" {
			t.Fatalf("alerts %v, want one for numbers naming consumer", got)
		}
		if n := p.g.Snapshot().ChannelAlerts; n != 1 {
			t.Errorf("snapshot counts %d channel alerts, want 1", n)
		}
	})
}

// TestSnapshot: the snapshot carries every actor and channel with the
// supervisor's counts and the availability lost to a backoff.
func TestSnapshot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := steady.NewGraph(quiet())
		g.Actor("flaky", func(a *steady.Actor) error {
			if a.Restarts() == 0 {
				return errors.New("first run fails")
			}
			for a.Running() {
				_ = a.Sleep(time.Hour)
			}
			return nil
		}, steady.Backoff(time.Second, time.Second), steady.Jitter(0), steady.Intensity(-1, 0))
		go func() {
			time.Sleep(5 * time.Second)
			g.Shutdown("test")
		}()
		_ = g.Run(context.Background())
		snap := g.Snapshot()
		if snap.Status != steady.GraphStopped || len(snap.Actors) != 1 {
			t.Fatalf("snapshot %+v", snap)
		}
		a := snap.Actors[0]
		if a.Name != "flaky" || a.Errors != 1 || a.Restarts != 1 || a.Downtime != time.Second {
			t.Errorf("actor stats %+v, want 1 error, 1 restart, 1s down", a)
		}
		// Down 1 s of a 5 s life.
		if a.Availability != 0.8 {
			t.Errorf("availability %v, want 0.8", a.Availability)
		}
	})
}
