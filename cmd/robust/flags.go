package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

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
	}
}

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
	{"memory", "real memory pressure: the logger's spool grows with the flow under a memory limit; the sources are held and released",
		[][2]string{{"rate", "5ms"}, {"beats", "1000"}, {"spool", "16KiB"}, {"memory-limit", "64MiB"}}},
	{"degrade", "the scripted failures, then the generator breaks for good and gives up; the rest carry on",
		[][2]string{{"faults", "degrade"}}},
}

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
	fs.StringVar(&cfg.state, "state", "", "keep the pipeline's state in `DIR` (created if missing): a run resumes where the previous one stopped or was killed")
	fs.BoolVar(&cfg.reset, "reset", false, "with -state, delete the directory's state first and start afresh")
	fs.Var(choice(&cfg.deadLetters, dlVerbs, dlVerbs...), "dead-letters",
		"with -state, work on the directory's dead letters instead of running: `verb` list (JSON with -report json); replay ID|all (back into their channels, for the next run); purge ID|all (deleted for good)")
	fs.Var(sizeFlag{&cfg.memoryLimit}, "memory-limit", fmt.Sprintf("hold the sources while the live heap is above %.0f%% of `SIZE` (e.g. 64MiB), until it is below %.0f%%; also the Go runtime's memory limit for the run. 0 = GOMEMLIMIT's, if set",
		100*steady.DefaultMemoryHigh, 100*steady.DefaultMemoryLow))
	fs.Var(sizeFlag{&cfg.spool}, "spool", "the logger keeps `SIZE` (e.g. 16KiB) of memory per message until its input pauses, so that memory grows with the flow; 0 = none")
	fs.Var(choice(&cfg.preset, presetNames(), presetNames()...), "preset", "a usage scenario, `name`: "+strings.Join(presetNames(), ", ")+" (explicit flags override it)")
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
	return cfg, nil
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
	fs := newFlagSet(&cfg)
	fmt.Fprint(w, `usage: robust [flags]
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
}

// The flag types below reject bad values in Set, so the flag package's
// error names the flag and the problem in one line.

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
