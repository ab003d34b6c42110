package steady

import (
	"time"

	"github.com/steady-go/steady/observe"
)

// recoveryWindow bounds the recovery samples kept per actor: 4096 samples
// (32 KiB) give a stable p99 and keep a crash loop's memory flat.
const recoveryWindow = 4096

// recoveryBounds are the bounds of the recovery-time histogram's buckets,
// as observe.RecoveryBounds states them; recoveryBuckets is its layout.
var recoveryBounds = observe.RecoveryBounds()

type recoveryBuckets = [len(observe.Figures{}.RecoveryBuckets)]int64

// recoverySamples keeps the latest recovery times in a ring and the maximum
// of all of them.
type recoverySamples struct {
	ring    []time.Duration
	next    int
	count   int64
	max     time.Duration
	total   time.Duration
	buckets recoveryBuckets // cumulative
}

func (r *recoverySamples) add(d time.Duration) {
	if len(r.ring) < recoveryWindow {
		r.ring = append(r.ring, d)
	} else {
		r.ring[r.next] = d
		r.next = (r.next + 1) % recoveryWindow
	}
	r.count++
	r.max = max(r.max, d)
	r.total += d
	for i, b := range recoveryBounds {
		if d <= b {
			r.buckets[i]++
		}
	}
}

// percentile returns the q-quantile (0 < q ≤ 1) of the kept samples by the
// nearest-rank method.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Stats returns a snapshot of the actor's measurements. It may be called
// from any goroutine, while the graph runs or after.
func (a *Actor) Stats() observe.ActorStats {
	st := &a.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	run := a.thisRun(time.Now())
	all := a.whole(&run)
	return observe.ActorStats{
		Name:        a.name,
		Status:      a.Status(),
		Commits:     st.commits.Load(),
		Figures:     run.figures(),
		LastError:   st.lastErr,
		LastErrorAt: st.lastErrAt,
		History:     observe.ActorHistory{Figures: all.figures(), Lifetime: all.life},
	}
}

// failed records a failure at now.
func (a *Actor) failed(err error, panicked bool, now time.Time) {
	st := &a.stats
	st.commits.Store(a.commits)
	if panicked {
		st.panics.Add(1)
	} else {
		st.errors.Add(1)
	}
	st.mu.Lock()
	if st.downSince.IsZero() {
		st.downSince = now
		a.g.avail.lose()
	}
	if !a.recovering {
		st.failedAt = now
	}
	st.lastErr, st.lastErrAt = err, now
	st.mu.Unlock()
	a.recovering = true
	a.historyChanged()
}

// up records that the actor runs again.
func (a *Actor) up(time.Time) {
	st := &a.stats
	st.mu.Lock()
	now := time.Now() // under the lock, so a concurrent Stats never sees downtime shrink
	if !st.downSince.IsZero() {
		st.down += now.Sub(st.downSince)
		st.downSince = time.Time{}
		a.g.avail.regain()
	}
	st.mu.Unlock()
	a.historyChanged()
}

// recovered records the first committed step after a failure.
func (a *Actor) recovered() {
	now := time.Now()
	st := &a.stats
	st.mu.Lock()
	st.recoveries.add(now.Sub(st.failedAt))
	st.mu.Unlock()
	a.recovering = false
	a.historyChanged()
}
