package steady

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/store"
)

// Config configures a [Graph]. The zero value is ready to use: a zero
// field takes its value from [DefaultConfig], except where it says
// otherwise.
type Config struct {
	// Logger receives every event at a level that fits it (failures at
	// Warn, giving up at Error, the rest at Info or Debug). Default:
	// slog.Default(). Use slog.New(slog.DiscardHandler) for silence.
	Logger *slog.Logger

	// OnEvent, if set, receives every event as well, synchronously on the
	// goroutine where it happens (the actor's for failures and restarts,
	// Shutdown's caller for a shutdown request, Run's for channel alerts
	// and memory pressure). It must not block. A panic in it is not the
	// actor's: it is recovered and logged at Error with its stack, and the
	// event and the graph go on. It may call Graph.Shutdown (or
	// Actor.RequestShutdown), from any event, the shutdown's own included.
	OnEvent func(observe.Event)

	// ShutdownTimeout bounds an orderly shutdown, from the request to the
	// last actor stopping. Past it, actors' waits return ErrStopped, their
	// contexts are cancelled, and Run returns a *ShutdownTimeoutError
	// naming those still running.
	ShutdownTimeout time.Duration

	// Seed seeds the backoff jitter of every actor, for reproducible runs.
	// Zero picks a random seed.
	Seed uint64

	// Faults, if set, is called at every fault point (each step's start,
	// each peeked message, each Step.Fault), on the actor's goroutine
	// inside its step, to inject a failure there: an error it returns
	// fails the step as if the step had returned it, and a panic in it is
	// the step's panic. nil injects nothing. It is for tests (see package
	// steadytest); unset, a fault point costs a nil check.
	Faults func(observe.FaultPoint) error

	// PassThroughPanics lets actor panics crash the program instead of
	// restarting the actor, to debug them with a full traceback.
	PassThroughPanics bool

	// A failure cluster alert ([observe.EventFailureCluster]) is raised when
	// ClusterFailures failures happen within ClusterWindow in one actor and
	// the actors it shares a channel with. The default is more than a
	// poison message alone causes (Policy.PoisonAfter attempts).
	ClusterFailures int
	ClusterWindow   time.Duration // see ClusterFailures

	// A channel alert ([observe.EventChannelBackedUp]) is raised when a channel stays
	// at least FillAlert full (a fraction) for FillAlertAfter: its consumer
	// is falling behind.
	FillAlert      float64
	FillAlertAfter time.Duration // see FillAlert

	// MemoryLimit is the heap size, in bytes, against which the graph
	// watches memory pressure. Zero takes the Go runtime's memory limit
	// (GOMEMLIMIT or debug.SetMemoryLimit), as it is at each sample;
	// with neither that nor this set, or with a negative value, the
	// graph does not watch memory. When the live heap rises above
	// MemoryHigh of the limit (a fraction), the graph holds its sources
	// (actors without inputs) at their next wait or step and raises
	// [observe.EventMemoryPressure]; the rest drain the channels. Below
	// MemoryLow of the limit it releases them
	// ([observe.EventMemoryRecovered]). memory.go says why the defaults
	// are what they are. A MemoryLow of zero, or not below MemoryHigh,
	// is set below MemoryHigh in the proportion of DefaultConfig's two
	// marks, whatever MemoryHigh is.
	MemoryLimit int64
	MemoryHigh  float64 // see MemoryLimit
	MemoryLow   float64 // see MemoryLimit

	// Store, if set, makes the graph durable: every committed step is
	// written to it, a step's outputs reach the next actor only once
	// durable, and Run resumes from what it holds (see docs/durability.md
	// and package store/bolt, whose Open gives the default, a bbolt file).
	// Channels and states need a Codec (DefaultCodec unless set). The
	// caller opens the store before Run and closes it after.
	Store store.Store

	// MaxDeadLetters bounds the dead-letter store. When it is full, a
	// poison message is not quarantined: it stays at the head of its
	// channel, and the actor that failed on it gives up (a *GaveUpError
	// wrapping ErrDeadLetterStoreFull; its Policy.OnLimit says whether the
	// graph runs on degraded or shuts down). Nothing is dropped to make
	// room; Graph.Replay and Graph.Purge make it. A replayed letter counts
	// until its message is consumed. A durable graph that loads more
	// letters than the limit keeps them all.
	MaxDeadLetters int

	// CommitLinger is how long a durable graph's committer waits for more
	// steps to join a batch before it commits. Default 0: commit as soon
	// as the previous commit is done, which already batches every step
	// committed during it. A linger saves fsyncs at the cost of latency.
	CommitLinger time.Duration
}

// DefaultConfig returns the values NewGraph gives a Config's zero
// tuning fields. Logger, OnEvent, Seed (zero: random), Faults, Store and
// MemoryLimit have no tuning default and are zero in it; CommitLinger's
// default is zero. The example lists the values; the files that use them
// say why each is what it is.
func DefaultConfig() Config {
	return Config{
		ShutdownTimeout: defaultShutdownTimeout,
		ClusterFailures: defaultClusterFailures,
		ClusterWindow:   defaultClusterWindow,
		FillAlert:       defaultFillAlert,
		FillAlertAfter:  defaultFillAlertAfter,
		MemoryHigh:      defaultMemoryHigh,
		MemoryLow:       defaultMemoryLow,
		MaxDeadLetters:  defaultMaxDeadLetters,
	}
}

// defaultShutdownTimeout is long enough to drain full channels of a busy
// pipeline and short enough that a stuck actor does not hold a deploy.
const defaultShutdownTimeout = 5 * time.Second

// stopGrace is how long Run waits, after the shutdown timeout has cancelled
// every actor's context, for the actors' goroutines to return. An actor
// stuck outside steady's waits past that leaks its goroutine; Run reports
// it rather than hang.
const stopGrace = time.Second

// Graph is a set of named actors joined by channels, with the states they
// own. Build it with [NewGraph], [NewChannel], [NewState] and [Graph.Actor],
// then call [Graph.Run] once.
type Graph struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex // guards the build phase
	started    bool
	buildErrs  []error
	actors     []*Actor
	actorByID  map[string]*Actor
	channels   map[string]anyChannel
	chanOrder  []anyChannel
	states     map[string]anyState
	stateOrder []anyState
	stateOwnr  map[string]**Actor

	committer *committer  // of a graph with a store
	loaded    bool        // Load ran: the graph can no longer change
	loadErr   error       // what Load found
	resumed   atomic.Bool // Load found an earlier run's commits
	historyAt time.Time   // when Run last marked the actors' histories changed (history.go)

	deadLetters deadLetterStore
	metrics     graphMetrics
	avail       availability // the graph's, see availability.go
	mem         memWatch     // see memory.go
	memHeld     atomic.Bool  // the sources are held for memory pressure
	// replayMu orders Replay against a consumer stopping for good, so a
	// replayed message is either delivered or back in the store.
	replayMu sync.Mutex

	hardCtx      context.Context // done at the shutdown timeout, or when Run returns
	hardCancel   context.CancelFunc
	shuttingDown atomic.Bool
	hardStopped  atomic.Bool // hardCtx is done; an atomic, as Err takes a lock
	shutdownOnce sync.Once
	shutdownCh   chan struct{}
	reason       atomic.Pointer[string]
	degraded     atomic.Bool
	startedAt    atomic.Pointer[time.Time]
	stoppedAll   atomic.Bool
	live         atomic.Int64 // actors not yet stopped for good
	allStopped   chan struct{}
	wg           sync.WaitGroup

	errMu   sync.Mutex
	runErrs []error // actors that gave up
}

// NewGraph returns an empty graph.
func NewGraph(cfg Config) *Graph {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = defaultShutdownTimeout
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	if cfg.ClusterFailures <= 0 {
		cfg.ClusterFailures = defaultClusterFailures
	}
	if cfg.ClusterWindow <= 0 {
		cfg.ClusterWindow = defaultClusterWindow
	}
	if cfg.FillAlert <= 0 || cfg.FillAlert > 1 {
		cfg.FillAlert = defaultFillAlert
	}
	if cfg.FillAlertAfter <= 0 {
		cfg.FillAlertAfter = defaultFillAlertAfter
	}
	if cfg.MaxDeadLetters <= 0 {
		cfg.MaxDeadLetters = defaultMaxDeadLetters
	}
	cfg.memoryDefaults()
	g := &Graph{
		cfg:        cfg,
		log:        cfg.Logger,
		actorByID:  map[string]*Actor{},
		channels:   map[string]anyChannel{},
		states:     map[string]anyState{},
		stateOwnr:  map[string]**Actor{},
		shutdownCh: make(chan struct{}),
		allStopped: make(chan struct{}),
	}
	g.deadLetters.max = cfg.MaxDeadLetters
	g.hardCtx, g.hardCancel = context.WithCancel(context.Background())
	if cfg.Store != nil {
		g.committer = newCommitter(g, cfg.Store)
	}
	return g
}

type kind uint8

const (
	kindActor kind = iota
	kindChannel
	kindState
)

func (g *Graph) addBuildErr(err error) {
	g.mu.Lock()
	g.buildErrs = append(g.buildErrs, err)
	g.mu.Unlock()
}

// register adds a named actor, channel or state; names are unique per kind.
func (g *Graph) register(k kind, name string, v any) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var err error
	switch {
	case g.started || g.loaded:
		err = fmt.Errorf("%w: cannot add %q", ErrGraphRunning, name)
	case name == "":
		err = wiringErr("%s with an empty name", [...]string{"actor", "channel", "state"}[k])
	case k == kindActor && g.actorByID[name] != nil:
		err = wiringErr("duplicate actor name %q", name)
	case k == kindChannel && g.channels[name] != nil:
		err = wiringErr("duplicate channel name %q", name)
	case k == kindState && g.states[name] != nil:
		err = wiringErr("duplicate state name %q", name)
	}
	if err != nil {
		g.buildErrs = append(g.buildErrs, err)
		return err
	}
	switch k {
	case kindActor:
		a := v.(*Actor)
		a.rng = rand.New(rand.NewPCG(g.cfg.Seed, uint64(len(g.actors))))
		g.actors = append(g.actors, a)
		g.actorByID[name] = a
	case kindChannel:
		c := v.(anyChannel)
		g.channels[name] = c
		g.chanOrder = append(g.chanOrder, c)
	case kindState:
		st := v.(anyState)
		g.states[name] = st
		g.stateOrder = append(g.stateOrder, st)
	}
	return nil
}

// bindEnd makes a the producer or consumer of c.
func (g *Graph) bindEnd(c anyChannel, end **Actor, a *Actor, role string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	name := c.core().name
	var err error
	switch {
	case g.started || g.loaded:
		err = fmt.Errorf("%w: cannot bind channel %q", ErrGraphRunning, name)
	case a == nil || a.g != g || a.err != nil:
		err = wiringErr("channel %q: %s is not a valid actor of this graph", name, role)
	case *end != nil:
		err = wiringErr("channel %q has two %ss: %q and %q", name, role, (*end).name, a.name)
	}
	if err != nil {
		g.buildErrs = append(g.buildErrs, err)
		return err
	}
	*end = a
	return nil
}

// bindState makes a the owner of the named state.
func (g *Graph) bindState(name string, owner **Actor, a *Actor) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var err error
	switch {
	case g.started || g.loaded:
		err = fmt.Errorf("%w: cannot bind state %q", ErrGraphRunning, name)
	case a == nil || a.g != g || a.err != nil:
		err = wiringErr("state %q: owner is not a valid actor of this graph", name)
	case *owner != nil:
		err = wiringErr("state %q is bound by two actors: %q and %q", name, (*owner).name, a.name)
	}
	if err != nil {
		g.buildErrs = append(g.buildErrs, err)
		return err
	}
	*owner = a
	g.stateOwnr[name] = owner
	return nil
}

// validate lists every wiring mistake.
func (g *Graph) validate() error {
	errs := append([]error(nil), g.buildErrs...)
	for _, c := range g.chanOrder {
		cc := c.core()
		if cc.producer == nil {
			errs = append(errs, wiringErr("channel %q has no producer", cc.name))
		}
		if cc.consumer == nil {
			errs = append(errs, wiringErr("channel %q has no consumer", cc.name))
		}
	}
	for name := range g.states {
		if o := g.stateOwnr[name]; o == nil || *o == nil {
			errs = append(errs, wiringErr("state %q is not bound to any actor", name))
		}
	}
	if len(g.actors) == 0 && len(errs) == 0 {
		errs = append(errs, wiringErr("graph has no actors"))
	}
	return errors.Join(errs...)
}

// Run starts every actor and returns after they have all stopped: when they
// finish on their own, or after a shutdown requested by cancelling ctx,
// calling [Graph.Shutdown], or an actor ([Actor.RequestShutdown],
// [ErrStopGraph], a [StopGraph] policy). It returns nil after an orderly
// shutdown; otherwise the error that stopped the graph and any that
// followed: the wiring mistakes found before starting (wrapping
// [ErrWiring]), each actor that gave up (*GaveUpError), the cause an actor
// gave with [ErrStopGraph], a failed store commit, and a
// *ShutdownTimeoutError if actors were still running at the timeout. A
// durable graph also returns a store it cannot resume from (wrapping
// [ErrLoad]); a panic inside the store, in a load or a commit, is a
// *PanicError naming the call in Op. A graph runs once.
func (g *Graph) Run(ctx context.Context) error {
	if err := g.begin(); err != nil {
		return err
	}
	defer g.hardStop()
	g.prepareActors()
	if g.committer != nil {
		g.committer.start()
	}
	ticker := g.startClock()
	defer ticker.Stop()
	g.spawn()
	timedOut := g.waitStopped(ctx, ticker.C)
	g.stopObservers()
	g.stopCommitter(timedOut != nil)
	g.join(timedOut != nil)
	return g.runErr(timedOut)
}

// begin marks the graph started and loads it (checking its wiring, and
// reading its store if it has one). A graph that cannot start is stopped
// for good, and begin returns why.
func (g *Graph) begin() error {
	g.mu.Lock()
	if g.started {
		g.mu.Unlock()
		return ErrGraphRunning
	}
	g.started = true
	err := g.loadLocked()
	g.mu.Unlock()
	if err != nil {
		g.stoppedAll.Store(true)
		g.hardStop()
	}
	return err
}

// prepareActors gives each actor its step, sized for the ports it can
// touch, and the graph's committer (nil without a store).
func (g *Graph) prepareActors() {
	for _, a := range g.actors {
		// A whole number of cache lines (four ports each), so that the
		// two ends of a channel, running on two cores, do not write the
		// same line at every step.
		n := len(a.inputs) + len(a.outputs) + len(a.states)
		a.step = Step{actor: a, touched: make([]port, 0, (n+3)&^3)}
		a.committer = g.committer
	}
}

// startClock records the start time, starts the metrics and the memory
// watch from it, and returns the ticker that samples them.
func (g *Graph) startClock() *time.Ticker {
	now := time.Now()
	g.startedAt.Store(&now)
	g.initMetrics(now)
	g.initMemory(now)
	return time.NewTicker(sampleInterval)
}

// spawn starts every actor's runner; join waits for them.
func (g *Graph) spawn() {
	g.live.Store(int64(len(g.actors)))
	g.wg.Add(len(g.actors))
	for _, a := range g.actors {
		go g.supervise(a)
	}
}

// waitStopped returns once every actor has stopped, sampling the metrics,
// the memory watch and the actors' histories at each tick meanwhile. A cancelled ctx requests a
// shutdown; a requested shutdown starts the shutdown timeout, and if that
// passes, waitStopped stops the graph hard (forceStop) and returns the
// error that says so.
func (g *Graph) waitStopped(ctx context.Context, tick <-chan time.Time) *ShutdownTimeoutError {
	done, shutdown := ctx.Done(), g.shutdownCh
	var timeout <-chan time.Time
	for {
		select {
		case <-g.allStopped:
			return nil
		case now := <-tick:
			g.sample(now)
			g.watchMemory(now)
			g.refreshHistories(now)
		case <-done:
			done = nil
			g.Shutdown("context: " + context.Cause(ctx).Error())
		case <-shutdown:
			shutdown = nil
			t := time.NewTimer(g.cfg.ShutdownTimeout)
			defer t.Stop()
			timeout = t.C
		case <-timeout:
			return g.forceStop()
		}
	}
}

// forceStop ends a shutdown that outlived its timeout: it notes which
// actors were still running, cancels and wakes every actor, wakes whoever
// waits for a commit, and gives the actors stopGrace to return.
func (g *Graph) forceStop() *ShutdownTimeoutError {
	timedOut := &ShutdownTimeoutError{Timeout: g.cfg.ShutdownTimeout, Pending: g.pending()}
	g.hardStop()
	for _, a := range g.actors {
		a.wake()
	}
	if g.committer != nil {
		g.committer.interrupt()
	}
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	select {
	case <-g.allStopped:
	case <-grace.C:
	}
	return timedOut
}

// stopObservers ends what watched the running graph: channel rates read
// zero, and the availability and memory records close.
func (g *Graph) stopObservers() {
	g.settle()
	g.avail.stop()
	g.stopMemory(time.Now())
}

// stopCommitter has the committer of a durable graph write the actors'
// final histories, then stops it. After an orderly shutdown the last
// commit finishes whatever it takes; after a timeout it gets the grace
// period, like an actor, and a commit still running then is one of Run's
// errors.
func (g *Graph) stopCommitter(timedOut bool) {
	if g.committer == nil {
		return
	}
	g.finalHistories()
	var limit time.Duration
	if timedOut {
		limit = stopGrace
	}
	if !g.committer.stop(limit) {
		g.errMu.Lock()
		g.runErrs = append(g.runErrs, fmt.Errorf("%w: a commit to %s was still running %v after the shutdown timeout; the steps it carried may not be durable", ErrCommitHung, g.cfg.Store, stopGrace))
		g.errMu.Unlock()
	}
}

// join marks the graph stopped and waits for the actors' runners, unless
// the shutdown timed out with one still running: its goroutine outlives
// Run, which cannot end it.
func (g *Graph) join(timedOut bool) {
	g.stoppedAll.Store(true)
	if !timedOut || g.live.Load() == 0 {
		g.wg.Wait()
	}
}

// runErr is what Run returns: the errors gathered while the graph ran,
// then the timeout's, if the shutdown timed out.
func (g *Graph) runErr(timedOut *ShutdownTimeoutError) error {
	g.errMu.Lock()
	errs := append([]error(nil), g.runErrs...)
	g.errMu.Unlock()
	if timedOut != nil {
		errs = append(errs, timedOut)
	}
	return errors.Join(errs...)
}

// hardStop ends every wait and cancels every actor's context.
func (g *Graph) hardStop() {
	g.hardStopped.Store(true)
	g.hardCancel()
}

// pending lists the actors not yet stopped, with the reasons they hold the
// shutdown.
func (g *Graph) pending() []PendingActor {
	var out []PendingActor
	for _, a := range g.actors {
		if st := a.Status(); st == observe.StatusStopped || st == observe.StatusDegraded {
			continue
		}
		p := PendingActor{Actor: a.name, Status: a.Status()}
		if r := a.hold.Load(); r != nil {
			p.Reason = *r
		}
		out = append(out, p)
	}
	return out
}

// Shutdown asks the graph to shut down in order, for the given reason:
// producers stop and close their outputs, consumers drain their inputs and
// stop. It returns at once; [Graph.Run] returns when the shutdown is done.
// Calls after the first do nothing. The first emits
// [observe.EventShutdownRequested], then an [observe.EventVetoed] for each
// actor holding the shutdown, once the shutdown
// applies: a hook may react to them by calling Shutdown again.
func (g *Graph) Shutdown(reason string) {
	var events []observe.Event
	g.shutdownOnce.Do(func() {
		now := time.Now()
		g.reason.Store(&reason)
		g.shuttingDown.Store(true)
		events = append(events, observe.Event{Kind: observe.EventShutdownRequested, Time: now, Reason: reason})
		close(g.shutdownCh)
		for _, a := range g.actors {
			if r := a.hold.Load(); r != nil {
				events = append(events, observe.Event{Kind: observe.EventVetoed, Time: now, Actor: a.name, Restarts: a.Restarts(), Reason: *r})
			}
			a.wake()
		}
	})
	// Outside the once: a hook that calls Shutdown would wait for the
	// once it is called from, forever.
	for _, e := range events {
		g.emit(e)
	}
}

// shutdownReason is the reason given for the shutdown, or "" if none was
// requested.
func (g *Graph) shutdownReason() string {
	if r := g.reason.Load(); r != nil {
		return *r
	}
	return ""
}

// Status is the state of the graph as a whole.
func (g *Graph) Status() observe.GraphStatus {
	switch {
	case g.stoppedAll.Load():
		return observe.GraphStopped
	case g.shuttingDown.Load():
		return observe.GraphShuttingDown
	case g.degraded.Load():
		return observe.GraphDegraded
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.started {
		return observe.GraphBuilding
	}
	return observe.GraphRunning
}

// startTime is when Run started, or zero.
func (g *Graph) startTime() time.Time {
	if t := g.startedAt.Load(); t != nil {
		return *t
	}
	return time.Time{}
}

// stopActor ends an actor for good: its hold is released, its outputs
// closed (so consumers can drain and finish), and the last one to stop ends
// Run's wait.
func (g *Graph) stopActor(a *Actor, st observe.ActorStatus, gaveUp error) {
	now := time.Now()
	a.stats.commits.Store(a.commits)
	a.stats.mu.Lock()
	a.stats.stopped = now
	wasDown := !a.stats.downSince.IsZero()
	if wasDown {
		a.stats.down += now.Sub(a.stats.downSince)
		a.stats.downSince = time.Time{}
	}
	a.stats.mu.Unlock()
	g.actorStopped(wasDown, gaveUp != nil)
	a.hold.Store(nil)
	if g.committer != nil {
		// Its last outputs are published before its channels close.
		g.committer.flush()
	}
	g.replayMu.Lock()
	a.status.Store(int32(st))
	for _, in := range a.inputs {
		// Hand back consumed slots, and return replayed dead letters that
		// were never consumed to the store: nobody will read them now.
		in.release()
		for _, d := range in.core().unreplay() {
			g.deadLetters.restore(d)
		}
	}
	g.replayMu.Unlock()
	if gaveUp != nil {
		// LastError says why it stopped, the failure it wraps.
		a.stats.mu.Lock()
		a.stats.lastErr = gaveUp
		a.stats.mu.Unlock()
		g.degraded.Store(true)
		g.errMu.Lock()
		g.runErrs = append(g.runErrs, gaveUp)
		g.errMu.Unlock()
	}
	for _, out := range a.outputs {
		out.core().close()
	}
	// Producers of this actor's inputs may be waiting for room that will
	// never come; let them look again.
	for _, in := range a.inputs {
		if p := in.core().producer; p != nil {
			p.wake()
		}
	}
	g.emit(observe.Event{Kind: observe.EventStopped, Time: now, Actor: a.name, Restarts: a.Restarts(), Err: gaveUp})
	if g.live.Add(-1) == 0 {
		close(g.allStopped)
	}
}

// emit delivers an event to the logger and the hook.
func (g *Graph) emit(e observe.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	logEvent(g.log, e)
	if g.cfg.OnEvent != nil {
		g.callHook(e)
	}
}

// callHook calls Config.OnEvent with e, recovering a panic in it: the hook
// runs on whatever goroutine the event happens on (an actor's runner, Run's,
// Shutdown's caller), and a panic there would otherwise fail an actor that
// did nothing wrong, or end the process.
func (g *Graph) callHook(e observe.Event) {
	defer func() {
		if r := recover(); r != nil {
			g.log.Error("steady: the OnEvent hook panicked", "event", e.Kind.String(), "actor", e.Actor,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	g.cfg.OnEvent(e)
}
