package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/steady-go/steady/internal/jsserver"
)

// The split run (-split): a coordinator that runs the publishing half, the
// consuming half and, without -nats, a JetStream server, each a child
// process of this same program; with -kills it SIGKILLs them at random
// and starts them again; at the end it merges the halves' reports into
// one, with the same checks as a run in one process.

// The parts of a split run, which also name their directories under the
// run's directory and prefix their log lines.
const (
	partPublish = "publish"
	partConsume = "consume"
	partServer  = "server"
	victimBoth  = "both" // a kill of both halves at once
)

// pollEvery is how often the coordinator reads the consuming half's
// progress while it times a recovery.
const pollEvery = 5 * time.Millisecond

// earlyEndWait is how long the coordinator waits before it starts again a
// consuming half that ended its run while the publishing half runs: enough
// for the publishing half to publish (it does within a beat), few enough
// restarts not to load the machine.
const earlyEndWait = 100 * time.Millisecond

// part is one child process of a split run, across its restarts.
type part struct {
	name     string
	args     []string // its flags, less -reset
	reset    bool     // pass -reset to its first run
	progress string   // its progress file; "" for the server

	cmd        *exec.Cmd
	stdout     *bytes.Buffer
	stderr     *tailWriter
	alive      bool      // a process is running
	killed     bool      // the coordinator SIGKILLed the running process
	stopped    bool      // the coordinator stopped it for good
	stop       bool      // a signal asks it to stop in order, once up
	asked      bool      // the running process was asked to
	restartAt  time.Time // when to start it again after a kill; zero if not due
	done       bool      // a half that exited by itself with its report
	runs       int
	killedRuns int

	rep     *report                 // a half's last report
	first   *report                 // its first run's, if that one was not killed
	bridges map[string]bridgeReport // summed over its runs
}

// exited is a child's exit.
type exited struct {
	p   *part
	err error
}

// recovery is a kill whose recovery the coordinator is timing: from the
// kill to the next value the consuming half logs once every process killed
// runs again (after a kill of the publishing half, the next value it had
// not published when the kill struck: as many values logged as it had
// published mean one of them was not).
type recovery struct {
	victim    string
	at        time.Time
	restarted time.Time // zero until every victim runs again
	waiting   int       // victims not yet restarted
	after     uint64    // for a kill of the publishing half: the values it had published
}

// timed is a recovery: the time from the kill, and from the restart of
// the last process killed, to the next value logged.
type timed struct{ fromKill, fromRestart time.Duration }

// coordinator runs a split run.
type coordinator struct {
	cfg    config
	seed   uint64
	log    *slog.Logger
	stderr io.Writer
	self   string // this program
	dir    string
	temp   bool // dir is temporary: removed once the run passes
	url    string
	rng    *rand.Rand

	server   *jsserver.Server // an embedded server in this process, or nil
	parts    map[string]*part
	exits    chan exited
	wg       sync.WaitGroup
	stopping bool  // a signal arrived: no more kills
	failure  error // a part failed: the run stops

	dealt    int
	kills    map[string]int
	nextKill time.Time // zero when no more kills are due
	victims  []string  // the rest of the current round of victims
	timing   *recovery
	recov    map[string][]timed
	resumed  bool
}

// runSplit is -split: it returns the exit status.
func runSplit(cfg config, sigs <-chan os.Signal, stdout, stderr io.Writer) int {
	c, err := newCoordinator(cfg, stderr)
	if err != nil {
		return failedSetup(stderr, err)
	}
	r := c.run(sigs)
	if r.Passed && c.temp {
		os.RemoveAll(c.dir)
	} else if c.temp {
		c.log.Warn("robust: kept the run's directory for a look", "dir", c.dir)
	}
	return finish(r, cfg.report, stdout, stderr)
}

// newCoordinator checks what the flags name and prepares the run's
// directory. A bad flag is an error, a directory that cannot be used a
// *setupError; either way nothing is changed.
func newCoordinator(cfg config, stderr io.Writer) (*coordinator, error) {
	c := &coordinator{
		cfg: cfg, seed: cfg.seed, stderr: stderr, url: cfg.nats,
		parts: map[string]*part{}, exits: make(chan exited), kills: map[string]int{}, recov: map[string][]timed{},
	}
	for c.seed == 0 {
		c.seed = rand.Uint64N(maxJSONSafeSeed)
	}
	c.rng = rand.New(rand.NewPCG(c.seed, 0x5eed))
	c.log = slog.New(newLineHandler(stderr, cfg.logLevel))
	if cfg.out != "" {
		if err := checkOut(cfg.out); err != nil {
			return nil, err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return nil, &setupError{fmt.Errorf("finding this program, to start its halves: %w", err)}
	}
	c.self = self
	if cfg.state != "" {
		c.dir = cfg.state
		for _, name := range []string{partPublish, partConsume} {
			if _, err := os.Stat(filepath.Join(c.dir, name)); err == nil && !cfg.reset {
				c.resumed = true
			}
		}
		if err := os.MkdirAll(c.dir, 0o755); err != nil {
			return nil, &setupError{err}
		}
	} else {
		if c.dir, err = os.MkdirTemp("", "robust-split-"); err != nil {
			return nil, &setupError{err}
		}
		c.temp = true
	}
	return c, nil
}

// checkOut checks that -out can be written, as the consuming half will,
// and leaves no file behind that it created.
func checkOut(path string) error {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("invalid value %q for flag -out: %w", path, errors.Unwrap(err))
	}
	f.Close()
	if errors.Is(statErr, os.ErrNotExist) {
		os.Remove(path)
	}
	return nil
}

// run runs the split run to its end and returns the merged report.
func (c *coordinator) run(sigs <-chan os.Signal) *report {
	start := time.Now()
	c.log.Info("robust -split: starting", "faults", c.cfg.faults, "seed", c.seed,
		"rate", c.cfg.rate, "beats", c.cfg.beats, "batch", c.cfg.batch, "dir", c.dir)
	err := c.startServer()
	c.addHalves()
	if err != nil {
		c.failure = err
		return c.report(time.Since(start))
	}
	for _, name := range []string{partServer, partPublish, partConsume} {
		if p := c.parts[name]; p != nil {
			c.start(p)
		}
	}
	if c.cfg.kills > 0 {
		c.nextKill = time.Now().Add(c.interval())
	}
	c.loop(sigs)
	c.stopAll()
	return c.report(time.Since(start))
}

// startServer starts the embedded server: none with -nats; in this process
// when it is not to be killed; else as a child process on a free port,
// which its restarts keep.
func (c *coordinator) startServer() error {
	if c.url != "" {
		return nil
	}
	dir := filepath.Join(c.dir, partServer)
	if c.cfg.reset {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("-reset: %w", err)
		}
	}
	if c.cfg.kills == 0 {
		s, err := jsserver.Start(jsserver.Options{Dir: dir})
		if err != nil {
			return err
		}
		c.server, c.url = s, s.URL()
		c.log.Info("robust -split: JetStream server started in this process", "url", c.url)
		return nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	c.url = fmt.Sprintf("nats://%s", l.Addr())
	l.Close()
	c.parts[partServer] = &part{name: partServer,
		args: []string{"-role", "server", "-nats", c.url, "-state", dir, "-log", strings.ToLower(c.cfg.logLevel.String())}}
	return nil
}

// addHalves declares the two halves, with the flags they share.
func (c *coordinator) addHalves() {
	cfg := c.cfg
	common := []string{
		"-nats", c.url, "-streams", cfg.streams, "-report", "json", "-log", strings.ToLower(cfg.logLevel.String()),
		"-batch", strconv.Itoa(cfg.batch), "-faults", cfg.faults.String(), "-chaos-rate", strconv.FormatFloat(cfg.chaosRate, 'g', -1, 64),
		"-seed", strconv.FormatUint(c.seed, 10),
	}
	if cfg.natsCreds != "" {
		common = append(common, "-nats-creds", cfg.natsCreds)
	}
	if cfg.natsCA != "" {
		common = append(common, "-nats-tls-ca", cfg.natsCA)
	}
	if cfg.ackWait > 0 {
		common = append(common, "-test-ack-wait", cfg.ackWait.String())
	}
	if cfg.dupeWindow > 0 {
		common = append(common, "-test-dupe-window", cfg.dupeWindow.String())
	}
	half := func(name string, more ...string) {
		p := &part{name: name, reset: cfg.reset, progress: filepath.Join(c.dir, name+".progress")}
		p.args = append(append(slices.Clone(common), "-role", name, "-state", filepath.Join(c.dir, name), "-progress", p.progress), more...)
		c.parts[name] = p
	}
	half(partPublish, "-rate", cfg.rate.String(), "-beats", strconv.FormatUint(cfg.beats, 10), "-telemetry", nextPort(cfg.telemetry))
	more := []string{"-telemetry", cfg.telemetry}
	if cfg.out != "" {
		more = append(more, "-out", cfg.out)
	}
	half(partConsume, more...)
}

// nextPort is addr with the port after its own, for the publishing half's
// dashboard next to the consuming half's; "" stays "".
func nextPort(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || n == 0 {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(n+1))
}

// start starts a run of p.
func (c *coordinator) start(p *part) {
	args := p.args
	if p.reset && p.runs == 0 {
		args = append(slices.Clone(args), "-reset")
	}
	if p.progress != "" {
		os.Remove(p.progress) // a run killed before its first write leaves none, not the last run's
	}
	cmd := exec.Command(c.self, args...)
	p.stdout, p.stderr = new(bytes.Buffer), &tailWriter{w: &prefixWriter{w: c.stderr, prefix: "[" + p.name + "] "}}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	detach(cmd)
	p.runs++
	p.restartAt, p.asked = time.Time{}, false
	if err := cmd.Start(); err != nil {
		c.failure = fmt.Errorf("starting the %s part: %w", p.name, err)
		return
	}
	p.cmd, p.alive = cmd, true
	c.wg.Go(func() { c.exits <- exited{p, cmd.Wait()} })
	if t := c.timing; t != nil && t.waiting > 0 && slices.Contains(victimsOf(t.victim), p.name) {
		if t.waiting--; t.waiting == 0 {
			t.restarted = time.Now()
		}
	}
}

// loop runs until both halves are done, a part failed, or a third signal.
func (c *coordinator) loop(sigs <-chan os.Signal) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	signals := 0
	for c.failure == nil && !c.finished() {
		timer.Reset(time.Until(c.wake()))
		select {
		case e := <-c.exits:
			c.exit(e)
		case <-sigs:
			signals++
			if signals >= 3 {
				c.log.Warn("robust -split: third signal: killing every part")
				return
			}
			c.interrupt(signals)
		case <-timer.C:
		}
		now := time.Now()
		if !c.nextKill.IsZero() && !now.Before(c.nextKill) {
			c.kill(now)
		}
		for _, p := range c.parts {
			if !p.restartAt.IsZero() && !now.Before(p.restartAt) {
				c.start(p)
			}
		}
		c.ask()
		c.poll()
	}
}

// finished reports whether the run is over: both halves are done or, once
// interrupted, have stopped.
func (c *coordinator) finished() bool {
	for _, name := range []string{partPublish, partConsume} {
		p := c.parts[name]
		if !p.done {
			return false
		}
	}
	return true
}

// wake is when the loop must look again without an event.
func (c *coordinator) wake() time.Time {
	t := time.Now().Add(time.Hour)
	if !c.nextKill.IsZero() && c.nextKill.Before(t) {
		t = c.nextKill
	}
	for _, p := range c.parts {
		if !p.restartAt.IsZero() && p.restartAt.Before(t) {
			t = p.restartAt
		}
	}
	poll := c.timing != nil && !c.timing.restarted.IsZero()
	for _, p := range c.parts {
		poll = poll || p.stop && p.alive && !p.asked
	}
	if poll {
		t = time.Now().Add(pollEvery)
	}
	return t
}

// interval is the time to the next kill: from half to one and a half
// times -kill-every.
func (c *coordinator) interval() time.Duration {
	return c.cfg.killEvery/2 + time.Duration(c.rng.Int64N(int64(c.cfg.killEvery)+1))
}

// victimsOf names the parts a victim stands for.
func victimsOf(victim string) []string {
	if victim == victimBoth {
		return []string{partPublish, partConsume}
	}
	return []string{victim}
}

// kill deals the next kill: to the next victim of the round that has a
// process running, each round holding every kind of victim once in a
// random order, so that a run's kills are spread evenly over them.
func (c *coordinator) kill(now time.Time) {
	c.nextKill = time.Time{}
	if c.stopping || uint64(c.dealt) >= c.cfg.kills {
		return
	}
	c.nextKill = now.Add(c.interval())
	kinds := []string{partPublish, partConsume, victimBoth}
	if c.parts[partServer] != nil {
		kinds = append(kinds, partServer)
	}
	for range len(kinds) {
		if len(c.victims) == 0 {
			c.victims = slices.Clone(kinds)
			c.rng.Shuffle(len(c.victims), func(i, j int) { c.victims[i], c.victims[j] = c.victims[j], c.victims[i] })
		}
		victim := c.victims[0]
		var targets []*part
		up := true
		for _, name := range victimsOf(victim) {
			if p := c.parts[name]; p.alive && !p.killed {
				targets = append(targets, p)
				up = up && c.up(p)
			}
		}
		if len(targets) < len(victimsOf(victim)) {
			c.victims = c.victims[1:]
			continue // one is down, or done: the next kind
		}
		if !up {
			// Still starting or recovering: strike once it works, so
			// that every kill interrupts a pipeline at work (whose
			// recovery is the point), not a process loading its code.
			c.nextKill = now.Add(pollEvery)
			return
		}
		c.victims = c.victims[1:]
		for _, p := range targets {
			p.killed = true
			_ = p.cmd.Process.Kill() // SIGKILL; it may have exited already
		}
		c.dealt++
		c.kills[victim]++
		if c.cfg.progress != "" {
			if err := writeProgress(c.cfg.progress, progress{Kills: c.dealt}); err != nil {
				c.log.Warn("robust -split: writing the progress file", "err", err)
			}
		}
		c.timing = &recovery{victim: victim, at: now, waiting: len(targets)}
		if victim == partPublish {
			// The consuming half may still be logging values published
			// before the kill: wait for one that was not.
			pr, _ := readProgress(c.parts[partPublish].progress)
			c.timing.after = pr.Bridges[valuesOutName].Position
		}
		c.log.Info("robust -split: SIGKILL", "part", victim, "kill", c.dealt, "kills", c.cfg.kills)
		return
	}
}

// up reports whether p's process is at work: a half's bridges have moved
// values in this run (its progress file says so; start removed the last
// run's), the server accepts connections.
func (c *coordinator) up(p *part) bool {
	if p.progress != "" {
		pr, err := readProgress(p.progress)
		if err != nil {
			return false
		}
		for _, b := range pr.Bridges {
			if b.Values > 0 {
				return true
			}
		}
		return false
	}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(c.url, "nats://"), pollEvery)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// exit handles a child's exit.
func (c *coordinator) exit(e exited) {
	p := e.p
	p.alive = false
	p.stderr.flush()
	if p.progress != "" {
		pr, err := readProgress(p.progress)
		if err != nil {
			c.log.Warn("robust -split: reading a part's progress", "part", p.name, "err", err)
		}
		if p.bridges == nil {
			p.bridges = map[string]bridgeReport{}
		}
		for name, b := range pr.Bridges {
			sum := p.bridges[name]
			sum.add(b)
			p.bridges[name] = sum
		}
	}
	if p.stopped {
		return
	}
	if p.killed {
		p.killed = false
		p.killedRuns++
		delay := time.Duration(c.rng.Int64N(int64(c.cfg.killEvery/2) + 1))
		p.restartAt = time.Now().Add(delay)
		return
	}
	if p.name == partServer {
		c.failure = fmt.Errorf("the server exited by itself (%v):\n%s", e.err, p.stderr.tail())
		return
	}
	var r report
	if err := json.Unmarshal(p.stdout.Bytes(), &r); err != nil {
		c.failure = fmt.Errorf("the %s half ended without a report (%v):\n%s", p.name, e.err, p.stderr.tail())
		return
	}
	if p.runs == 1 {
		p.first = &r
	}
	p.rep = &r
	if p.name == partConsume && r.Passed && !c.parts[partPublish].done {
		// Its streams ended where it stood, at the end of an earlier
		// run of the publishing half, which carries them on: it ended
		// its run before there was more to take. Take it then.
		c.log.Info("robust -split: the consuming half ended its run at the end of the publishing half's last run; starting it again")
		p.restartAt = time.Now().Add(earlyEndWait)
		return
	}
	p.done = true
	if p.name == partConsume {
		c.timing = nil // it will log nothing more
	}
}

// poll times the recovery under way: it ends at the first value the
// consuming half logs after every victim was restarted.
func (c *coordinator) poll() {
	t := c.timing
	if t == nil || t.restarted.IsZero() {
		return
	}
	pr, err := readProgress(c.parts[partConsume].progress)
	if err != nil || pr.LoggedAt <= t.restarted.UnixNano() || pr.Logged <= t.after {
		return
	}
	logged := time.Unix(0, pr.LoggedAt)
	c.recov[t.victim] = append(c.recov[t.victim], timed{fromKill: logged.Sub(t.at), fromRestart: logged.Sub(t.restarted)})
	c.timing = nil
}

// interrupt handles a SIGINT or SIGTERM: the first stops the kills and
// asks the publishing half to stop in order, which ends its streams, so
// that the consuming half finishes what was published; the second asks
// the consuming half to stop as well. A half that is down or starting is
// asked once it runs its graph.
func (c *coordinator) interrupt(n int) {
	c.stopping, c.nextKill, c.timing = true, time.Time{}, nil
	if n == 1 {
		c.log.Warn("robust -split: stopping: the publishing half ends its streams, and the consuming half finishes them (signal again to stop it at once)")
		c.parts[partPublish].stop = true
	} else {
		c.parts[partConsume].stop = true
	}
}

// ask asks every half to stop that a signal asked to and runs its graph
// (it has written its progress file: its signal handler is in place).
func (c *coordinator) ask() {
	for _, p := range c.parts {
		if _, err := os.Stat(p.progress); err == nil && p.stop && p.alive && !p.asked && !p.killed {
			p.asked = true
			_ = terminate(p.cmd.Process)
		}
	}
}

// stopAll ends every part still running (after a failure or a third
// signal, the halves are SIGKILLed: their state is durable) and stops the
// server, then waits for every child.
func (c *coordinator) stopAll() {
	for _, p := range c.parts {
		if p.alive && p.name != partServer {
			p.stopped = true
			_ = p.cmd.Process.Kill()
		}
	}
	if p := c.parts[partServer]; p != nil && p.alive {
		_ = terminate(p.cmd.Process)
		p.stopped = true
	}
	for {
		alive := 0
		for _, p := range c.parts {
			if p.alive {
				alive++
			}
		}
		if alive == 0 {
			break
		}
		c.exit(<-c.exits)
	}
	c.wg.Wait()
	if c.server != nil {
		c.server.Shutdown()
	}
}

// prefixWriter writes each line with a prefix, so the parts' logs can be
// told apart.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	line   []byte // a line not yet complete
}

func (pw *prefixWriter) Write(b []byte) (int, error) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			pw.line = append(pw.line, b...)
			break
		}
		pw.line = append(pw.line, b[:i+1]...)
		b = b[i+1:]
		if _, err := fmt.Fprintf(pw.w, "%s%s", pw.prefix, pw.line); err != nil {
			return n, err
		}
		pw.line = pw.line[:0]
	}
	return n, nil
}

// flush writes an incomplete last line (of a process killed mid-line).
func (pw *prefixWriter) flush() {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if len(pw.line) > 0 {
		fmt.Fprintf(pw.w, "%s%s\n", pw.prefix, pw.line)
		pw.line = pw.line[:0]
	}
}

// tailLines is how many of a part's last log lines a failure quotes.
const tailLines = 20

// tailWriter passes a part's log on and keeps its last lines, which a
// failure quotes.
type tailWriter struct {
	w     *prefixWriter
	mu    sync.Mutex
	lines []string
}

func (tw *tailWriter) Write(b []byte) (int, error) {
	tw.mu.Lock()
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		tw.lines = append(tw.lines, sc.Text())
	}
	if len(tw.lines) > tailLines {
		tw.lines = slices.Clone(tw.lines[len(tw.lines)-tailLines:])
	}
	tw.mu.Unlock()
	return tw.w.Write(b)
}

func (tw *tailWriter) flush() { tw.w.flush() }

func (tw *tailWriter) tail() string {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return "    " + strings.Join(tw.lines, "\n    ")
}
