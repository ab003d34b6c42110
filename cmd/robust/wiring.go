package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/examples/robust"
	"github.com/steady-go/steady/jsbridge"
	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/store"
	"github.com/steady-go/steady/store/bolt"
	"github.com/steady-go/steady/telemetry"
)

// pipeline is the demonstration's graph, and the handles the report reads
// once it has run.
type pipeline struct {
	cfg  config
	seed uint64
	log  *slog.Logger
	out  *os.File    // nil without -out
	st   *bolt.Store // nil without -state

	// What the state directory held when the run began.
	resumed   bool
	completed bool   // its run had sent all of -beats already
	logged0   uint64 // messages logged before this run

	g        *steady.Graph
	beats    *steady.Channel[uint64]
	values   *steady.Channel[uint64]
	messages *steady.Channel[robust.Message]

	telemetry *telemetry.Server // nil without -telemetry
	seen      *eventLog         // the events the report lists
	oldLimit  int64             // the runtime's memory limit before -memory-limit; -1 if unchanged

	// The actors this process runs: all four, or those of its half
	// (-role), the others nil.
	generator *robust.Generator
	heartbeat *robust.Heartbeat
	worker    *robust.Worker
	logger    *robust.Logger
	faults    *robust.Injector // -faults, through the graph's fault points

	// A half's connection and bridges (halves.go); nil otherwise.
	nc                  *nats.Conn
	beatsOut, valuesOut *jsbridge.Outbound
	beatsIn, valuesIn   *jsbridge.Inbound
}

// Channel sizes, and why.
const (
	// A beat is a permit for a batch of values: 64 let an unthrottled
	// heartbeat run ahead of the worker without flooding it.
	beatsCapacity = 64
	// The values and messages channels hold four batches (at least 64
	// messages): a batch being produced and one being consumed, with room
	// for the next while either side restarts.
	batchesPerChannel = 4
	minDataCapacity   = 64
)

// shutdownTimeout bounds the drain after a shutdown request. The drain is
// bounded by the channels (eight batches at most), but after a failure the
// framework takes one message per step, and chaos at a high rate fails
// often: 30 s lets even that finish, and a stuck run still ends.
const shutdownTimeout = 30 * time.Second

// progressEvery is how often the logger reports progress at the info level.
const progressEvery = time.Second

// maxJSONSafeSeed keeps random seeds below 2^53, so that every JSON reader
// gets the reported seed back exactly.
const maxJSONSafeSeed = 1 << 53

// setupError is a failure to prepare the run that is not a bad flag: a
// state directory that cannot be opened or resumed from.
type setupError struct{ err error }

func (e *setupError) Error() string { return e.err.Error() }
func (e *setupError) Unwrap() error { return e.err }

// build opens the state directory (-state), checks that -out can be
// written, wires the graph and, with -state, loads what the directory
// holds. A flag that is wrong is an error; a state directory that cannot be
// used is a *setupError. Either way nothing else is changed: the state file
// stays as it was, and an -out file this call created is removed.
func build(cfg config, stderr io.Writer) (_ *pipeline, err error) {
	p := &pipeline{cfg: cfg, seed: cfg.seed, oldLimit: -1}
	for p.seed == 0 {
		p.seed = rand.Uint64N(maxJSONSafeSeed)
	}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if cfg.out != "" {
		_, statErr := os.Stat(cfg.out)
		// Created but not truncated: the logger cuts the file to its
		// committed length when it starts (zero on a fresh run).
		f, openErr := os.OpenFile(cfg.out, os.O_WRONLY|os.O_CREATE, 0o644)
		if openErr != nil {
			return nil, fmt.Errorf("invalid value %q for flag -out: %w", cfg.out, errors.Unwrap(openErr))
		}
		p.out = f
		if errors.Is(statErr, fs.ErrNotExist) {
			// err is build's result: remove the file if build fails.
			defer func() {
				if err != nil {
					os.Remove(cfg.out)
				}
			}()
		}
	}
	p.log = slog.New(newLineHandler(stderr, cfg.logLevel))
	if cfg.role != roleWhole {
		if err := p.connect(); err != nil {
			return nil, &setupError{err}
		}
	}
	// The state directory last, so that a bad flag or a connection that
	// cannot be made leaves it alone, -reset included.
	if cfg.state != "" {
		if err := openState(p, cfg); err != nil {
			return nil, &setupError{err}
		}
	}

	faults := robust.Faults{Mode: cfg.faults, Script: robust.DefaultScript(), ChaosRate: cfg.chaosRate, Seed: p.seed}
	p.faults = robust.NewInjector(faults)
	var inject func(observe.FaultPoint) error
	if cfg.faults != robust.NoFaults {
		inject = p.faults.Inject
	}
	gcfg := steady.Config{Logger: p.log, Seed: p.seed, ShutdownTimeout: shutdownTimeout, Faults: cfg.killAt.faults(inject)}
	if p.st != nil {
		gcfg.Store = p.st
	}
	if cfg.logLevel <= slog.LevelDebug {
		gcfg.OnEvent = p.logStack
	}
	p.seen = &eventLog{p: p}
	gcfg.OnEvent = p.seen.chain(gcfg.OnEvent)
	gcfg.MemoryLimit = p.memoryLimit()
	var rec *telemetry.Recorder
	if cfg.telemetry != "" {
		rec = telemetry.NewRecorder(0)
		gcfg.OnEvent = rec.Chain(gcfg.OnEvent)
	}
	g := steady.NewGraph(gcfg)
	if rec != nil {
		p.telemetry = telemetry.New(g, rec)
	}
	dataCap := max(batchesPerChannel*cfg.batch, minDataCapacity)
	p.g = g
	p.beats = steady.NewChannel[uint64](g, "beats", beatsCapacity)
	valuesCap := dataCap
	if cfg.role == rolePublish {
		// Here the values channel feeds a bridge, which publishes what
		// it holds in one step: a channel of a few batches would cap a
		// step at a few beats' values, and the generator, while steps
		// wait for their commit, would fall behind the heartbeat. Its
		// Limit bounds it instead.
		valuesCap = max(dataCap, jsbridge.DefaultMaxBatch)
	}
	p.values = steady.NewChannel[uint64](g, "values", valuesCap)
	if cfg.role != rolePublish {
		p.messages = steady.NewChannel[robust.Message](g, "messages", dataCap)
	}

	if cfg.role != roleConsume {
		genCfg := robust.GeneratorConfig{Batch: cfg.batch, Limit: p.faults.GeneratorLimit()}
		if cfg.role == rolePublish {
			genCfg.Limit = lowerLimit(genCfg.Limit, p.generatorLimit)
		}
		p.generator = robust.NewGenerator(g, p.values, genCfg, faults.GeneratorOptions()...)
		p.heartbeat = robust.NewHeartbeat(g, p.beats, robust.HeartbeatConfig{Rate: cfg.rate, Beats: cfg.beats}, faults.ActorOptions()...)
	}
	if cfg.role != rolePublish {
		p.worker = robust.NewWorker(g, p.beats, p.values, p.messages, robust.WorkerConfig{Batch: cfg.batch}, faults.ActorOptions()...)
		lcfg := robust.LoggerConfig{Batch: cfg.batch, Log: p.log, ProgressEvery: progressEvery, Spool: int(cfg.spool)}
		if p.out != nil {
			lcfg.Out = p.out // only when set: a nil *os.File in the interface is not nil
		}
		p.logger = robust.NewLogger(g, p.messages, lcfg, faults.ActorOptions()...)
	}
	p.faults.Watch(p.generator, p.heartbeat, p.worker, p.logger)
	if err := p.wireBridges(); err != nil {
		return nil, err
	}
	if p.st != nil {
		if err := g.Load(); err != nil {
			return nil, &setupError{err}
		}
		p.resumed = g.Resumed()
		// A consuming half has no such notion: its streams may go on
		// after an end (the publishing half's next run carries them on),
		// and its bridges end its run when they find nothing past it.
		p.completed = p.heartbeat != nil && cfg.beats > 0 && p.heartbeat.State.Value().Beats >= cfg.beats
		if p.logger != nil {
			p.logged0 = p.logger.State.Value().Logged
		}
		if cfg.deadLetters != "" {
			return p, nil // no run, no output
		}
		if p.logger != nil {
			if err := p.sameOutput(); err != nil {
				return nil, &setupError{err}
			}
		}
	}
	return p, nil
}

// sameOutput checks that this run writes its lines where the directory's
// earlier runs wrote theirs: an output that misses some committed lines
// could never pass the out-file check, and running would only advance the
// state past them.
func (p *pipeline) sameOutput() error {
	ls := p.logger.State.Value()
	switch {
	case p.out == nil && ls.FileLen > 0:
		return fmt.Errorf("%s: its runs wrote their messages to an -out file (%d bytes); pass that -out again, or -reset", p.cfg.state, ls.FileLen)
	case p.out != nil && ls.FileLen == 0 && ls.Logged > 0:
		return fmt.Errorf("%s: its runs logged %d messages without -out, so %s could not hold them all; run without -out, or -reset", p.cfg.state, ls.Logged, p.cfg.out)
	case p.out != nil:
		fi, err := p.out.Stat()
		if err != nil {
			return err
		}
		if fi.Size() < ls.FileLen {
			return fmt.Errorf("-out %s has %d bytes, fewer than the %d that %s's runs committed to their output: it is not their file, or it was cut", p.cfg.out, fi.Size(), ls.FileLen, p.cfg.state)
		}
		// Their lines come first: as many as they logged. (The logger
		// cuts what follows, which a failed step may have written.)
		lines, err := countLines(p.cfg.out, ls.FileLen)
		if err != nil {
			return err
		}
		if lines != ls.Logged {
			return fmt.Errorf("-out %s holds %d lines in its first %d bytes, where %s's runs wrote %d: it is not their file", p.cfg.out, lines, ls.FileLen, p.cfg.state, ls.Logged)
		}
	}
	return nil
}

// countLines counts the complete lines in the first n bytes of the file.
func countLines(path string, n int64) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var lines uint64
	buf := make([]byte, 64<<10)
	r := io.LimitReader(f, n)
	for {
		k, err := r.Read(buf)
		lines += uint64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// openState opens the -state directory and, with -reset, empties it under
// its lock, so a process still running on it keeps the directory to
// itself.
func openState(p *pipeline, cfg config) error {
	st, err := bolt.Open(cfg.state, nil)
	if errors.Is(err, store.ErrCorrupt) && cfg.reset {
		return fmt.Errorf("%w (-reset empties a state file it can open; remove this one by hand)", err)
	}
	if err != nil {
		return err
	}
	p.st = st
	if cfg.reset {
		if err := st.Reset(); err != nil {
			return fmt.Errorf("-reset: %w", err)
		}
	}
	return nil
}

// close releases the state directory and the output file, if open.
func (p *pipeline) close() error {
	var errs []error
	if p.out != nil {
		errs = append(errs, p.out.Close())
		p.out = nil
	}
	if p.st != nil {
		errs = append(errs, p.st.Close())
		p.st = nil
	}
	if p.nc != nil {
		p.nc.Close()
		p.nc = nil
	}
	p.restoreMemoryLimit()
	return errors.Join(errs...)
}

// startTelemetry serves the dashboard on -telemetry. When that address is
// taken (another run, say), it serves on a free port of the same host
// instead; when it cannot be used for another reason (a host that is not
// this machine's), or the free port fails too, the run carries on without
// telemetry. Either way it says so.
func (p *pipeline) startTelemetry() {
	addr, err := p.telemetry.Start(p.cfg.telemetry)
	if err != nil && !errors.Is(err, telemetry.ErrAddrInUse) {
		p.log.Warn("telemetry: carrying on without telemetry", "err", err)
		return
	}
	if err != nil {
		host, _, _ := net.SplitHostPort(p.cfg.telemetry)
		p.log.Warn("telemetry: address in use; trying a free port instead", "err", err)
		if addr, err = p.telemetry.Start(net.JoinHostPort(host, "0")); err != nil {
			p.log.Warn("telemetry: carrying on without telemetry", "err", err)
			return
		}
	}
	p.log.Info("telemetry: dashboard started; also /metrics, /healthz, /graph.dot and /api/snapshot", "url", "http://"+addr.String()+"/")
}

// logStack logs the stack of every panic, in detail mode.
func (p *pipeline) logStack(e observe.Event) {
	var pe *steady.PanicError
	if e.Kind == observe.EventPanicked && errors.As(e.Err, &pe) {
		stack := strings.ReplaceAll(strings.TrimSpace(pe.Stack()), "\n", "\n    ")
		p.log.Debug(fmt.Sprintf("stack of the panic of %q:\n    %s", e.Actor, stack))
	}
}

// run runs the graph until it shuts down, by itself after -beats beats or
// when ctx is cancelled, and returns the report.
func (p *pipeline) run(ctx context.Context) *report {
	p.log.Info("robust: starting", p.cfg.role.attr(), "faults", p.cfg.faults, "seed", p.seed,
		"rate", p.cfg.rate, "beats", p.cfg.beats, "batch", p.cfg.batch)
	switch {
	case p.completed:
		p.log.Info("robust: the state holds a completed run; here is its report. -reset starts afresh",
			"state", p.cfg.state, "beats", p.beatsSent())
		// Nothing to do: every producer stops at once, and the consumers
		// find their inputs empty.
		p.g.Shutdown(fmt.Sprintf("%s holds a completed run", p.cfg.state))
	case p.resumed:
		made := "generated" // values
		if p.cfg.role == roleConsume {
			made = "taken" // from the stream
		}
		p.log.Info("robust: resuming", "state", p.cfg.state, made, p.generated(),
			"logged", p.logged0, "dead_letters", len(p.g.DeadLetters()))
	}
	if p.telemetry != nil {
		p.startTelemetry()
		defer p.telemetry.Close()
	}
	if p.cfg.progress != "" {
		stop := p.startProgress()
		defer stop()
	}
	start := time.Now()
	runErr := p.g.Run(ctx)
	elapsed := time.Since(start)
	var outErr error
	if p.out != nil {
		// The committed length is the output's true length. The logger
		// cuts a failed step's lines when it runs again; this covers a
		// logger that never did (a hard stop after a failure). It only
		// ever cuts: a file shorter than its committed length lost lines
		// (the logger refused to run on it), and padding would hide that.
		committed := p.logger.State.Value().FileLen
		if fi, err := p.out.Stat(); err != nil || fi.Size() > committed {
			outErr = p.out.Truncate(committed)
		}
		outErr = errors.Join(outErr, p.out.Close())
		p.out = nil
	}
	if errors.Is(runErr, steady.ErrCommitHung) {
		// Closing the store would wait for the hung commit; the process
		// is about to exit, which releases the file and its lock.
		p.log.Error("robust: leaving the state open: a commit to it hangs", "state", p.cfg.state)
		p.st = nil
	}
	if err := p.close(); err != nil {
		p.log.Error("robust: closing the state", "state", p.cfg.state, "err", err)
	}
	return p.report(runErr, outErr, elapsed)
}
