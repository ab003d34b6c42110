package telemetry_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/store"
	"github.com/steady-go/steady/telemetry"
)

// TestMain fails the package if any test leaves a goroutine behind: the
// server's, the graph's or the browser driver's.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipeline is a small graph in the shape of the robust demo:
//
//	heartbeat ──beats──┐
//	                   ├─▶ worker ──messages──▶ logger
//	generator ─values──┘
//
// The worker panics once for each call to failWorker, and on every attempt
// at the value poison (when not zero), which ends in the dead-letter store.
type pipeline struct {
	g       *steady.Graph
	rec     *telemetry.Recorder
	pending atomic.Int32 // panics the worker still owes

	cancel context.CancelFunc
	done   chan error
}

type pipelineConfig struct {
	poison     uint64                // a value the worker always fails on; 0 for none
	workerOpts []steady.ActorOption  // the worker's policy
	onEvent    func(e observe.Event) // chained after the recorder
	store      store.Store           // makes the graph durable; nil for none
}

// The pipeline's pace: a beat every beatEvery, each taking up to batch
// values; the generator sends up to batch values every beatEvery too, so
// the channels stay far from full.
const (
	beatEvery = 20 * time.Millisecond
	batch     = 16
)

func newPipeline(cfg pipelineConfig) *pipeline {
	p := &pipeline{rec: telemetry.NewRecorder(0)}
	p.g = steady.NewGraph(steady.Config{
		Logger:  slog.New(slog.DiscardHandler),
		Seed:    1,
		OnEvent: p.rec.Chain(cfg.onEvent),
		Store:   cfg.store,
	})
	g := p.g
	beats := steady.NewChannel[uint64](g, "beats", 64)
	values := steady.NewChannel[uint64](g, "values", 256)
	messages := steady.NewChannel[string](g, "messages", 256)
	next := steady.NewState(g, "generator", uint64(1))

	var valuesTx *steady.Sender[uint64]
	gen := g.Actor("generator", func(a *steady.Actor) error {
		buf := make([]uint64, batch)
		for a.Running() {
			if err := a.WaitVacant(valuesTx, batch); err != nil {
				return err
			}
			err := a.Step(func(s *steady.Step) error {
				n := next.Get(s)
				for i := range buf {
					buf[i] = *n + uint64(i)
				}
				*n += batch
				return valuesTx.SendMany(s, buf)
			})
			if err != nil {
				return err
			}
			if err := a.Sleep(beatEvery); err != nil {
				return err
			}
		}
		return nil
	})
	valuesTx = values.Sender(gen)
	next.Bind(gen)

	var beatsTx *steady.Sender[uint64]
	hb := g.Actor("heartbeat", func(a *steady.Actor) error {
		var beat uint64
		for a.Running() {
			if err := a.Sleep(beatEvery); err != nil {
				return err
			}
			if err := a.WaitVacant(beatsTx, 1); err != nil {
				return err
			}
			if err := a.Step(func(s *steady.Step) error { return beatsTx.Send(s, beat) }); err != nil {
				return err
			}
			beat++
		}
		return nil
	})
	beatsTx = beats.Sender(hb)

	var beatsRx, valuesRx *steady.Receiver[uint64]
	var messagesTx *steady.Sender[string]
	worker := g.Actor("worker", func(a *steady.Actor) error {
		buf := make([]uint64, batch)
		for {
			if err := a.WaitAvailable(beatsRx, 1); err != nil {
				return err
			}
			if err := a.WaitVacant(messagesTx, batch); err != nil {
				return err
			}
			err := a.Step(func(s *steady.Step) error {
				if _, ok := beatsRx.Peek(s); !ok {
					return nil
				}
				n := valuesRx.PeekMany(s, buf)
				if p.pending.Load() > 0 {
					p.pending.Add(-1)
					panic("injected failure")
				}
				for _, v := range buf[:n] {
					if v == cfg.poison {
						panic(errors.New("cannot process the poison value"))
					}
					msg := "value"
					switch {
					case v%15 == 0:
						msg = "FizzBuzz"
					case v%3 == 0:
						msg = "Fizz"
					case v%5 == 0:
						msg = "Buzz"
					}
					if err := messagesTx.Send(s, msg); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
	}, cfg.workerOpts...)
	beatsRx, valuesRx = beats.Receiver(worker), values.Receiver(worker)
	messagesTx = messages.Sender(worker)

	var messagesRx *steady.Receiver[string]
	logger := g.Actor("logger", func(a *steady.Actor) error {
		return steady.SinkBatch(a, messagesRx, batch, func(*steady.Step, []string) error { return nil })
	})
	messagesRx = messages.Receiver(logger)
	return p
}

// run starts the graph; the test's cleanup shuts it down and waits for Run.
func (p *pipeline) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() { p.done <- p.g.Run(ctx) }()
	t.Cleanup(func() { p.stop(t) })
	waitFor(t, 5*time.Second, "the graph to run", func() bool {
		return p.g.Status() != observe.GraphBuilding
	})
}

// stop shuts the graph down and waits for Run; it may be called twice.
func (p *pipeline) stop(t *testing.T) {
	t.Helper()
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.cancel = nil
	select {
	case err := <-p.done:
		var gaveUp *steady.GaveUpError
		if err != nil && !errors.As(err, &gaveUp) {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the graph did not stop within 15 s")
	}
}

// failWorker makes the worker panic once, in its next step.
func (p *pipeline) failWorker() { p.pending.Add(1) }

// actor returns the stats of the named actor.
func (p *pipeline) actor(t *testing.T, name string) observe.ActorStats {
	t.Helper()
	for _, a := range p.g.Snapshot().Actors {
		if a.Name == name {
			return a
		}
	}
	t.Fatalf("no actor %q in the snapshot", name)
	return observe.ActorStats{}
}

// waitFor polls cond every few milliseconds until it holds, failing the
// test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// client is an HTTP client that keeps no idle connection (and so no
// goroutine) once a response is read.
var client = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// fetch does a request and returns the response with its body read.
func fetch(t *testing.T, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return res, string(body)
}

// get is fetch for a GET that must answer want.
func get(t *testing.T, url string, want int) string {
	t.Helper()
	res, body := fetch(t, http.MethodGet, url, nil)
	if res.StatusCode != want {
		t.Fatalf("GET %s: status %d, want %d; body: %s", url, res.StatusCode, want, body)
	}
	return body
}

// serve starts a telemetry server for p on a free loopback port and
// returns its base URL; the test's cleanup closes it.
func serve(t *testing.T, p *pipeline) (*telemetry.Server, string) {
	t.Helper()
	s := telemetry.New(p.g, p.rec)
	addr, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, "http://" + addr.String()
}
