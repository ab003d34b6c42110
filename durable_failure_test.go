package steady_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/store"
)

// watchedStore is a memStore that remembers, per channel, the durable head
// and tail.
type watchedStore struct {
	*memStore
	delay time.Duration // before each commit

	mu         sync.Mutex
	head, tail map[string]uint64
}

func newWatchedStore() *watchedStore {
	return &watchedStore{memStore: newMemStore(), head: map[string]uint64{}, tail: map[string]uint64{}}
}

func (w *watchedStore) Commit(b *store.Batch) error {
	time.Sleep(w.delay)
	if err := w.memStore.Commit(b); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range b.Appends {
		w.tail[a.Channel] = max(w.tail[a.Channel], a.First+uint64(a.Count))
	}
	for name, h := range b.Heads {
		w.head[name] = max(w.head[name], h)
	}
	return nil
}

// settledAttempts waits until no commit has come for 20 ms, then returns
// the channel's durable attempt count.
func (w *watchedStore) settledAttempts(ch string) int {
	last := -1
	for {
		w.memStore.mu.Lock()
		n, attempts := w.memStore.commits, w.memStore.attempts[ch]
		w.memStore.mu.Unlock()
		if n == last {
			return attempts
		}
		last = n
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *watchedStore) durable(ch string) (head, tail uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.head[ch], w.tail[ch]
}

// TestDurableVisibilityRule checks the rule itself at every send and every
// peek, with commits slowed down and poison messages quarantined: a
// producer never writes a slot whose message is not durably consumed, and
// a consumer never sees a message that is not durable.
func TestDurableVisibilityRule(t *testing.T) {
	ws := newWatchedStore()
	ws.delay = 100 * time.Microsecond
	cfg := quiet()
	cfg.Store = ws
	g := steady.NewGraph(cfg)
	const capacity, n = 4, 3000
	ch := steady.NewChannel[uint64](g, "c", capacity)
	sent := steady.NewState(g, "sent", uint64(0))
	var violation atomic.Pointer[string]
	report := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		violation.CompareAndSwap(nil, &s)
	}
	var out *steady.Sender[uint64]
	src := g.Actor("src", func(a *steady.Actor) error {
		return steady.Source(a, out, func(s *steady.Step) (uint64, bool, error) {
			seq := sent.Get(s)
			if *seq == n {
				return 0, false, nil
			}
			if head, _ := ws.durable("c"); *seq >= head+capacity {
				report("producer wrote message %d with %d durably consumed, capacity %d", *seq, head, capacity)
			}
			*seq++
			return *seq - 1, true, nil
		})
	})
	out = ch.Sender(src)
	sent.Bind(src)
	var in *steady.Receiver[uint64]
	sink := g.Actor("sink", func(a *steady.Actor) error {
		return steady.SinkBatch(a, in, 3, func(s *steady.Step, vs []uint64) error {
			_, tail := ws.durable("c")
			for _, v := range vs {
				if v >= tail {
					report("consumer saw message %d with %d durable", v, tail)
				}
				if v%97 == 3 {
					return errors.New("poison")
				}
			}
			return nil
		})
	}, steady.Backoff(0, 0), steady.PoisonAfter(2), steady.Intensity(-1, 0))
	in = ch.Receiver(sink)
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := violation.Load(); v != nil {
		t.Fatal(*v)
	}
	if got, want := len(g.DeadLetters()), (n+93)/97; got != want {
		t.Errorf("%d dead letters, want %d", got, want)
	}
}

// TestDurableReplayAttemptsStayWithTheLetter: failures of a replayed dead
// letter are not stored as the attempts of the channel's head, which a
// restart would charge to a healthy message.
func TestDurableReplayAttemptsStayWithTheLetter(t *testing.T) {
	ws := newWatchedStore()
	cfg := quiet()
	cfg.Store = ws
	var replaying atomic.Bool // the test replayed the letter
	var replays atomic.Int64  // failures of the replayed letter
	var storedAttempts atomic.Int64
	g := steady.NewGraph(cfg)
	ch := steady.NewChannel[uint64](g, "values", 16)
	var out *steady.Sender[uint64]
	src := g.Actor("source", func(a *steady.Actor) error {
		if err := a.WaitVacant(out, 3); err != nil {
			return err
		}
		if err := a.Step(func(s *steady.Step) error { return out.SendMany(s, []uint64{1, 5, 9}) }); err != nil {
			return err
		}
		return a.Sleep(time.Hour) // keep the sink alive for the replay
	})
	out = ch.Sender(src)
	var in *steady.Receiver[uint64]
	var delivered atomic.Bool
	sink := g.Actor("sink", func(a *steady.Actor) error {
		return steady.Sink(a, in, func(s *steady.Step, v uint64) error {
			if v == 5 && replaying.Load() && replays.Load() == 2 {
				// Third try of the replayed letter: what would a
				// crash now leave as the channel's attempts?
				storedAttempts.Store(int64(ws.settledAttempts("values")))
			}
			if v == 5 && (!replaying.Load() || replays.Add(1) <= 2) {
				return errors.New("five fails") // always, then twice more once replayed
			}
			if v == 5 {
				delivered.Store(true)
			}
			return nil
		})
	}, steady.Backoff(0, 0), steady.PoisonAfter(3))
	in = ch.Receiver(sink)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitFor(t, func() bool { return len(g.DeadLetters()) == 1 })
	replaying.Store(true)
	if err := g.Replay(g.DeadLetters()[0].ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, delivered.Load)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := storedAttempts.Load(); n != 0 {
		t.Errorf("after two failures of the replayed letter the store holds %d attempts for the channel, which a restart would charge to its head", n)
	}
	if replays.Load() != 3 {
		t.Errorf("the replayed letter was tried %d times, want 3", replays.Load())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

// hungStore blocks every commit until released.
type hungStore struct {
	*memStore
	release  chan struct{}
	inCommit atomic.Int64
}

func (h *hungStore) Commit(b *store.Batch) error {
	h.inCommit.Add(1)
	defer h.inCommit.Add(-1)
	<-h.release
	return h.memStore.Commit(b)
}

// TestDurableHungCommitHonoursTheTimeout: a commit that never returns (a
// stalled disk) does not keep Run past the shutdown timeout and the grace
// periods; Run says what happened.
func TestDurableHungCommitHonoursTheTimeout(t *testing.T) {
	hs := &hungStore{memStore: newMemStore(), release: make(chan struct{})}
	cfg := quiet()
	cfg.Store = hs
	cfg.ShutdownTimeout = 100 * time.Millisecond
	g, _ := counterGraph(cfg, 1_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := g.Run(ctx)
	took := time.Since(start)
	close(hs.release) // let the committer finish, for the leak check
	waitFor(t, func() bool { return hs.inCommit.Load() == 0 })
	var timeout *steady.ShutdownTimeoutError
	if !errors.As(err, &timeout) || !errors.Is(err, steady.ErrCommitHung) || !strings.Contains(err.Error(), "commit to memory store was still running") {
		t.Errorf("Run: %v; want the timeout and the hung commit", err)
	}
	if took > 4*time.Second {
		t.Errorf("Run took %v with a 100 ms shutdown timeout", took)
	}
}

// TestDurableRunawayActorDoesNotHoldRun: an actor that ignores Running and
// commits forever after the timeout does not keep the committer, or Run,
// going.
func TestDurableRunawayActorDoesNotHoldRun(t *testing.T) {
	ws := newWatchedStore()
	ws.delay = time.Millisecond
	cfg := quiet()
	cfg.Store = ws
	cfg.ShutdownTimeout = 50 * time.Millisecond
	g := steady.NewGraph(cfg)
	st := steady.NewState(g, "count", uint64(0))
	var stop, stopped atomic.Bool
	a := g.Actor("runaway", func(a *steady.Actor) error {
		defer stopped.Store(true)
		for !stop.Load() {
			if err := a.Step(func(s *steady.Step) error { *st.Get(s)++; return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	st.Bind(a)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	select {
	case err := <-done:
		var timeout *steady.ShutdownTimeoutError
		if !errors.As(err, &timeout) {
			t.Errorf("Run: %v; want a shutdown timeout naming the runaway", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Run has not returned 10 s after a 50 ms shutdown timeout")
		stop.Store(true)
		<-done
	}
	stop.Store(true)
	waitFor(t, stopped.Load)
}

// decimalCodec writes a fresh slice instead of appending to dst, which the
// Codec contract does not allow but a hurried codec might do.
type decimalCodec struct{}

func (decimalCodec) Append(_ []byte, v uint64) ([]byte, error) {
	return []byte(strconv.FormatUint(v, 10)), nil
}

func (decimalCodec) Decode(b []byte) (uint64, error) { return strconv.ParseUint(string(b), 10, 64) }

// TestDurableCodecThatIgnoresDst: such a codec still stores every message
// whole, one or several per step.
func TestDurableCodecThatIgnoresDst(t *testing.T) {
	ms := newMemStore()
	run := func(consume bool) []uint64 {
		cfg := quiet()
		cfg.Store = ms
		g := steady.NewGraph(cfg)
		ch := steady.NewChannel[uint64](g, "c", 64).SetCodec(decimalCodec{})
		sent := steady.NewState(g, "sent", false)
		got := steady.NewState(g, "got", []uint64{})
		var out *steady.Sender[uint64]
		p := g.Actor("p", func(a *steady.Actor) error {
			if sent.Value() {
				return nil
			}
			for _, batch := range [][]uint64{{7}, {8, 90, 1000}, {12345}} {
				if err := a.WaitVacant(out, len(batch)); err != nil {
					return err
				}
				if err := a.Step(func(s *steady.Step) error { *sent.Get(s) = true; return out.SendMany(s, batch) }); err != nil {
					return err
				}
			}
			return nil
		})
		out = ch.Sender(p)
		sent.Bind(p)
		var in *steady.Receiver[uint64]
		c := g.Actor("c", func(a *steady.Actor) error {
			if !consume {
				return nil // leave the messages in the store
			}
			return steady.SinkBatch(a, in, 8, func(s *steady.Step, vs []uint64) error {
				l := got.Get(s)
				*l = append(*l, vs...)
				return nil
			})
		})
		in = ch.Receiver(c)
		got.Bind(c)
		if err := g.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return got.Value()
	}
	run(false)
	if got := run(true); fmt.Sprint(got) != "[7 8 90 1000 12345]" {
		t.Errorf("resumed messages %v, want [7 8 90 1000 12345]", got)
	}
}

// markerCodec returns a shared slice of its own for the empty string and
// appends otherwise: steady must not write into the codec's slice.
type markerCodec struct{}

var emptyMarker = []byte{'E'}

func (markerCodec) Append(dst []byte, v string) ([]byte, error) {
	if v == "" {
		return emptyMarker, nil
	}
	return append(append(dst, 'S'), v...), nil
}

func (markerCodec) Decode(b []byte) (string, error) {
	if len(b) == 0 || b[0] != 'E' && b[0] != 'S' {
		return "", fmt.Errorf("bad encoding %q", b)
	}
	return string(b[1:]), nil
}

// TestDurableCodecWithItsOwnSlice: a codec's own memory stays its own; a
// message encoded after it does not overwrite it.
func TestDurableCodecWithItsOwnSlice(t *testing.T) {
	ms := newMemStore()
	cfg := quiet()
	cfg.Store = ms
	g := steady.NewGraph(cfg)
	ch := steady.NewChannel[string](g, "c", 8).SetCodec(markerCodec{})
	var out *steady.Sender[string]
	p := g.Actor("p", func(a *steady.Actor) error {
		vals := []string{"", "xyz", "", "w"}
		return steady.Source(a, out, func(*steady.Step) (string, bool, error) {
			if len(vals) == 0 {
				return "", false, nil
			}
			v := vals[0]
			vals = vals[1:]
			return v, true, nil
		})
	})
	out = ch.Sender(p)
	c := g.Actor("c", func(a *steady.Actor) error { return nil })
	ch.Receiver(c)
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if string(emptyMarker) != "E" {
		t.Fatalf("the codec's marker was overwritten: %q", emptyMarker)
	}
	img, err := ms.Load(store.Shape{Actors: []string{"p", "c"}, Channels: []store.Entity{{Name: "c", Type: "string"}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range img.Channels["c"].Messages {
		got = append(got, string(m))
	}
	if fmt.Sprint(got) != "[E Sxyz E Sw]" {
		t.Errorf("stored %q, want E Sxyz E Sw", got)
	}
}

// panickyStore is a memStore whose Load, or whose commit number commit,
// panics with boom.
type panickyStore struct {
	*memStore
	load    bool
	commit  int
	commits int
}

var errBoom = errors.New("page 8 already freed")

func (p *panickyStore) Load(shape store.Shape) (*store.Image, error) {
	if p.load {
		panic(errBoom)
	}
	return p.memStore.Load(shape)
}

func (p *panickyStore) Commit(b *store.Batch) error {
	if p.commits++; p.commits == p.commit {
		panic(errBoom)
	}
	return p.memStore.Commit(b)
}

// TestDurableStorePanics: a panic inside the store, in Load or in Commit,
// is an error Run returns, not the end of the process. After a Commit
// panics the graph stops in order (every actor stopped, nothing published
// that was not durable, no goroutine left); after a Load panics no actor
// runs.
func TestDurableStorePanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		ps   *panickyStore
		op   string
	}{
		{"Load", &panickyStore{memStore: newMemStore(), load: true}, "Load"},
		{"Commit", &panickyStore{memStore: newMemStore(), commit: 5}, "Commit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// (Ignoring what earlier tests left winding down: the
			// runaway actors of the timeout tests.)
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			cfg := quiet()
			cfg.Store = tc.ps
			g := steady.NewGraph(cfg)
			nums := steady.NewChannel[uint64](g, "nums", 8)
			var ran atomic.Bool
			var seen []uint64 // by the consumer, in order
			var out *steady.Sender[uint64]
			out = nums.Sender(g.Actor("producer", func(a *steady.Actor) error {
				ran.Store(true)
				v := uint64(0)
				return steady.Source(a, out, func(*steady.Step) (uint64, bool, error) {
					v++
					return v - 1, true, nil
				})
			}))
			var in *steady.Receiver[uint64]
			in = nums.Receiver(g.Actor("consumer", func(a *steady.Actor) error {
				ran.Store(true)
				return steady.Sink(a, in, func(s *steady.Step, v uint64) error {
					seen = append(seen, v)
					return nil
				})
			}))
			err := g.Run(context.Background())

			var sp *steady.PanicError
			if !errors.As(err, &sp) || sp.Op != tc.op || !errors.Is(err, errBoom) {
				t.Fatalf("Run: %v; want a *PanicError of %s wrapping %v", err, tc.op, errBoom)
			}
			if !strings.Contains(sp.Stack(), "panickyStore).") {
				t.Errorf("the panic's stack does not show the store:\n%s", sp.Stack())
			}
			if tc.op == "Load" {
				if !errors.Is(err, steady.ErrLoad) || ran.Load() {
					t.Errorf("Run: %v (an actor ran: %v); want ErrLoad and no actor run", err, ran.Load())
				}
				return
			}
			if ds := *g.Snapshot().Durable; !errors.Is(ds.Err, errBoom) {
				t.Errorf("Snapshot().Durable.Err = %v", ds.Err)
			}
			if g.Status() != observe.GraphStopped || !strings.Contains(g.Snapshot().ShutdownReason, "store Commit panicked") {
				t.Errorf("graph %v, shutdown reason %q; want stopped, for the panic", g.Status(), g.Snapshot().ShutdownReason)
			}
			for _, a := range g.Snapshot().Actors {
				if a.Status != observe.StatusStopped {
					t.Errorf("actor %q is %v, want stopped", a.Name, a.Status)
				}
			}
			// The consumer saw only what the commits before the panic made
			// durable: 0, 1, 2, ... and no further than the durable tail.
			_, tail := durableRange(tc.ps.memStore, "nums")
			for i, v := range seen {
				if v != uint64(i) || v >= tail {
					t.Fatalf("the consumer saw %d as value %d; the store's durable tail is %d", v, i, tail)
				}
			}
		})
	}
}

// durableRange is the channel's durable head and tail in m.
func durableRange(m *memStore, ch string) (head, tail uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	head = m.heads[ch]
	tail = head
	for seq := range m.msgs[ch] {
		tail = max(tail, seq+1)
	}
	return head, tail
}
