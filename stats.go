package steady

import (
	"math"
	"slices"
	"time"
)

// ActorStats is a snapshot of what the supervisor measured for one actor.
type ActorStats struct {
	Name        string      // the actor's name
	Status      ActorStatus // what it is doing now
	Panics      int64       // panics recovered
	Errors      int64       // errors returned
	Restarts    int64       // restarts
	Commits     int64       // committed steps; while the actor runs, up to 63 behind
	DeadLetters int64       // messages this actor quarantined

	// Downtime is the time spent between a failure and the next run;
	// Availability is the share of the actor's lifetime it was not down.
	Downtime     time.Duration
	Availability float64

	// Recovery times, from a failure to the next committed step: how many
	// were measured, and their percentiles over the last
	// recoveryWindow measurements.
	Recoveries  int64
	RecoveryP50 time.Duration
	RecoveryP99 time.Duration
	RecoveryMax time.Duration
	// RecoveryTotal is the sum of every recovery time measured, and
	// RecoveryBuckets[i] how many were at most RecoveryBounds()[i] (the
	// last bucket counts all), for a Prometheus histogram.
	RecoveryTotal   time.Duration
	RecoveryBuckets [len(recoveryBounds)]int64

	LastError   error     // the latest failure, nil if none; once the actor gave up, its *GaveUpError
	LastErrorAt time.Time // when it happened

	// History is the actor's figures over every run of the graph's
	// store, this one included; the fields above are this run's.
	History ActorHistory
}

// RecoveryBounds returns the upper bounds of the recovery-time histogram's
// buckets ([ActorStats].RecoveryBuckets): from a restart without backoff
// (microseconds) to a long backoff (tens of seconds), one bucket per factor
// of about three. The last bound is infinite.
func RecoveryBounds() []time.Duration { return slices.Clone(recoveryBounds[:]) }

// recoveryBounds are the bounds, which RecoveryBounds returns a copy of.
var recoveryBounds = [...]time.Duration{
	10 * time.Microsecond, 30 * time.Microsecond, 100 * time.Microsecond, 300 * time.Microsecond,
	time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond,
	100 * time.Millisecond, 300 * time.Millisecond, time.Second, 3 * time.Second,
	10 * time.Second, 30 * time.Second, time.Duration(math.MaxInt64),
}

// recoveryWindow bounds the recovery samples kept per actor: 4096 samples
// (32 KiB) give a stable p99 and keep a crash loop's memory flat.
const recoveryWindow = 4096

// recoverySamples keeps the latest recovery times in a ring and the maximum
// of all of them.
type recoverySamples struct {
	ring    []time.Duration
	next    int
	count   int64
	max     time.Duration
	total   time.Duration
	buckets [len(recoveryBounds)]int64 // cumulative
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
func (a *Actor) Stats() ActorStats {
	st := &a.stats
	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now()
	end := now
	if !st.stopped.IsZero() {
		end = st.stopped
	}
	down := st.down
	if !st.downSince.IsZero() {
		down += end.Sub(st.downSince)
	}
	out := ActorStats{
		Name:            a.name,
		Status:          a.Status(),
		Panics:          st.panics.Load(),
		Errors:          st.errors.Load(),
		Restarts:        a.restarts.Load(),
		Commits:         st.commits.Load(),
		DeadLetters:     st.deadLetters.Load(),
		Downtime:        down,
		Recoveries:      st.recoveries.count,
		RecoveryMax:     st.recoveries.max,
		RecoveryTotal:   st.recoveries.total,
		RecoveryBuckets: st.recoveries.buckets,
		LastError:       st.lastErr,
		LastErrorAt:     st.lastErrAt,
	}
	out.Availability = 1
	if life := end.Sub(st.started); !st.started.IsZero() && life > 0 {
		out.Availability = max(0, 1-float64(down)/float64(life))
	}
	sorted := slices.Clone(st.recoveries.ring)
	slices.Sort(sorted)
	out.RecoveryP50 = percentile(sorted, 0.50)
	out.RecoveryP99 = percentile(sorted, 0.99)
	h := a.whole(now)
	out.History = h.public()
	return out
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
