package steady

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/store"
)

// An actor's history is its failure figures over every run of its graph's
// store: what earlier runs committed (Actor.earlier, read by Load) plus
// what this run measured. The committer writes it as one record per actor,
// with the batches it commits anyway, whenever the actor's figures changed
// (docs/durability.md, "Each actor's history", has when and what a kill
// loses).

// historySamples bounds the recovery times an actor's history record
// keeps. The record is written whole at every commit after a failure, so it
// keeps fewer than the in-memory window (recoveryWindow): 1024 times, at
// most about 5 KiB, still leave ten above the p99.
const historySamples = 1024

// historyRefresh is how often Run marks every actor's history changed, so
// that the next commit carries their lifetimes: a killed process loses at
// most this much of each actor's running time beyond its last commit.
const historyRefresh = time.Second

// historyFormat is the first byte of an encoded history record: the
// version of the layout encode writes.
const historyFormat = 1

// history is an ActorHistory's raw figures, as a record keeps them.
type history struct {
	panics, errors, restarts, deadLetters int64
	life, down                            time.Duration
	recoveries                            int64
	recTotal, recMax                      time.Duration
	buckets                               recoveryBuckets
	samples                               []time.Duration // oldest first
}

// add sums o's counts into h and appends o's samples after h's.
func (h *history) add(o *history) {
	h.panics += o.panics
	h.errors += o.errors
	h.restarts += o.restarts
	h.deadLetters += o.deadLetters
	h.life += o.life
	h.down += o.down
	h.recoveries += o.recoveries
	h.recTotal += o.recTotal
	h.recMax = max(h.recMax, o.recMax)
	for i := range h.buckets {
		h.buckets[i] += o.buckets[i]
	}
	h.samples = append(h.samples, o.samples...)
}

// figures are h's counts as observe reports them, with the percentiles of
// its samples.
func (h *history) figures() observe.Figures {
	out := observe.Figures{
		Panics: h.panics, Errors: h.errors, Restarts: h.restarts, DeadLetters: h.deadLetters,
		Downtime: h.down, Availability: 1,
		Recoveries: h.recoveries, RecoveryMax: h.recMax, RecoveryTotal: h.recTotal, RecoveryBuckets: h.buckets,
	}
	if h.life > 0 {
		out.Availability = max(0, 1-float64(h.down)/float64(h.life))
	}
	sorted := slices.Clone(h.samples)
	slices.Sort(sorted)
	out.RecoveryP50 = percentile(sorted, 0.50)
	out.RecoveryP99 = percentile(sorted, 0.99)
	return out
}

// encode appends h's record: historyFormat, the counts and durations (in
// nanoseconds) as uvarints, the bucket count and the buckets, the sample
// count and the latest historySamples samples.
func (h *history) encode(dst []byte) []byte {
	dst = append(dst, historyFormat)
	for _, n := range [...]int64{h.panics, h.errors, h.restarts, h.deadLetters, int64(h.life), int64(h.down),
		h.recoveries, int64(h.recTotal), int64(h.recMax)} {
		dst = binary.AppendUvarint(dst, uint64(max(n, 0)))
	}
	dst = binary.AppendUvarint(dst, uint64(len(h.buckets)))
	for _, n := range h.buckets {
		dst = binary.AppendUvarint(dst, uint64(n))
	}
	samples := h.samples[max(0, len(h.samples)-historySamples):]
	dst = binary.AppendUvarint(dst, uint64(len(samples)))
	for _, d := range samples {
		dst = binary.AppendUvarint(dst, uint64(max(d, 0)))
	}
	return dst
}

// errHistory is why a history record does not decode.
var errHistory = errors.New("not a history record of this build")

// decodeHistory decodes what encode wrote.
func decodeHistory(b []byte) (history, error) {
	var h history
	if len(b) == 0 || b[0] != historyFormat {
		return h, errHistory
	}
	b = b[1:]
	bad := false
	next := func() int64 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > 1<<63-1 {
			bad = true
			return 0
		}
		b = b[k:]
		return int64(n)
	}
	h.panics, h.errors, h.restarts, h.deadLetters = next(), next(), next(), next()
	h.life, h.down = time.Duration(next()), time.Duration(next())
	h.recoveries, h.recTotal, h.recMax = next(), time.Duration(next()), time.Duration(next())
	if next() != int64(len(h.buckets)) {
		return history{}, fmt.Errorf("%w: its recovery histogram has other buckets", errHistory)
	}
	for i := range h.buckets {
		h.buckets[i] = next()
	}
	n := next()
	if bad || n > historySamples {
		return history{}, errHistory
	}
	h.samples = make([]time.Duration, n)
	for i := range h.samples {
		h.samples[i] = time.Duration(next())
	}
	if bad || len(b) != 0 {
		return history{}, errHistory
	}
	return h, nil
}

// thisRun is what this run measured, as a history, from the actor's stats
// at now. st.mu is held.
func (a *Actor) thisRun(now time.Time) history {
	st := &a.stats
	end := now
	if !st.stopped.IsZero() {
		end = st.stopped
	}
	h := history{
		panics: st.panics.Load(), errors: st.errors.Load(), restarts: a.restarts.Load(),
		deadLetters: st.deadLetters.Load(), down: st.down,
		recoveries: st.recoveries.count, recTotal: st.recoveries.total, recMax: st.recoveries.max,
		buckets: st.recoveries.buckets, samples: st.recoveries.ordered(),
	}
	if !st.downSince.IsZero() {
		h.down += end.Sub(st.downSince)
	}
	if !st.started.IsZero() {
		h.life = end.Sub(st.started)
	}
	return h
}

// whole is the actor's history with run, this run's: the earlier runs'
// and this one's. st.mu is held.
func (a *Actor) whole(run *history) history {
	h := a.earlier
	h.samples = slices.Clone(h.samples)
	h.add(run)
	return h
}

// ordered returns the kept samples, oldest first.
func (r *recoverySamples) ordered() []time.Duration {
	out := make([]time.Duration, 0, len(r.ring))
	return append(append(out, r.ring[r.next:]...), r.ring[:r.next]...)
}

// historyChanged marks the actor's history for the next commit.
func (a *Actor) historyChanged() {
	if a.g.committer != nil {
		a.histDirty.Store(true)
	}
}

// commitHistory marks the actor's history changed and asks the committer
// for a commit, so that a failure becomes durable even if no step commits
// after it.
func (a *Actor) commitHistory() {
	if a.committer == nil {
		return
	}
	a.histDirty.Store(true)
	a.committer.commitHistories()
}

// commitHistories has the committer commit the histories that changed,
// with the records pending or alone. Once it is stopping it commits
// nothing more.
func (d *committer) commitHistories() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopping || d.stopped || d.err != nil {
		return
	}
	d.histories = true
	d.work.Signal()
}

// addHistories puts the record of every actor whose history changed into
// b. The committer calls it for each batch, before the commit.
func (g *Graph) addHistories(b *store.Batch) {
	now := time.Now()
	for _, a := range g.actors {
		if !a.histDirty.Swap(false) {
			continue
		}
		a.stats.mu.Lock()
		run := a.thisRun(now)
		h := a.whole(&run)
		a.stats.mu.Unlock()
		b.Actors[a.name] = h.encode(nil)
	}
}

// refreshHistories marks every actor's history changed, at most once per
// historyRefresh, so that the next commit carries their lifetimes. Run's
// goroutine calls it at every sample.
func (g *Graph) refreshHistories(now time.Time) {
	if g.committer == nil || now.Sub(g.historyAt) < historyRefresh {
		return
	}
	g.historyAt = now
	for _, a := range g.actors {
		a.histDirty.Store(true)
	}
}

// finalHistories has the committer write every actor's history once
// more, as Run ends: their lifetimes up to their stops.
func (g *Graph) finalHistories() {
	for _, a := range g.actors {
		a.histDirty.Store(true)
	}
	g.committer.commitHistories()
}

// restoreHistories installs the histories of img, by actor.
func (g *Graph) restoreHistories(img *store.Image, where string) error {
	for name, b := range img.Actors {
		a := g.actorByID[name]
		if a == nil {
			return fmt.Errorf("%s holds the history of actor %q, which the graph does not have", where, name)
		}
		h, err := decodeHistory(b)
		if err != nil {
			return fmt.Errorf("the history of actor %q in %s: %w", name, where, err)
		}
		a.stats.mu.Lock() // Stats may be called meanwhile
		a.earlier = h
		a.stats.mu.Unlock()
	}
	return nil
}
