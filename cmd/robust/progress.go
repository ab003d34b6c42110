package main

import (
	"encoding/json"
	"os"
	"sync"
	"time"
)

// A half of a split run tells the coordinator how it is doing through a
// small file (-progress FILE), rewritten as the run goes: a half that is
// SIGKILLed prints no report, and the coordinator sums the bridges'
// recovery counters over every run, and times recoveries by the logger's
// progress.

// progressFileEvery is how often a half rewrites its progress file. It is the
// resolution of the recovery times the coordinator measures (a few tens of
// milliseconds to a second), and costs a small write and a rename, 100
// times a second.
const progressFileEvery = 10 * time.Millisecond

// progress is the content of the progress file.
type progress struct {
	Bridges map[string]bridgeReport `json:"bridges"`
	Logged  uint64                  `json:"logged"` // messages the logger committed, over every run
	// LoggedAt is when this process last saw Logged rise, in Unix
	// nanoseconds; 0 until it has.
	LoggedAt int64 `json:"logged_at_unix_nano"`
	// The coordinator's, with -split: the kills dealt so far.
	Kills int `json:"kills,omitempty"`
}

// startProgress writes the progress file every progressFileEvery until the
// returned function is called, which writes it a last time and returns
// once the writer has stopped.
func (p *pipeline) startProgress() (stop func()) {
	last, at := p.logged0, int64(0)
	write := func() {
		pr := progress{Bridges: p.bridges()}
		if p.logger != nil {
			pr.Logged = p.logger.State.Value().Logged
		}
		if pr.Logged != last {
			last, at = pr.Logged, time.Now().UnixNano()
		}
		pr.LoggedAt = at
		if err := writeProgress(p.cfg.progress, pr); err != nil {
			p.log.Warn("robust: writing the progress file", "err", err)
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(progressFileEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				write()
			case <-done:
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		write()
	}
}

// writeProgress replaces the file at path with pr, whole: a reader sees the
// last complete write even if the writer was killed in the middle of one.
func writeProgress(path string, pr progress) error {
	b, err := json.Marshal(pr)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readProgress reads a progress file; a missing one is the zero progress.
func readProgress(path string) (progress, error) {
	var pr progress
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return pr, nil
	}
	if err != nil {
		return pr, err
	}
	return pr, json.Unmarshal(b, &pr)
}
