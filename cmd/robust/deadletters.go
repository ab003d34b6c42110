package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/store/bolt"
)

// deadLettersMain carries out -dead-letters on the state directory and
// returns the exit status: 0 once done, 1 when the directory cannot be
// used or does not hold the ID given (and then nothing changed).
//
// It loads the directory as a run does and runs nothing, so nothing else
// in it changes. list writes nothing. replay marks the letters in the
// state file, in one transaction: the next run of the directory puts their
// messages back into their channels, ahead of the rest. purge deletes
// them, in one transaction, and counts them in the file: the reports of
// later runs account for their values as purged, a deliberate loss.
func deadLettersMain(cfg config, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "robust: %v\n", err)
		return 1
	}
	// Refuse a directory without a state file, which Open would create.
	path := filepath.Join(cfg.state, bolt.FileName)
	if info, err := os.Stat(path); err != nil || info.Size() == 0 {
		return fail(fmt.Errorf("%s holds no state (no %s): no run has used it", cfg.state, bolt.FileName))
	}
	// The largest channels -batch allows, so that the directory loads
	// whatever -batch its runs used; nothing runs, so no telemetry.
	cfg.batch, cfg.telemetry = maxBatch, ""
	p, err := build(cfg, stderr)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if p != nil {
			p.close()
		}
	}()
	letters := p.g.DeadLetters()
	if cfg.deadLetters == "list" {
		if err := listLetters(stdout, cfg, p.g.Snapshot(), letters); err != nil {
			return fail(err)
		}
		return 0
	}

	ids := []uint64{cfg.dlID}
	if cfg.dlID == 0 {
		ids = ids[:0]
		for _, d := range letters {
			ids = append(ids, d.ID)
		}
	}
	if len(ids) == 0 {
		fmt.Fprintf(stdout, "%s holds no dead letters\n", cfg.state)
		return 0
	}
	act := p.g.Replay
	if cfg.deadLetters == "purge" {
		act = p.g.Purge
	}
	if err := act(ids...); err != nil {
		if errors.Is(err, steady.ErrDeadLetterNotFound) {
			err = fmt.Errorf("%w (%s holds %s)", err, cfg.state, letterIDs(letters))
		}
		return fail(err)
	}
	err = p.close()
	p = nil
	if err != nil {
		return fail(err)
	}
	for _, d := range letters {
		if !slices.Contains(ids, d.ID) {
			continue
		}
		if cfg.deadLetters == "purge" {
			fmt.Fprintf(stdout, "purged %s\n", newDeadLetter(d))
		} else {
			fmt.Fprintf(stdout, "replayed %s\n", newDeadLetter(d))
		}
	}
	if cfg.deadLetters == "replay" {
		fmt.Fprintf(stdout, "the next run of -state %s delivers them, ahead of the other messages\n", cfg.state)
	} else {
		fmt.Fprintf(stdout, "gone for good; the reports of later runs of -state %s count them as purged\n", cfg.state)
	}
	return 0
}

// listLetters writes the directory's dead letters, in the -report format.
func listLetters(w io.Writer, cfg config, s observe.Snapshot, letters []observe.DeadLetter) error {
	out := struct {
		State       string       `json:"state"`
		DeadLetters []deadLetter `json:"dead_letters"`
		Purged      int64        `json:"dead_letters_purged"`
		Limit       int          `json:"dead_letters_limit"`
	}{cfg.state, []deadLetter{}, s.DeadLettersPurged, s.MaxDeadLetters}
	for _, d := range letters {
		out.DeadLetters = append(out.DeadLetters, newDeadLetter(d))
	}
	if cfg.report == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s holds %s (the limit is %d); %d purged before\n", cfg.state, count(len(letters), "dead letter"), out.Limit, out.Purged)
	for _, d := range out.DeadLetters {
		fmt.Fprintf(&b, "  %s  (%s)\n", d, d.Time.Format("2006-01-02 15:04:05.000 MST"))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// letterIDs says which IDs the letters have.
func letterIDs(letters []observe.DeadLetter) string {
	if len(letters) == 0 {
		return "no dead letters"
	}
	ids := make([]string, len(letters))
	for i, d := range letters {
		ids[i] = fmt.Sprint(d.ID)
	}
	if len(ids) == 1 {
		return "dead letter " + ids[0]
	}
	return "dead letters " + strings.Join(ids, ", ")
}

// count is n things, "1 thing" or "2 things".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
