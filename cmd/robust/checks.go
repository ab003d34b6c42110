package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

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
)

// listMax bounds the values a failed check lists.
const listMax = 5

// letters is what the dead-letter store holds, by the channel a letter was
// taken from.
type letters struct {
	values   []uint64 // from the values channel, quarantined by the worker
	messages []robust.Message
	all      []uint64 // every dead-lettered value, sorted
	foreign  int      // letters of an unexpected type
}

func (p *pipeline) letters() letters {
	var l letters
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
	gen := p.generator.State.Value().Next
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
		p.counters(gen, l),
		p.drained(),
		shutdown(runErr, p.g.ShutdownReason()),
	}
	if p.cfg.out != "" {
		c := check{Name: checkOutFile}
		if outErr != nil {
			c.Detail = outErr.Error()
		} else {
			c.Pass, c.Detail = verifyOut(p.cfg.out, gen, ls.Logged, ls.FileLen, l.all)
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
	// Missing and dead-lettered must be the same set of values.
	var unaccounted []string
	var nMissing uint64
	for _, g := range missing {
		nMissing += g.To - g.From
		for v := g.From; v < g.To && len(unaccounted) < listMax; v++ {
			if _, found := slices.BinarySearch(l.all, v); !found {
				unaccounted = append(unaccounted, strconv.FormatUint(v, 10))
			}
		}
	}
	if len(unaccounted) > 0 {
		problems = append(problems, "lost (neither logged nor dead-lettered): "+strings.Join(unaccounted, ", "))
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
	if len(problems) == 0 && nMissing != uint64(len(l.all)) {
		problems = append(problems, fmt.Sprintf("%d values missing but %d dead-lettered", nMissing, len(l.all)))
	}
	if len(problems) == 0 && ls.Logged+uint64(len(l.all)) != gen {
		problems = append(problems, fmt.Sprintf("%d logged + %d dead-lettered ≠ %d generated", ls.Logged, len(l.all), gen))
	}
	if len(problems) > 0 {
		c.Detail = strings.Join(problems, "; ")
		return c
	}
	c.Pass = true
	c.Detail = fmt.Sprintf("every value in [0, %d) was logged once (%d) or dead-lettered (%d)", gen, ls.Logged, len(l.all))
	return c
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
func (p *pipeline) counters(gen uint64, l letters) check {
	c := check{Name: checkCounters}
	beats := p.heartbeat.State.Value().Beats
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
	if gen != ws.Processed+uint64(len(l.values)) {
		problems = append(problems, fmt.Sprintf("generator sent %d values, worker processed %d and quarantined %d", gen, ws.Processed, len(l.values)))
	}
	if ws.Processed != ls.Logged+uint64(len(l.messages)) {
		problems = append(problems, fmt.Sprintf("worker sent %d messages, logger logged %d and quarantined %d", ws.Processed, ls.Logged, len(l.messages)))
	}
	if lostCounts != ls.Counts {
		problems = append(problems, fmt.Sprintf("worker counted %s, logger %s", formatCounts(ws.Counts), formatCounts(ls.Counts)))
	}
	if len(problems) > 0 {
		c.Detail = strings.Join(problems, "; ")
		return c
	}
	c.Pass = true
	c.Detail = fmt.Sprintf("beats %d sent = %d taken; values %d generated = %d processed + %d dead-lettered; messages %d sent = %d logged + %d dead-lettered; category counts equal",
		beats, ws.Beats, gen, ws.Processed, len(l.values), ws.Processed, ls.Logged, len(l.messages))
	return c
}

func (p *pipeline) drained() check {
	c := check{Name: checkDrained}
	b, v, m := p.beats.Len(), p.values.Len(), p.messages.Len()
	c.Pass = b == 0 && v == 0 && m == 0
	c.Detail = fmt.Sprintf("messages left: beats %d, values %d, messages %d", b, v, m)
	return c
}

func shutdown(runErr error, reason string) check {
	c := check{Name: checkShutdown}
	if runErr != nil {
		c.Detail = runErr.Error()
		return c
	}
	c.Pass = true
	c.Detail = "every actor finished its work and stopped; reason: " + reason
	return c
}

// verifyOut reads the output file on its own: one line per logged message,
// values in increasing order, each with its category, every value of
// [0, gen) there or dead-lettered (dead is sorted), and nothing else.
func verifyOut(path string, gen, logged uint64, fileLen int64, dead []uint64) (bool, string) {
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
	var lines, next uint64
	d := 0 // dead letters passed
	for sc.Scan() {
		lines++
		vs, cs, ok := bytes.Cut(sc.Bytes(), []byte{'\t'})
		v, err := strconv.ParseUint(string(vs), 10, 64)
		cat, catOK := robust.ParseCategory(string(cs))
		switch {
		case !ok || err != nil || !catOK:
			return false, fmt.Sprintf("line %d: %.60q is not \"value<TAB>category\"", lines, sc.Text())
		case v < next:
			return false, fmt.Sprintf("line %d: value %d after %d (repeated or out of order)", lines, v, next-1)
		case cat != robust.Categorize(v):
			return false, fmt.Sprintf("line %d: value %d has category %s, want %s", lines, v, cat, robust.Categorize(v))
		}
		for ; next < v; next++ {
			if d >= len(dead) || dead[d] != next {
				return false, fmt.Sprintf("line %d: value %d is missing and was not dead-lettered", lines, next)
			}
			d++
		}
		if d < len(dead) && dead[d] == v {
			return false, fmt.Sprintf("line %d: value %d was dead-lettered and logged too", lines, v)
		}
		next = v + 1
	}
	if err := sc.Err(); err != nil {
		return false, err.Error()
	}
	for ; next < gen; next++ {
		if d >= len(dead) || dead[d] != next {
			return false, fmt.Sprintf("value %d, after the last line, is missing and was not dead-lettered", next)
		}
		d++
	}
	switch {
	case next > gen:
		return false, fmt.Sprintf("values up to %d, beyond the %d generated", next-1, gen)
	case lines != logged:
		return false, fmt.Sprintf("%d lines for %d messages logged", lines, logged)
	}
	return true, fmt.Sprintf("%d lines, in order, each value of [0, %d) once unless dead-lettered (%d), categories right", lines, gen, len(dead))
}
