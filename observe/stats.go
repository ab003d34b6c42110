package observe

import (
	"math"
	"slices"
	"time"
)

// Snapshot is the state of the whole graph as plain values.
type Snapshot struct {
	Time           time.Time      // when the snapshot was taken
	Started        time.Time      // when Run started; zero before
	Status         GraphStatus    // the graph as a whole
	ShutdownReason string         // why it is shutting down, if it is
	Actors         []ActorStats   // every actor, in the order they were added
	Channels       []ChannelStats // every channel, in the order they were added
	DeadLetters    []DeadLetter   // the dead letters in the store, oldest first
	// DeadLettersPurged counts the letters steady.Graph.Purge deleted, ever:
	// with a steady.Config.Store, by every run on it.
	DeadLettersPurged int64
	MaxDeadLetters    int           // the store's limit, steady.Config.MaxDeadLetters
	FailureClusters   int64         // cluster alerts raised
	ChannelAlerts     int64         // backed-up channel alerts raised
	Durable           *DurableStats // the committer's figures; nil without a steady.Config.Store

	// Availability is the share of Run's time (so far, or in all) during
	// which every actor could work, and Downtime the time it could not:
	// an actor was down or had given up, or the sources were held for
	// memory. 1 and 0 before Run.
	Availability float64
	Downtime     time.Duration
	Memory       MemoryStats // the memory watch (see steady.Config.MemoryLimit)
}

// ActorStats is a snapshot of what the supervisor measured for one actor.
type ActorStats struct {
	Name    string      // the actor's name
	Status  ActorStatus // what it is doing now
	Commits int64       // committed steps; while the actor runs, up to 63 behind

	Figures // this run's

	LastError   error     // the latest failure, nil if none; once the actor gave up, its *steady.GaveUpError
	LastErrorAt time.Time // when it happened

	// History is the actor's figures over every run of the graph's
	// store, this one included.
	History ActorHistory
}

// Figures are what the supervisor counts of an actor's failures and
// recoveries, over one run ([ActorStats]) or every run ([ActorHistory]).
type Figures struct {
	Panics      int64 // panics recovered
	Errors      int64 // errors returned
	Restarts    int64 // restarts
	DeadLetters int64 // messages the actor quarantined

	// Downtime is the time spent between a failure and the next run;
	// Availability is the share of the actor's lifetime it was not down.
	Downtime     time.Duration
	Availability float64

	// Recovery times, from a failure to the next committed step: how many
	// were measured, and their percentiles over the latest few thousand.
	Recoveries  int64
	RecoveryP50 time.Duration
	RecoveryP99 time.Duration
	RecoveryMax time.Duration
	// RecoveryTotal is the sum of every recovery time measured, and
	// RecoveryBuckets[i] how many were at most RecoveryBounds()[i] (the
	// last bucket counts all), for a Prometheus histogram.
	RecoveryTotal   time.Duration
	RecoveryBuckets [len(recoveryBounds)]int64
}

// RecoveryBounds returns the upper bounds of the recovery-time histogram's
// buckets ([Figures].RecoveryBuckets): from a restart without backoff
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

// ActorHistory is an actor's figures over every run of its graph's
// steady.Config.Store, this one included: the figures of [ActorStats] that
// earlier runs committed, added to this run's. Without a store, or on a
// store no earlier run wrote to, it equals this run's figures.
type ActorHistory struct {
	// Figures are summed over the runs; Availability is the share of
	// Lifetime the actor was not down, and the recovery percentiles are
	// over this run's kept samples and the latest thousand or so of the
	// earlier runs'.
	Figures
	Lifetime time.Duration // the time the actor was started for, summed over the runs
}

// ChannelStats is a snapshot of one channel.
type ChannelStats struct {
	Name     string  // the channel's name
	Type     string  // the message type, as %T prints it
	Producer string  // the producing actor's name
	Consumer string  // the consuming actor's name
	Capacity int     // the most messages it holds
	Len      int     // messages in it now (see steady.Channel.Len)
	Fill     float64 // Len / Capacity
	FillAvg  float64 // Fill smoothed over about ten seconds
	Sent     uint64  // messages published, ever
	Taken    uint64  // messages consumed, ever (see steady.Channel.Len)
	Rate     float64 // messages sent per second, smoothed over about two seconds
	Closed   bool    // the producer closed it
	BackedUp bool    // Fill has been above the alert threshold for the alert duration
}

// MemoryStats is what the graph's memory watch saw.
type MemoryStats struct {
	// Limit is the heap size watched, in bytes: steady.Config.MemoryLimit, or
	// the Go runtime's memory limit. Zero when the graph does not watch
	// memory (no limit anywhere, or a negative MemoryLimit).
	Limit uint64
	High  uint64 // the high-water mark, in bytes: MemoryHigh of Limit
	Low   uint64 // the low-water mark, in bytes: MemoryLow of Limit
	Heap  uint64 // the live heap (as of the last collection) at the last sample
	Peak  uint64 // the largest Heap sampled

	Pressure bool      // the sources are held now
	Since    time.Time // when the current hold began; zero without one
	Episodes int64     // times the heap crossed the high-water mark
	// Degraded is the time spent with the sources held, the current
	// hold included (up to now, or to Run's end).
	Degraded time.Duration
}

// DurableStats is what the committer of a durable graph measured.
type DurableStats struct {
	Batches int64 // batches committed
	Steps   int64 // records committed: steps, quarantines and attempt counts
	// Commit is the time store.Store.Commit took (write and fsync), over the
	// last few thousand batches; Durable is the time from a batch's oldest
	// step to its publication, the latency a step's outputs wait.
	CommitP50, CommitP99   time.Duration
	DurableP50, DurableP99 time.Duration
	Err                    error // the failed commit that stopped the graph, if any
}
