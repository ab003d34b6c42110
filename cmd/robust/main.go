// Command robust demonstrates steady: a FizzBuzz pipeline whose actors fail
// on purpose (scripted failures by default, or chaos), recover, and end with
// a report whose checks prove that nothing was lost or duplicated.
//
//	go run ./cmd/robust                 # 7.5 s, scripted failures
//	go run ./cmd/robust -preset stress  # unthrottled, chaos
//	go run ./cmd/robust -split          # in two processes, through NATS JetStream
//	go run ./cmd/robust -preset crash   # the same, SIGKILLed 40 times
//	go run ./cmd/robust -h              # flags and presets
//
// The actors are in package [github.com/steady-go/steady/examples/robust].
// The exit status is 0 when every check passes, 1 when one fails or the
// state directory (-state) cannot be used, and 2 for invalid flags; in
// either of the last two cases nothing runs and no file is changed.
//
//	robust -state DIR -dead-letters list          # what DIR's runs quarantined
//	robust -state DIR -dead-letters replay 3|all  # back into their channels, for the next run
//	robust -state DIR -dead-letters purge 3|all   # deleted for good, and counted
//
// -dead-letters runs nothing: it exits 0 when done, 1 when the directory
// cannot be used or an ID is not in it (nothing changed then), 2 for bad
// flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(robustMain(os.Args[1:], os.Stdout, os.Stderr))
}

// robustMain is the program: parse the flags, build the pipeline, run it until
// it is done or a signal arrives, report. It returns the exit status.
func robustMain(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(stdout)
		return 0
	}
	if err != nil {
		return usageError(stderr, err)
	}
	if cfg.deadLetters != "" {
		return deadLettersMain(cfg, stdout, stderr)
	}
	if cfg.split {
		// The coordinator keeps every signal: the first stops the run in
		// order, a third kills its children, which must not outlive it.
		sigs := make(chan os.Signal, 3)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		return runSplit(cfg, sigs, stdout, stderr)
	}
	if cfg.role == roleServer {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runServer(ctx, cfg, stderr)
	}
	p, err := build(cfg, stderr)
	if err != nil {
		return failedSetup(stderr, err)
	}

	// The first SIGINT or SIGTERM shuts the graph down in order; once it
	// has, the default handling is back, so a second one ends the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)

	return finish(p.run(ctx), cfg.report, stdout, stderr)
}

// failedSetup prints why the run could not start and returns the exit
// status: 1 for a *setupError (a state directory that cannot be used), 2
// with the usage for a bad flag.
func failedSetup(stderr io.Writer, err error) int {
	var setupErr *setupError
	if errors.As(err, &setupErr) {
		fmt.Fprintf(stderr, "robust: %v\n", err)
		return 1
	}
	return usageError(stderr, err)
}

// finish writes the report and returns the exit status it calls for.
func finish(r *report, format string, stdout, stderr io.Writer) int {
	if err := r.write(stdout, format); err != nil {
		fmt.Fprintf(stderr, "robust: writing the report: %v\n", err)
		return 1
	}
	if !r.Passed {
		return 1
	}
	return 0
}

// usageError prints err and the usage, and returns the status for bad
// input.
func usageError(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "robust: %v\n", err)
	printUsage(stderr)
	return 2
}
