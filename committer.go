package steady

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/store"
)

// A durable graph (one with a Config.Store) works as the in-memory graph
// does, with one change at the commit point and one at Run's start:
//
//   - A committing step encodes its effects into a record (the states it
//     changed, the messages it sent, how far it consumed each input) before
//     any of them take effect; an encoding error fails the step. Its
//     effects then take effect in memory as usual, except that the messages
//     it sent are not yet published: the producer's own tail moves, the
//     channel's published tail does not.
//   - The committer goroutine gathers the records of every actor into one
//     store.Batch, writes it with one Store.Commit (one transaction, one
//     fsync), and only then publishes the tails and closes the batch
//     carried. So a step's outputs reach the next actor only once they are
//     durable, no step ever consumed a message that a crash could take
//     back, and any prefix of the batches is a consistent cut of the graph.
//   - Run loads the store before starting any actor: states get their last
//     durable value, channels their unconsumed messages and attempt counts,
//     the dead-letter store its letters.
//
// docs/durability.md has the argument in full and the knobs' figures.

// committer makes the steps of a graph with a store durable: its goroutine
// (run) gathers the records of every actor into one batch, commits it to
// the store, and only then publishes what the batch carried.
type committer struct {
	g  *Graph
	st store.Store

	mu        sync.Mutex
	work      sync.Cond // the committer waits on it for records
	done      sync.Cond // flush waits on it for durability
	pending   *store.Batch
	pubs      []publication
	after     []func()  // OnDurable functions of the pending records
	inPending int       // records in pending
	firstAt   time.Time // when the oldest of them was submitted
	submitted uint64    // records submitted
	durableN  uint64    // records durable and published
	err       error     // the commit that failed; nothing commits after it
	started   bool      // the committer goroutine was started
	stopping  bool
	stopped   bool
	histories bool // commit the actors' histories, even with no record (history.go)

	spare   *store.Batch
	spares  []publication
	spareFn []func()
	exited  chan struct{}  // closed when the committer returns
	latency durableLatency // guarded by mu
}

// publication is what a committed batch makes visible: a channel's new tail
// to its consumer (and its close), or its new head to its producer. Heads
// wait for durability too: a producer reuses a slot only once the message
// in it is durably consumed, so a store never holds more unconsumed
// messages than the channel's capacity.
type publication struct {
	c     *chanCore
	tail  uint64 // if not zero, the new tail
	head  uint64 // if not zero, the new head
	close bool
}

// record is one step's effects in encoded form, built on the actor's
// goroutine and merged into the pending batch by submit.
type record struct {
	states   []stateWrite
	appends  []store.Append
	heads    []headWrite
	attempts []headWrite
	addDL    []store.DeadLetter
	removeDL []uint64
	replayDL []uint64 // Graph.Replay's
	purgeDL  []uint64 // Graph.Purge's
	lastDL   uint64
	pubs     []publication
	after    []func() // Step.OnDurable's functions
}

type stateWrite struct {
	name string
	data []byte
}

type headWrite struct {
	name string
	n    uint64
}

func (r *record) reset() {
	clear(r.states)
	r.states = r.states[:0]
	clear(r.appends)
	r.appends = r.appends[:0]
	r.heads = r.heads[:0]
	r.attempts = r.attempts[:0]
	clear(r.addDL)
	r.addDL = r.addDL[:0]
	r.removeDL = r.removeDL[:0]
	r.replayDL = r.replayDL[:0]
	r.purgeDL = r.purgeDL[:0]
	r.lastDL = 0
	clear(r.pubs)
	r.pubs = r.pubs[:0]
	clear(r.after)
	r.after = r.after[:0]
}

func newBatch() *store.Batch {
	return &store.Batch{States: map[string][]byte{}, Heads: map[string]uint64{}, Attempts: map[string]int{}, Actors: map[string][]byte{}}
}

func newCommitter(g *Graph, st store.Store) *committer {
	d := &committer{g: g, st: st, pending: newBatch(), spare: newBatch(), exited: make(chan struct{})}
	d.work.L, d.done.L = &d.mu, &d.mu
	return d
}

// start starts the committer goroutine; stop ends it.
func (d *committer) start() {
	d.mu.Lock()
	d.started = true
	d.mu.Unlock()
	go d.run()
}

// stop commits the records submitted so far, drops any submitted later (by
// an actor still running past the shutdown timeout), and waits for the
// committer to return: without limit if limit is 0, otherwise for at most
// limit. It reports whether the committer returned; if not, a Commit is
// hung (a stalled disk, say) and its goroutine is left behind.
func (d *committer) stop(limit time.Duration) bool {
	d.mu.Lock()
	d.stopping = true
	d.work.Signal()
	d.mu.Unlock()
	if limit <= 0 {
		<-d.exited
		return true
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-d.exited:
		return true
	case <-t.C:
		return false
	}
}

// interrupt ends the flushes in progress: the graph has stopped for good.
func (d *committer) interrupt() {
	d.mu.Lock()
	d.done.Broadcast()
	d.mu.Unlock()
}

// submit hands r to the committer and empties it. Once the committer is
// stopping, has stopped or has failed, the record is dropped: nothing more
// becomes durable.
func (d *committer) submit(r *record) {
	d.mu.Lock()
	if d.stopping || d.stopped || d.err != nil {
		d.mu.Unlock()
		r.reset()
		return
	}
	d.merge(r)
	d.mu.Unlock()
	r.reset()
}

// merge adds r to the pending batch and signals the committer. d.mu is
// held.
func (d *committer) merge(r *record) {
	mergeRecord(d.pending, r)
	d.pubs = append(d.pubs, r.pubs...)
	d.after = append(d.after, r.after...)
	if d.inPending == 0 {
		d.firstAt = time.Now()
	}
	d.inPending++
	d.submitted++
	d.work.Signal()
}

// mergeRecord adds the effects of r to b.
func mergeRecord(b *store.Batch, r *record) {
	for _, s := range r.states {
		b.States[s.name] = s.data
	}
	b.Appends = append(b.Appends, r.appends...)
	for _, h := range r.heads {
		b.Heads[h.name] = h.n
	}
	for _, h := range r.attempts {
		b.Attempts[h.name] = int(h.n)
	}
	b.AddDeadLetters = append(b.AddDeadLetters, r.addDL...)
	b.RemoveDeadLetters = append(b.RemoveDeadLetters, r.removeDL...)
	b.ReplayDeadLetters = append(b.ReplayDeadLetters, r.replayDL...)
	b.PurgeDeadLetters = append(b.PurgeDeadLetters, r.purgeDL...)
	b.LastDeadLetterID = max(b.LastDeadLetterID, r.lastDL)
}

// apply makes r durable before it returns, for a change that is not a
// step's (a replay, a purge): through the committer while it runs, or by
// a Commit of its own when it does not, after Load and before Run, or
// after Run. It returns why r is not durable, if it is not.
func (d *committer) apply(r *record) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.err != nil:
		return d.err
	case !d.started || d.stopped:
		// No committer: this is the only writer (Run, which would
		// start one, waits for d.mu).
		b := newBatch()
		mergeRecord(b, r)
		if err := d.st.Commit(b); err != nil {
			return fmt.Errorf("commit to %s: %w", d.st, err)
		}
		return nil
	case d.stopping:
		return errors.New("the graph is stopping and commits nothing more; try again once Run has returned")
	}
	d.merge(r)
	n := d.submitted
	for d.durableN < n && d.err == nil && !d.stopped && !d.g.hardStopped.Load() {
		d.done.Wait()
	}
	switch {
	case d.durableN >= n:
		return nil
	case d.err != nil:
		return d.err
	}
	return errors.New("the graph stopped before the change was durable")
}

// flush waits until every record submitted so far is durable and
// published, or the graph has stopped for good (the shutdown timeout: a
// hung commit must not hold the actors past it).
func (d *committer) flush() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.submitted
	for d.durableN < n && d.err == nil && !d.stopped && !d.g.hardStopped.Load() {
		d.done.Wait()
	}
	return d.err
}

// run is the committer: it writes the pending records as one batch, then
// publishes what they sent, until stop.
func (d *committer) run() {
	defer close(d.exited)
	linger := d.g.cfg.CommitLinger
	d.mu.Lock()
	for {
		for d.submitted == d.durableN && !d.stopping && !d.histories {
			d.work.Wait()
		}
		if d.submitted == d.durableN && !d.histories {
			break // stopping, and everything is durable
		}
		d.histories = false
		if linger > 0 && !d.stopping {
			// Let more steps join the batch, trading latency for fewer
			// commits.
			d.mu.Unlock()
			time.Sleep(linger)
			d.mu.Lock()
		}
		b, pubs, after, n, first, records := d.pending, d.pubs, d.after, d.submitted, d.firstAt, d.inPending
		d.pending, d.pubs, d.after, d.inPending = d.spare, d.spares[:0], d.spareFn[:0], 0
		d.mu.Unlock()

		d.g.addHistories(b)
		start := time.Now()
		err := callStore("Commit", func() error { return d.st.Commit(b) })
		end := time.Now()
		if err == nil {
			for _, p := range pubs {
				p.c.publish(p)
			}
			d.g.runOnDurable(after)
		}
		b.Reset()
		clear(pubs)
		clear(after)

		d.mu.Lock()
		d.spare, d.spares, d.spareFn = b, pubs, after
		if err != nil {
			d.err = fmt.Errorf("steady: commit to %s: %w", d.st, err)
			d.done.Broadcast()
			d.mu.Unlock()
			d.g.storeFailed(d.err)
			d.mu.Lock()
			break
		}
		d.durableN = n
		if records > 0 {
			d.latency.add(end.Sub(start), end.Sub(first))
		} else {
			d.latency.batches++ // histories alone: no step waited
		}
		d.done.Broadcast()
	}
	d.stopped = true
	d.done.Broadcast()
	d.mu.Unlock()
}

// callStore runs fn, a call into the store named op, and returns a panic
// in it as a *PanicError with Op set. It recovers, like the actor runner,
// because a store is code the graph calls but does not own (a user's
// Store, or bbolt inside the default one, which panics on pages it finds
// damaged), and a panic on the
// committer goroutine, which nothing above recovers, would end the
// process with every actor's work. As an error, it stops the graph in
// order like any failed commit, and Run returns it.
func callStore(op string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = newStorePanic(op, r)
		}
	}()
	return fn()
}

// publish applies p to its channel. The committer calls it once p's
// record is durable.
func (c *chanCore) publish(p publication) {
	if p.head > c.head.Load() {
		c.head.Store(p.head)
		if c.producerWaiting.Load() {
			c.producer.wake()
		}
		if c.closed.Load() {
			// The consumer may have just taken the last message: its
			// Running turns false only now, and a Sleep or WaitVacant
			// parked on it must look again.
			c.consumer.wake()
		}
	}
	if p.tail > c.tail.Load() {
		c.tail.Store(p.tail)
	}
	if p.close {
		c.close()
	} else if p.tail != 0 && c.consumerWaiting.Load() {
		c.consumer.wake()
	}
}

// storeFailed stops the graph after a failed commit: nothing can become
// durable any more, so nothing may be published, and an orderly drain
// would wait for messages that never come.
func (g *Graph) storeFailed(err error) {
	g.errMu.Lock()
	g.runErrs = append(g.runErrs, err)
	g.errMu.Unlock()
	g.Shutdown(err.Error())
	g.hardStop()
	for _, a := range g.actors {
		a.wake()
	}
}

// latencyWindow is how many recent commits the latency percentiles cover.
const latencyWindow = 4096

// durableLatency keeps the recent commit latencies.
type durableLatency struct {
	batches      int64
	commit, wait []time.Duration // ring buffers of latencyWindow
	next         int
}

func (l *durableLatency) add(commit, wait time.Duration) {
	if l.commit == nil {
		l.commit = make([]time.Duration, 0, latencyWindow)
		l.wait = make([]time.Duration, 0, latencyWindow)
	}
	l.batches++
	if len(l.commit) < latencyWindow {
		l.commit, l.wait = append(l.commit, commit), append(l.wait, wait)
		return
	}
	l.commit[l.next], l.wait[l.next] = commit, wait
	l.next = (l.next + 1) % latencyWindow
}

// durableStats reports the committer's figures; it is zero for a graph
// without a store.
func (g *Graph) durableStats() observe.DurableStats {
	d := g.committer
	if d == nil {
		return observe.DurableStats{}
	}
	d.mu.Lock()
	s := observe.DurableStats{Batches: d.latency.batches, Steps: int64(d.durableN), Err: d.err}
	commit, wait := slices.Clone(d.latency.commit), slices.Clone(d.latency.wait)
	d.mu.Unlock() // sort outside: every committing step takes d.mu
	s.CommitP50, s.CommitP99 = p50p99(commit)
	s.DurableP50, s.DurableP99 = p50p99(wait)
	return s
}

// p50p99 sorts xs and returns its median and 99th percentile.
func p50p99(xs []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(xs)
	return percentile(xs, 0.50), percentile(xs, 0.99)
}
