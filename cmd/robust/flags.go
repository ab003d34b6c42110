package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/examples/robust"
)

// config is what the flags say.
type config struct {
	rate      time.Duration
	beats     uint64
	batch     int
	faults    robust.Mode
	chaosRate float64
	seed      uint64 // 0 picks one at random, reported so the run can be repeated
	out       string
	report    string // "text" or "json"
	logLevel  slog.Level
	preset    string
	telemetry string // address of the dashboard and /metrics; "" for none
	state     string // the state directory; "" to keep everything in memory
	reset     bool   // start the state directory afresh

	// -dead-letters: "list", "replay" or "purge" the state directory's
	// dead letters instead of running; "" to run. dlID is the letter to
	// replay or purge, 0 for all.
	deadLetters string
	dlID        uint64

	memoryLimit int64 // the heap limit the graph watches; 0 for the runtime's (GOMEMLIMIT)
	spool       int64 // bytes the logger keeps per message until its input pauses

	// Across processes (split.go, halves.go).
	split     bool          // run the halves as child processes
	role      role          // or run one part: a half, or the server
	nats      string        // the JetStream server's URL(s); "" with -split: an embedded one
	natsCreds string        // credentials file (JWT and nkey seed)
	natsCA    string        // CA certificates for the server's TLS certificate
	streams   string        // the streams' names: streams+"_BEATS", streams+"_VALUES"
	kills     uint64        // with -split, SIGKILLs to deal at random
	killEvery time.Duration // the mean time between them

	// Hidden, for tests: they change a bridge's timing, or kill the
	// process at a fault point, and a user has no need of them.
	progress   string        // write the bridges' counters here as the run goes (the coordinator's)
	ackWait    time.Duration // jsbridge.Config.AckWait; 0: the server's
	dupeWindow time.Duration // the streams' duplicate window when created; 0: the server's
	killAt     killPoint     // SIGKILL this process at a named fault point
}

// role is the part of the split pipeline a process runs.
type role string

const (
	roleWhole   role = ""        // the whole pipeline in this process
	rolePublish role = "publish" // the generator and the heartbeat, each publishing to a stream
	roleConsume role = "consume" // the worker and the logger, fed from the streams
	roleServer  role = "server"  // an embedded JetStream server
)

// killPoint is a named fault point ([steady.Step.Fault]) and the hit of it
// at which the process SIGKILLs itself.
type killPoint struct {
	name string
	n    uint64
}

// maxBatch bounds -batch: the value and message channels hold four batches
// each, so 100,000 is about 6 MB of buffers, more than any benefit.
const maxBatch = 100_000

// defaultConfig is the run `go run ./cmd/robust` does: 300 beats 25 ms
// apart (7.5 s, about 3,000 values) with the scripted failures, which are
// placed within its first 2,200 values (robust.DefaultScript).
func defaultConfig() config {
	return config{
		rate:      25 * time.Millisecond,
		beats:     300,
		batch:     10,
		faults:    robust.Scripted,
		chaosRate: 0.01,
		report:    "text",
		logLevel:  slog.LevelInfo,
		telemetry: defaultTelemetry,
		streams:   "ROBUST",
		killEvery: defaultKillEvery,
	}
}

// defaultKillEvery is the mean time between -kills: long enough that most
// kills strike a pipeline that has recovered from the last one (a restart
// takes a few tens of milliseconds), short enough that a run of a few
// seconds sees many.
const defaultKillEvery = 400 * time.Millisecond

// defaultTelemetry is where the dashboard is served unless -telemetry says
// otherwise: loopback only, so nothing outside the machine can reach it.
const defaultTelemetry = "127.0.0.1:9900"

// preset is a named set of flag values; flags given explicitly override it.
type preset struct {
	name, about string
	flags       [][2]string // flag name, value
}

var presets = []preset{
	{"dev", "fast rates, scripted faults: the default run in about a second",
		[][2]string{{"rate", "1ms"}, {"beats", "400"}, {"batch", "10"}, {"faults", "scripted"}}},
	{"stress", "unthrottled, large batches, chaos at 1% per step, errors only in the log",
		[][2]string{{"rate", "0"}, {"beats", "50000"}, {"batch", "1000"}, {"faults", "chaos"}, {"chaos-rate", "0.01"}, {"log", "error"}}},
	{"monitor", "the default run with every event and message logged in detail",
		[][2]string{{"log", "debug"}}},
	{"production", "realistic timing, no injected faults, until SIGINT or SIGTERM",
		[][2]string{{"rate", "1s"}, {"beats", "0"}, {"batch", "1000"}, {"faults", "none"}}},
	{"crash", "-split, its halves and its server SIGKILLed 40 times at random and restarted",
		[][2]string{{"split", "true"}, {"kills", "40"}, {"kill-every", "300ms"}, {"rate", "5ms"}, {"beats", "3000"}, {"log", "warn"}}},
	{"memory", "real memory pressure: the logger's spool grows with the flow under a memory limit; the sources are held and released",
		[][2]string{{"rate", "5ms"}, {"beats", "1000"}, {"spool", "16KiB"}, {"memory-limit", "64MiB"}}},
	{"degrade", "the scripted failures, then the generator breaks for good and gives up; the rest carry on",
		[][2]string{{"faults", "degrade"}}},
}

// hiddenFlags are for tests; the usage does not list them.
var hiddenFlags = []string{"progress", "test-ack-wait", "test-dupe-window", "test-kill-at"}

// newFlagSet declares the flags, writing into cfg.
func newFlagSet(cfg *config) *flag.FlagSet {
	fs := flag.NewFlagSet("robust", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors and usage are printed by the caller
	fs.Var(durationFlag{&cfg.rate}, "rate", "`duration` between heartbeats; 0 = unthrottled")
	fs.Var(uintFlag{&cfg.beats}, "beats", "shut down after `n` beats; 0 = run until SIGINT or SIGTERM")
	fs.Var(batchFlag{&cfg.batch}, "batch", "`n` values the worker takes per beat, 1 to "+strconv.Itoa(maxBatch))
	fs.Var(choice(&cfg.faults, []string{"scripted", "none", "chaos", "degrade"}, robust.Scripted, robust.NoFaults, robust.Chaos, robust.Degrade),
		"faults", "injected failures, `mode`: scripted, none, chaos, or degrade (scripted, then the generator breaks for good and gives up)")
	fs.Var(rateFlag{&cfg.chaosRate}, "chaos-rate", "with -faults chaos, the probability `p` that a step panics, in [0, 1]")
	fs.Var(uintFlag{&cfg.seed}, "seed", "`seed` for chaos decisions and backoff jitter; 0 = random (the report gives it)")
	fs.StringVar(&cfg.out, "out", "", "write one line per logged message to `FILE`: the value, a tab, its category")
	fs.Var(choice(&cfg.report, []string{"text", "json"}, "text", "json"), "report", "report `format`: text or json (one JSON object on stdout)")
	fs.Var(choice(&cfg.logLevel, []string{"debug", "info", "warn", "error"},
		slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError),
		"log", "log `level` on stderr: debug (every event and message, in detail), info, warn or error")
	fs.Var(addrFlag{&cfg.telemetry}, "telemetry", "serve the live dashboard, /metrics and /healthz on `ADDR` (host:port; \":9900\" binds 127.0.0.1); empty disables")
	fs.StringVar(&cfg.state, "state", "", "keep the pipeline's state in `DIR` (created if missing): a run resumes where the previous one stopped or was killed; with -split, each part's in a directory of its own under DIR; with -role server, the streams")
	fs.BoolVar(&cfg.reset, "reset", false, "with -state, delete the directory's state first and start afresh")
	fs.Var(choice(&cfg.deadLetters, dlVerbs, dlVerbs...), "dead-letters",
		"with -state, work on the directory's dead letters instead of running: `verb` list (JSON with -report json); replay ID|all (back into their channels, for the next run); purge ID|all (deleted for good)")
	fs.Var(sizeFlag{&cfg.memoryLimit}, "memory-limit", fmt.Sprintf("hold the sources while the live heap is above %.0f%% of `SIZE` (e.g. 64MiB), until it is below %.0f%%; also the Go runtime's memory limit for the run. 0 = GOMEMLIMIT's, if set",
		100*steady.DefaultConfig().MemoryHigh, 100*steady.DefaultConfig().MemoryLow))
	fs.Var(sizeFlag{&cfg.spool}, "spool", "the logger keeps `SIZE` (e.g. 16KiB) of memory per message until its input pauses, so that memory grows with the flow; 0 = none")
	fs.Var(choice(&cfg.preset, presetNames(), presetNames()...), "preset", "a usage scenario, `name`: "+strings.Join(presetNames(), ", ")+" (explicit flags override it)")

	fs.BoolVar(&cfg.split, "split", false, "run the pipeline split in two processes, joined by NATS JetStream streams (see below)")
	fs.Var(choice(&cfg.role, []string{"publish", "consume", "server"}, rolePublish, roleConsume, roleServer), "role",
		"run one part of the split pipeline, `part`: publish (generator, heartbeat), consume (worker, logger) or server (JetStream, storing in -state)")
	fs.Var(urlsFlag{&cfg.nats}, "nats", "the NATS JetStream server(s), `URL`[,URL...]; with -split, instead of an embedded one; with -role server, where to listen")
	fs.Var(fileFlag{&cfg.natsCreds, isCreds}, "nats-creds", "NATS credentials `FILE` (user JWT and nkey seed)")
	fs.Var(fileFlag{&cfg.natsCA, isPEMCerts}, "nats-tls-ca", "verify the server's TLS certificate against the CA certificates in `FILE` (PEM)")
	fs.Var(nameFlag{&cfg.streams}, "streams", "the streams are `NAME`_BEATS and NAME_VALUES")
	fs.Var(uintFlag{&cfg.kills}, "kills", "with -split, SIGKILL the halves and the embedded server `n` times at random, restarting each")
	fs.Var(durationFlag{&cfg.killEvery}, "kill-every", "mean `duration` between -kills (each interval is drawn from half to one and a half times it)")

	fs.StringVar(&cfg.progress, "progress", "", "write the bridges' counters to `FILE` as the run goes")
	fs.Var(durationFlag{&cfg.ackWait}, "test-ack-wait", "the inbound bridges' AckWait")
	fs.Var(durationFlag{&cfg.dupeWindow}, "test-dupe-window", "the duplicate window of streams the bridges create")
	fs.Var(killPointFlag{&cfg.killAt}, "test-kill-at", "SIGKILL the process at the `name:n`th hit of a fault point")
	return fs
}

func presetNames() []string {
	names := make([]string, len(presets))
	for i, p := range presets {
		names[i] = p.name
	}
	return names
}

// parseFlags parses args into a config, applying a preset under the flags
// given explicitly. It returns flag.ErrHelp for -h, and otherwise an error
// naming the flag and the problem.
func parseFlags(args []string) (config, error) {
	cfg := defaultConfig()
	fs := newFlagSet(&cfg)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	target := ""
	for fs.NArg() > 0 {
		if cfg.deadLetters == "" || cfg.deadLetters == "list" || target != "" {
			return cfg, fmt.Errorf("unexpected argument %q (flags only, and the ID after -dead-letters replay or purge)", fs.Arg(0))
		}
		// The ID or "all" after the verb; flags may follow it.
		target = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return cfg, err
		}
	}
	if cfg.reset && cfg.state == "" {
		return cfg, errors.New("flag -reset needs -state DIR: without it nothing is kept to reset")
	}
	if err := checkDeadLetters(&cfg, fs, target); err != nil {
		return cfg, err
	}
	if cfg.preset != "" {
		explicit := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
		i := slices.IndexFunc(presets, func(p preset) bool { return p.name == cfg.preset })
		for _, kv := range presets[i].flags {
			if !explicit[kv[0]] {
				if err := fs.Set(kv[0], kv[1]); err != nil {
					return cfg, fmt.Errorf("preset %s: %w", cfg.preset, err) // a bug in the table
				}
			}
		}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	return cfg, checkCombination(cfg, given)
}

// checkCombination rejects flags that make no sense together; given holds
// the flags set on the command line or by the preset.
func checkCombination(cfg config, given map[string]bool) error {
	needs := func(flag, what string) error { return fmt.Errorf("flag -%s needs %s", flag, what) }
	addrErr := func() error { _, _, err := serverAddr(cfg.nats); return err }
	switch {
	case cfg.deadLetters != "" && (cfg.split || cfg.role != roleWhole):
		return errors.New("flag -dead-letters works on the state directory of the pipeline in one process, not with -split or -role")
	case (cfg.split || cfg.role != roleWhole) && (cfg.faults == robust.Degrade || cfg.memoryLimit != 0 || cfg.spool != 0):
		return errors.New("flags -faults degrade, -memory-limit and -spool work in one process, not with -split or -role: " +
			"the actor that gives up, the sources held and the memory filled would be in different processes")
	case cfg.split && cfg.role != roleWhole:
		return errors.New("flags -split and -role exclude each other: -split runs every part itself")
	case (cfg.role == rolePublish || cfg.role == roleConsume) && cfg.nats == "":
		return needs("role "+string(cfg.role), "-nats URL, the JetStream server both halves use")
	case cfg.role == roleServer && cfg.state == "":
		return needs("role server", "-state DIR, where JetStream keeps its streams")
	case cfg.role == roleServer && addrErr() != nil:
		return addrErr()
	case cfg.role == rolePublish && cfg.out != "":
		return errors.New("flag -out belongs to -role consume: the logger, which writes it, runs there")
	case cfg.role == roleServer && cfg.out != "":
		return errors.New("flag -out makes no sense with -role server")
	case !cfg.split && cfg.role == roleWhole && given["nats"]:
		return needs("nats", "-split or -role: the pipeline in one process uses no server")
	case (given["nats-creds"] || given["nats-tls-ca"]) && cfg.nats == "":
		return needs("nats-creds and -nats-tls-ca", "-nats URL: an embedded server needs neither")
	case given["kills"] && !cfg.split:
		return needs("kills", "-split: it kills the processes -split starts")
	case given["kill-every"] && cfg.kills == 0:
		return needs("kill-every", "-kills N")
	case cfg.kills > 0 && cfg.killEvery == 0:
		return errors.New("flag -kill-every must be above 0 with -kills")
	case given["test-kill-at"] && cfg.role != rolePublish && cfg.role != roleConsume:
		return needs("test-kill-at", "-role publish or consume")
	}
	return nil
}

// dlVerbs are the verbs of -dead-letters.
var dlVerbs = []string{"list", "replay", "purge"}

// checkDeadLetters checks -dead-letters and its target, and sets dlID.
func checkDeadLetters(cfg *config, fs *flag.FlagSet, target string) error {
	if cfg.deadLetters == "" {
		return nil
	}
	verb := cfg.deadLetters
	if cfg.state == "" {
		return errors.New("flag -dead-letters needs -state DIR, whose dead letters it works on")
	}
	var misplaced []string
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "out" || f.Name == "reset" {
			misplaced = append(misplaced, "-"+f.Name)
		}
	})
	if len(misplaced) > 0 {
		return fmt.Errorf("flag -dead-letters does not run the pipeline: %s has no use with it", strings.Join(misplaced, " and "))
	}
	switch {
	case verb == "list":
		return nil
	case target == "":
		return fmt.Errorf("-dead-letters %s needs the ID of a dead letter, or all: -dead-letters %s 3", verb, verb)
	case target == "all":
		return nil
	}
	id, err := strconv.ParseUint(target, 10, 64)
	if err != nil || id == 0 {
		return fmt.Errorf("-dead-letters %s %s: not a dead-letter ID (a whole number from 1) or all", verb, strconv.Quote(target))
	}
	cfg.dlID = id
	return nil
}

// printUsage writes the usage text.
func printUsage(w io.Writer) {
	cfg := defaultConfig()
	all := newFlagSet(&cfg)
	fs := flag.NewFlagSet("robust", flag.ContinueOnError)
	all.VisitAll(func(f *flag.Flag) {
		if !slices.Contains(hiddenFlags, f.Name) {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	fmt.Fprint(w, `usage: robust [flags]
       robust -split [flags]
       robust -role publish|consume|server -nats URL [flags]
       robust -state DIR -dead-letters list | replay ID|all | purge ID|all

robust runs a FizzBuzz pipeline (heartbeat and generator feed the worker,
the worker feeds the logger) while its actors fail on purpose, then prints a
recovery report whose checks prove nothing was lost or duplicated. The exit
status is 0 when every check passes, 1 when one fails, 2 for bad flags.

With -dead-letters it runs nothing: it lists, replays or purges the dead
letters of the state directory DIR, and exits 0 when done, 1 when DIR
cannot be used or does not hold the ID, 2 for bad flags.

flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprint(w, "\npresets:\n")
	for _, p := range presets {
		kv := make([]string, len(p.flags))
		for i, f := range p.flags {
			kv[i] = "-" + f[0] + " " + f[1]
		}
		fmt.Fprintf(w, "  %-10s  %s\n  %-10s  (%s)\n", p.name, p.about, "", strings.Join(kv, " "))
	}
	d := defaultConfig()
	fmt.Fprintf(w, "\nwithout flags: -rate %v -beats %d -batch %d -faults %v, about %v.\n",
		d.rate, d.beats, d.batch, d.faults, d.rate*time.Duration(d.beats))
	fmt.Fprintf(w, `
across processes:
  -split runs the generator and the heartbeat in one process, publishing
  to the streams %[1]s_VALUES and %[1]s_BEATS, and the worker and the logger
  in another, fed from them: exactly once, in order, whatever process dies
  when. Without -nats it starts its own JetStream server (in a child process
  when -kills asks to kill it). With -kills N it SIGKILLs the publishing
  half, the consuming half, both, and the server, N times at random, and
  restarts each; the report then counts the kills and the time from each to
  the next value logged. Each part keeps its state under -state DIR (a
  temporary directory without it).

  On two machines, with a NATS server with JetStream enabled that both reach
  (or "robust -role server -nats nats://HOST:4222 -state DIR" on either):
    robust -role publish -nats nats://HOST:4222 -state DIR           # on one
    robust -role consume -nats nats://HOST:4222 -state DIR -out FILE # on the other
  Each prints its half of the report. A half killed and run again with the
  same -state resumes where it stopped. SIGINT or SIGTERM ends the
  publishing half's run, and the consuming half's once it has taken what
  was published; run again on the same -state, both carry on (the
  publishing half first: a consuming half that finds its streams ended, and
  nothing past the end, ends its run at once). A fresh run on the same
  server needs fresh streams: -streams NAME, or delete the old ones.
`, d.streams)
}

// The flag types below reject bad values in Set, so the flag package's
// error names the flag and the problem in one line.

// urlsFlag is a NATS server URL, or several separated by commas (servers
// of one cluster), as nats.Connect takes them.
type urlsFlag struct{ p *string }

func (f urlsFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}

func (f urlsFlag) Set(s string) error {
	for u := range strings.SplitSeq(s, ",") {
		parsed, err := url.Parse(strings.TrimSpace(u))
		switch {
		case err != nil || parsed.Host == "":
			return fmt.Errorf("%q is not a URL such as nats://127.0.0.1:4222", u)
		case !slices.Contains([]string{"nats", "tls", "ws", "wss"}, parsed.Scheme):
			return fmt.Errorf("%q: the scheme must be nats, tls, ws or wss", u)
		}
	}
	*f.p = s
	return nil
}

// fileFlag is the name of a file that must be readable and hold what
// check accepts.
type fileFlag struct {
	p     *string
	check func([]byte) error
}

func (f fileFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}

func (f fileFlag) Set(s string) error {
	b, err := os.ReadFile(s)
	if err != nil {
		return errors.Unwrap(err)
	}
	if err := f.check(b); err != nil {
		return err
	}
	*f.p = s
	return nil
}

// isCreds accepts a NATS credentials file: a user's JWT and nkey seed.
func isCreds(b []byte) error {
	if _, err := nkeys.ParseDecoratedUserNKey(b); err != nil {
		return fmt.Errorf("not a NATS credentials file (%v)", err)
	}
	return nil
}

// isPEMCerts accepts a file of PEM certificates.
func isPEMCerts(b []byte) error {
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return errors.New("no PEM certificate in it")
	}
	return nil
}

// nameFlag is a name JetStream accepts in a stream's name: letters,
// digits, '-' and '_'.
type nameFlag struct{ p *string }

func (f nameFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}

func (f nameFlag) Set(s string) error {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) {
		return errors.New("use letters, digits, '-' and '_' only")
	}
	*f.p = s
	return nil
}

type killPointFlag struct{ p *killPoint }

func (f killPointFlag) String() string {
	if f.p == nil || f.p.name == "" {
		return ""
	}
	return f.p.name + ":" + strconv.FormatUint(f.p.n, 10)
}

func (f killPointFlag) Set(s string) error {
	if !canKillSelf {
		return errors.New("SIGKILL is unix's: not on this system")
	}
	name, n, ok := strings.Cut(s, ":")
	v, err := strconv.ParseUint(n, 10, 64)
	if !ok || name == "" || err != nil || v == 0 {
		return errors.New("not name:n (a fault point's name, and which hit of it, from 1)")
	}
	*f.p = killPoint{name, v}
	return nil
}

type addrFlag struct{ p *string }

func (f addrFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}

func (f addrFlag) Set(s string) error {
	if s != "" {
		if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
			return errors.New("not host:port (use e.g. 127.0.0.1:9900, :9900, or empty to disable)")
		}
	}
	*f.p = s
	return nil
}

type durationFlag struct{ p *time.Duration }

func (f durationFlag) String() string {
	if f.p == nil {
		return ""
	}
	return f.p.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return errors.New("not a duration (use e.g. 25ms, 1s or 0)")
	case d < 0:
		return errors.New("must not be negative")
	}
	*f.p = d
	return nil
}

type uintFlag struct{ p *uint64 }

func (f uintFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.FormatUint(*f.p, 10)
}

func (f uintFlag) Set(s string) error {
	if strings.HasPrefix(strings.TrimSpace(s), "-") {
		return errors.New("must not be negative")
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return errors.New("not a whole number")
	}
	*f.p = v
	return nil
}

type batchFlag struct{ p *int }

func (f batchFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.Itoa(*f.p)
}

func (f batchFlag) Set(s string) error {
	v, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		return errors.New("not a whole number")
	case v < 1:
		return errors.New("must be at least 1")
	case v > maxBatch:
		return fmt.Errorf("must be at most %d", maxBatch)
	}
	*f.p = int(v)
	return nil
}

type rateFlag struct{ p *float64 }

func (f rateFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.FormatFloat(*f.p, 'g', -1, 64)
}

func (f rateFlag) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil:
		return errors.New("not a number")
	case math.IsNaN(v) || v < 0 || v > 1:
		return errors.New("must be in [0, 1]")
	}
	*f.p = v
	return nil
}

// choiceFlag accepts one of a list of names, each standing for a value.
type choiceFlag[T comparable] struct {
	p      *T
	names  []string
	values []T
}

func choice[T comparable](p *T, names []string, values ...T) choiceFlag[T] {
	return choiceFlag[T]{p, names, values}
}

func (f choiceFlag[T]) String() string {
	if f.p == nil {
		return ""
	}
	if i := slices.Index(f.values, *f.p); i >= 0 {
		return f.names[i]
	}
	return ""
}

func (f choiceFlag[T]) Set(s string) error {
	if i := slices.Index(f.names, s); i >= 0 {
		*f.p = f.values[i]
		return nil
	}
	return fmt.Errorf("must be one of %s", strings.Join(f.names, ", "))
}
