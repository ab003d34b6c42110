package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/examples/robust"
)

// The checks' names, as the JSON report gives them.
const (
	checkExactlyOnce = "exactly-once"
	checkCategories  = "categories"
	checkCounters    = "counters-agree"
	checkDrained     = "channels-drained"
	checkShutdown    = "orderly-shutdown"
	checkOutFile     = "out-file"
	checkPublished   = "published"       // the publishing half
	checkHalves      = "halves-agree"    // the split run
	checkProcesses   = "processes-ended" // the split run
	checkDegradation = "degradation"     // -faults degrade only
)

// listMax bounds the values a failed check lists.
const listMax = 5

// letters is what the dead-letter store holds, by the channel a letter was
// taken from, and how many letters were purged from it.
type letters struct {
	values   []uint64 // from the values channel, quarantined by the worker
	messages []robust.Message
	all      []uint64 // every dead-lettered value, sorted
	foreign  int      // letters of an unexpected type
	// purged counts the letters deleted by -dead-letters purge: values
	// neither logged nor dead-lettered, on purpose. Which values they
	// were the store does not keep; the checks find them among the
	// missing ones.
	purged uint64
}

func (p *pipeline) letters() letters {
	l := letters{purged: uint64(p.g.Snapshot().DeadLettersPurged)}
	for _, d := range p.g.DeadLetters() {
		switch v := d.Value.(type) {
		case uint64:
			l.values = append(l.values, v)
			l.all = append(l.all, v)
		case robust.Message:
			l.messages = append(l.messages, v)
			l.all = append(l.all, v.Value)
		default:
			l.foreign++
		}
	}
	slices.Sort(l.all)
	return l
}

// checks verifies the run: every value logged once or dead-lettered, the
// categories by arithmetic, the actors' counters against each other, the
// channels empty, the shutdown orderly, and the output file on its own.
func (p *pipeline) checks(runErr, outErr error) []check {
	l := p.letters()
	gen := p.generated()
	ls := p.logger.State.Value()
	// What the logger did not log, from its own record: the gaps it
	// skipped and whatever lies between the last value it logged and the
	// last one generated.
	missing := slices.Clone(ls.Gaps)
	if ls.Next < gen {
		missing = append(missing, robust.Range{From: ls.Next, To: gen})
	}
	cs := []check{
		exactlyOnce(gen, ls, missing, l),
		categories(gen, ls, missing),
		p.counters(gen, l, missing),
		p.drained(),
		shutdown(runErr, p.shutdownReason(), p.cfg.faults == robust.Degrade),
	}
	if p.cfg.out != "" {
		c := check{Name: checkOutFile}
		if outErr != nil {
			c.Detail = outErr.Error()
		} else {
			c.Pass, c.Detail = verifyOut(p.cfg.out, gen, ls.Logged, ls.FileLen, l.all, l.purged)
		}
		cs = append(cs, c)
	}
	return cs
}

func exactlyOnce(gen uint64, ls robust.LoggerState, missing []robust.Range, l letters) check {
	c := check{Name: checkExactlyOnce}
	var problems []string
	if ls.Next > gen {
		problems = append(problems, fmt.Sprintf("logged values up to %d, beyond the %d generated", ls.Next-1, gen))
	}
	if ls.Repeats > 0 {
		problems = append(problems, fmt.Sprintf("%d messages repeated or out of order", ls.Repeats))
	}
	if l.foreign > 0 {
		problems = append(problems, fmt.Sprintf("%d dead letters of an unexpected type", l.foreign))
	}
	// Missing must be the dead-lettered values and as many others as
	// were purged.
	var nMissing uint64
	for _, g := range missing {
		nMissing += g.To - g.From
	}
	others, nOthers := notDead(missing, l.all)
	switch {
	case nOthers > 0 && l.purged == 0:
		problems = append(problems, "lost (neither logged nor dead-lettered): "+others)
	case nOthers != l.purged:
		problems = append(problems, fmt.Sprintf("%d values neither logged nor dead-lettered (%s), but %d purged", nOthers, others, l.purged))
	}
	var twice []string
	for i, v := range l.all {
		inGap := slices.ContainsFunc(missing, func(g robust.Range) bool { return g.From <= v && v < g.To })
		if (!inGap || (i > 0 && l.all[i-1] == v)) && len(twice) < listMax {
			twice = append(twice, strconv.FormatUint(v, 10))
		}
	}
	if len(twice) > 0 {
		problems = append(problems, "dead-lettered and also logged, or twice: "+strings.Join(twice, ", "))
	}
	if len(problems) == 0 && nMissing != uint64(len(l.all))+l.purged {
		problems = append(problems, fmt.Sprintf("%d values missing but %d dead-lettered and %d purged", nMissing, len(l.all), l.purged))
	}
	if len(problems) == 0 && ls.Logged+uint64(len(l.all))+l.purged != gen {
		problems = append(problems, fmt.Sprintf("%d logged + %d dead-lettered + %d purged ≠ %d generated", ls.Logged, len(l.all), l.purged, gen))
	}
	if len(problems) > 0 {
		c.Detail = strings.Join(problems, "; ")
		return c
	}
	c.Pass = true
	c.Detail = fmt.Sprintf("every value in [0, %d) was logged once (%d) or dead-lettered (%d)", gen, ls.Logged, len(l.all))
	if l.purged > 0 {
		c.Detail += fmt.Sprintf(", or its dead letter purged (%d: %s)", l.purged, others)
	}
	return c
}

// notDead lists the values of the ranges that are not in dead (sorted),
// the first listMax of them, and counts them all.
func notDead(ranges []robust.Range, dead []uint64) (list string, n uint64) {
	var vs []string
	for _, g := range ranges {
		lo, _ := slices.BinarySearch(dead, g.From)
		hi, _ := slices.BinarySearch(dead, g.To)
		n += g.To - g.From - uint64(hi-lo)
		for v := g.From; v < g.To && len(vs) < listMax; v++ {
			if _, found := slices.BinarySearch(dead, v); !found {
				vs = append(vs, strconv.FormatUint(v, 10))
			}
		}
	}
	if n > uint64(len(vs)) {
		vs = append(vs, "...")
	}
	return strings.Join(vs, ", "), n
}

// notDeadCounts counts the values of the ranges that are not in dead
// (sorted), by category.
func notDeadCounts(ranges []robust.Range, dead []uint64) [robust.NumCategories]uint64 {
	var n [robust.NumCategories]uint64
	for _, g := range ranges {
		to, from := robust.CountBelow(g.To), robust.CountBelow(g.From)
		for i := range n {
			n[i] += to[i] - from[i]
		}
	}
	for _, v := range slices.Compact(slices.Clone(dead)) {
		if slices.ContainsFunc(ranges, func(g robust.Range) bool { return g.From <= v && v < g.To }) {
			n[robust.Categorize(v)]--
		}
	}
	return n
}

// categories compares the logger's counts with FizzBuzz arithmetic over
// the values it logged: all of [0, generated) less the missing ones.
func categories(gen uint64, ls robust.LoggerState, missing []robust.Range) check {
	c := check{Name: checkCategories}
	want := robust.CountBelow(max(gen, ls.Next))
	for _, g := range missing {
		to, from := robust.CountBelow(g.To), robust.CountBelow(g.From)
		for i := range want {
			want[i] -= to[i] - from[i]
		}
	}
	if ls.Counts != want || ls.Miscategorized > 0 {
		c.Detail = fmt.Sprintf("logger counted %s, arithmetic says %s; %d messages miscategorized",
			formatCounts(ls.Counts), formatCounts(want), ls.Miscategorized)
		return c
	}
	c.Pass = true
	c.Detail = fmt.Sprintf("%s, as arithmetic over the values logged says", formatCounts(ls.Counts))
	return c
}

func formatCounts(c [robust.NumCategories]uint64) string {
	return fmt.Sprintf("Fizz %d, Buzz %d, FizzBuzz %d, Value %d", c[robust.Fizz], c[robust.Buzz], c[robust.FizzBuzz], c[robust.Value])
}

// counters compares what each actor counted with what its neighbours did.
// The letters purged were taken from either channel; the store does not
// say which, so the check is that some split of them accounts for both
// differences, and that the messages among them could be some of the
// missing values that were not dead-lettered.
func (p *pipeline) counters(gen uint64, l letters, missing []robust.Range) check {
	c := check{Name: checkCounters}
	beats := p.beatsSent()
	ws := p.worker.State.Value()
	ls := p.logger.State.Value()
	lostCounts := ws.Counts
	for _, m := range l.messages {
		if m.Category < robust.NumCategories {
			lostCounts[m.Category]--
		}
	}
	var problems []string
	if beats != ws.Beats {
		problems = append(problems, fmt.Sprintf("heartbeat sent %d beats, worker took %d", beats, ws.Beats))
	}
	// Values and messages neither passed on nor dead-lettered: purged.
	purgedValues := int64(gen) - int64(ws.Processed) - int64(len(l.values))
	purgedMessages := int64(ws.Processed) - int64(ls.Logged) - int64(len(l.messages))
	split := purgedValues >= 0 && purgedMessages >= 0 && uint64(purgedValues+purgedMessages) == l.purged
	if !split && purgedValues != 0 {
		problems = append(problems, fmt.Sprintf("generator sent %d values, worker processed %d and quarantined %d", gen, ws.Processed, len(l.values)))
	}
	if !split && purgedMessages != 0 {
		problems = append(problems, fmt.Sprintf("worker sent %d messages, logger logged %d and quarantined %d", ws.Processed, ls.Logged, len(l.messages)))
	}
	if !split && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("%d values and %d messages unaccounted for, %d purged", purgedValues, purgedMessages, l.purged))
	}
	// The worker's counts less the logger's are the categories of the
	// messages purged: some of the missing values that were not
	// dead-lettered.
	var diff uint64
	mayBe := notDeadCounts(missing, l.all)
	fits := true
	for i := range lostCounts {
		fits = fits && lostCounts[i] >= ls.Counts[i] && lostCounts[i]-ls.Counts[i] <= mayBe[i]
		diff += lostCounts[i] - ls.Counts[i]
	}
	if !fits || split && diff != uint64(purgedMessages) || l.purged == 0 && lostCounts != ls.Counts {
		problems = append(problems, fmt.Sprintf("worker counted %s, logger %s", formatCounts(ws.Counts), formatCounts(ls.Counts)))
	}
	if len(problems) > 0 {
		c.Detail = strings.Join(problems, "; ")
		return c
	}
	c.Pass = true
	c.Detail = fmt.Sprintf("beats %d sent = %d taken; values %d generated = %d processed + %d dead-lettered; messages %d sent = %d logged + %d dead-lettered; category counts equal",
		beats, ws.Beats, gen, ws.Processed, len(l.values), ws.Processed, ls.Logged, len(l.messages))
	if l.purged > 0 {
		c.Detail = fmt.Sprintf("beats %d sent = %d taken; values %d generated = %d processed + %d dead-lettered + %d purged; messages %d sent = %d logged + %d dead-lettered + %d purged; category counts agree",
			beats, ws.Beats, gen, ws.Processed, len(l.values), purgedValues, ws.Processed, ls.Logged, len(l.messages), purgedMessages)
	}
	return c
}

func (p *pipeline) drained() check {
	c := check{Name: checkDrained}
	b, v, m := p.beats.Len(), p.values.Len(), 0
	if p.messages != nil {
		m = p.messages.Len()
	}
	c.Pass = b == 0 && v == 0 && m == 0
	c.Detail = fmt.Sprintf("messages left: beats %d, values %d, messages %d", b, v, m)
	if p.messages == nil {
		c.Detail = fmt.Sprintf("messages left: beats %d, values %d", b, v)
	}
	return c
}

// publishChecks verifies the publishing half: every beat and every value
// published once, the streams ended, nothing quarantined, and the
// shutdown orderly.
func (p *pipeline) publishChecks(runErr error) []check {
	return []check{p.published(), p.drained(), shutdown(runErr, p.shutdownReason(), p.cfg.faults == robust.Degrade)}
}

// published compares what the heartbeat and the generator made with what
// their bridges committed as published: the same counts (a value the
// bridge quarantined would be missing from the stream), and both streams
// ended.
func (p *pipeline) published() check {
	c := check{Name: checkPublished}
	beats, gen := p.beatsSent(), p.generated()
	bo, vo := p.beatsOut.Position(), p.valuesOut.Position()
	var problems []string
	if n := len(p.g.DeadLetters()); n > 0 {
		problems = append(problems, fmt.Sprintf("%d values dead-lettered, never published", n))
	}
	if bo.Values != beats {
		problems = append(problems, fmt.Sprintf("heartbeat sent %d beats, %s published %d", beats, p.cfg.streamName("BEATS"), bo.Values))
	}
	if vo.Values != gen {
		problems = append(problems, fmt.Sprintf("generator made %d values, %s published %d", gen, p.cfg.streamName("VALUES"), vo.Values))
	}
	if !bo.Ended || !vo.Ended {
		problems = append(problems, fmt.Sprintf("end of stream published: %s %v, %s %v", p.cfg.streamName("BEATS"), bo.Ended, p.cfg.streamName("VALUES"), vo.Ended))
	}
	if len(problems) > 0 {
		c.Detail = strings.Join(problems, "; ")
		return c
	}
	c.Pass = true
	c.Detail = fmt.Sprintf("%s carries the %d beats sent and %s the %d values made, each stream ended",
		p.cfg.streamName("BEATS"), beats, p.cfg.streamName("VALUES"), gen)
	return c
}

// shutdown checks that the graph shut down in order. With degrade, the
// generator's give-up is what the scenario scripts, and is the one error
// Run may return.
func shutdown(runErr error, reason string, degrade bool) check {
	c := check{Name: checkShutdown}
	if degrade && runErr != nil && onlyGeneratorGaveUp(runErr) {
		c.Pass = true
		c.Detail = "every actor finished its work and stopped, but the generator, which gave up as scripted; reason: " + reason
		return c
	}
	if runErr != nil {
		c.Detail = runErr.Error()
		return c
	}
	c.Pass = true
	c.Detail = "every actor finished its work and stopped; reason: " + reason
	return c
}

// onlyGeneratorGaveUp reports whether err is the generator's give-up and
// nothing else.
func onlyGeneratorGaveUp(err error) bool {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var g *steady.GaveUpError
		if !errors.As(e, &g) || g.Actor != robust.GeneratorName {
			return false
		}
	}
	return len(errs) > 0
}

// verifyOut reads the output file on its own: one line per logged message,
// each value once, each with its category, in increasing order except for
// replayed dead letters (a value that comes after those above it, into
// the place it left), and every value of [0, gen) there, or dead-lettered
// (dead is sorted), or among the purged ones, and nothing else.
func verifyOut(path string, gen, logged uint64, fileLen int64, dead []uint64, purged uint64) (bool, string) {
	f, err := os.Open(path)
	if err != nil {
		return false, err.Error()
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return false, err.Error()
	}
	if info.Size() != fileLen {
		return false, fmt.Sprintf("%s is %d bytes, the logger committed %d", path, info.Size(), fileLen)
	}
	sc := bufio.NewScanner(f)
	var lines, next, late uint64
	var skipped []robust.Range // the values passed over so far
	for sc.Scan() {
		lines++
		vs, cs, ok := bytes.Cut(sc.Bytes(), []byte{'\t'})
		v, err := strconv.ParseUint(string(vs), 10, 64)
		cat, catOK := robust.ParseCategory(string(cs))
		switch {
		case !ok || err != nil || !catOK:
			return false, fmt.Sprintf("line %d: %.60q is not \"value<TAB>category\"", lines, sc.Text())
		case cat != robust.Categorize(v):
			return false, fmt.Sprintf("line %d: value %d has category %s, want %s", lines, v, cat, robust.Categorize(v))
		}
		if _, found := slices.BinarySearch(dead, v); found {
			return false, fmt.Sprintf("line %d: value %d was dead-lettered and logged too", lines, v)
		}
		if v < next {
			var filled bool
			if skipped, filled = robust.FillGap(skipped, v); !filled {
				return false, fmt.Sprintf("line %d: value %d after %d (repeated or out of order)", lines, v, next-1)
			}
			late++
			continue
		}
		if v > next {
			skipped = append(skipped, robust.Range{From: next, To: v})
		}
		next = v + 1
	}
	if err := sc.Err(); err != nil {
		return false, err.Error()
	}
	switch {
	case next > gen:
		return false, fmt.Sprintf("values up to %d, beyond the %d generated", next-1, gen)
	case lines != logged:
		return false, fmt.Sprintf("%d lines for %d messages logged", lines, logged)
	}
	if next < gen {
		skipped = append(skipped, robust.Range{From: next, To: gen})
	}
	others, n := notDead(skipped, dead)
	switch {
	case n > 0 && purged == 0:
		return false, fmt.Sprintf("values missing and not dead-lettered: %s", others)
	case n != purged:
		return false, fmt.Sprintf("%d values missing and not dead-lettered (%s), but %d purged", n, others, purged)
	}
	order, unless := "in order", fmt.Sprintf("dead-lettered (%d)", len(dead))
	if late > 0 {
		order = fmt.Sprintf("in order but for %d replayed dead letters, logged late", late)
	}
	if purged > 0 {
		unless += fmt.Sprintf(" or purged (%d)", purged)
	}
	return true, fmt.Sprintf("%d lines, %s, each value of [0, %d) once unless %s, categories right", lines, order, gen, unless)
}
