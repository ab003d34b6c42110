package telemetry

import (
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// Collector exposes a graph's metrics to Prometheus. It implements
// [prometheus.Collector] by taking one [steady.Graph.Snapshot] per scrape,
// so it costs the actors nothing between scrapes. Register it on a registry
// of your own (never the global one); [Server] does that for you.
//
// The metric names are listed in the package documentation.
type Collector struct {
	g *steady.Graph
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector of g's metrics.
func NewCollector(g *steady.Graph) *Collector { return &Collector{g: g} }

// The descriptions of every metric, in the order of the package doc.
var (
	actorLabel   = []string{"actor"}
	channelLabel = []string{"channel"}

	descActorRestarts = prometheus.NewDesc("steady_actor_restarts_total",
		"Times the actor was restarted after a failure.", actorLabel, nil)
	descActorPanics = prometheus.NewDesc("steady_actor_panics_total",
		"Panics recovered from the actor.", actorLabel, nil)
	descActorErrors = prometheus.NewDesc("steady_actor_errors_total",
		"Errors the actor returned.", actorLabel, nil)
	descActorUp = prometheus.NewDesc("steady_actor_up",
		"1 while the actor is running, 0 while it backs off, is degraded or stopped.", actorLabel, nil)
	descActorStatus = prometheus.NewDesc("steady_actor_status",
		"1 for the actor's current status, 0 for the others (a state set).", []string{"actor", "status"}, nil)
	descActorAvailability = prometheus.NewDesc("steady_actor_availability_ratio",
		"Share of the actor's lifetime it was not down, from 0 to 1.", actorLabel, nil)
	descActorDowntime = prometheus.NewDesc("steady_actor_downtime_seconds_total",
		"Time the actor spent between a failure and its next run.", actorLabel, nil)
	descActorRecovery = prometheus.NewDesc("steady_actor_recovery_seconds",
		"Time from a failure to the actor's next committed step.", actorLabel, nil)
	descActorRecoveryQuantile = prometheus.NewDesc("steady_actor_recovery_quantile_seconds",
		"Recovery time at quantile 0.5 and 0.99 over the latest 4096 recoveries.", append(actorLabel, "quantile"), nil)
	descActorRecoveryMax = prometheus.NewDesc("steady_actor_recovery_max_seconds",
		"Longest recovery of the actor so far.", actorLabel, nil)
	descActorSteps = prometheus.NewDesc("steady_actor_steps_total",
		"Steps the actor committed (while it runs, up to 63 behind).", actorLabel, nil)
	descActorDeadLetters = prometheus.NewDesc("steady_actor_dead_letters_total",
		"Messages the actor quarantined as poison.", actorLabel, nil)
	descActorLastFailure = prometheus.NewDesc("steady_actor_last_failure_timestamp_seconds",
		"Unix time of the actor's last failure; 0 if it never failed.", actorLabel, nil)

	// An actor's figures over every run of a durable graph's store
	// (observe.ActorStats.History). A store keeps them for good, so these
	// counters grow over the store's life, from process to process.
	descHistRestarts = prometheus.NewDesc("steady_actor_history_restarts_total",
		"Times the actor was restarted after a failure, over every run of the graph's store.", actorLabel, nil)
	descHistPanics = prometheus.NewDesc("steady_actor_history_panics_total",
		"Panics recovered from the actor, over every run of the graph's store.", actorLabel, nil)
	descHistErrors = prometheus.NewDesc("steady_actor_history_errors_total",
		"Errors the actor returned, over every run of the graph's store.", actorLabel, nil)
	descHistDowntime = prometheus.NewDesc("steady_actor_history_downtime_seconds_total",
		"Time the actor spent between a failure and its next run, over every run of the graph's store.", actorLabel, nil)
	descHistAvailability = prometheus.NewDesc("steady_actor_history_availability_ratio",
		"Share of the actor's lifetime it was not down, over every run of the graph's store, from 0 to 1.", actorLabel, nil)

	descChanInfo = prometheus.NewDesc("steady_channel_info",
		"Always 1; the labels name the channel's producer, consumer and message type.",
		[]string{"channel", "producer", "consumer", "type"}, nil)
	descChanCapacity = prometheus.NewDesc("steady_channel_capacity",
		"Messages the channel can hold.", channelLabel, nil)
	descChanLen = prometheus.NewDesc("steady_channel_messages",
		"Messages in the channel now.", channelLabel, nil)
	descChanFill = prometheus.NewDesc("steady_channel_fill",
		"Messages in the channel over its capacity, from 0 to 1.", channelLabel, nil)
	descChanFillAvg = prometheus.NewDesc("steady_channel_fill_avg",
		"steady_channel_fill smoothed over about ten seconds.", channelLabel, nil)
	descChanSent = prometheus.NewDesc("steady_channel_sent_total",
		"Messages published to the channel.", channelLabel, nil)
	descChanTaken = prometheus.NewDesc("steady_channel_taken_total",
		"Messages consumed from the channel.", channelLabel, nil)
	descChanRate = prometheus.NewDesc("steady_channel_rate",
		"Messages sent per second, smoothed over about two seconds; 0 once the channel is closed or the graph stopped.", channelLabel, nil)
	descChanBackedUp = prometheus.NewDesc("steady_channel_backed_up",
		"1 while the channel has stayed above the fill alert threshold for the alert duration.", channelLabel, nil)
	descChanClosed = prometheus.NewDesc("steady_channel_closed",
		"1 once the channel's producer has closed it.", channelLabel, nil)

	descDeadLettersTotal = prometheus.NewDesc("steady_dead_letters_total",
		"Messages quarantined as poison, ever (replayed ones included).", nil, nil)
	descDeadLetters = prometheus.NewDesc("steady_dead_letters",
		"Messages in the dead-letter store now.", nil, nil)
	descDeadLettersPurged = prometheus.NewDesc("steady_dead_letters_purged_total",
		"Dead letters deleted by Graph.Purge, ever: messages deliberately dropped.", nil, nil)
	descDeadLettersLimit = prometheus.NewDesc("steady_dead_letters_limit",
		"The dead-letter store's limit (Config.MaxDeadLetters): when it is full, a poison message stays in its channel and its consumer gives up.", nil, nil)
	descClusters = prometheus.NewDesc("steady_failure_clusters_total",
		"Failure cluster alerts raised.", nil, nil)
	descChanAlerts = prometheus.NewDesc("steady_channel_alerts_total",
		"Backed-up channel alerts raised.", nil, nil)
	descGraphStatus = prometheus.NewDesc("steady_graph_status",
		"1 for the graph's current status, 0 for the others (a state set).", []string{"status"}, nil)
	descGraphAvailability = prometheus.NewDesc("steady_graph_availability_ratio",
		"Share of the run during which every actor could work (none down or given up, sources not held for memory), from 0 to 1.", nil, nil)
	descGraphDowntime = prometheus.NewDesc("steady_graph_downtime_seconds_total",
		"Time during which some actor could not work: one was down or had given up, or the sources were held for memory.", nil, nil)

	descMemoryLimit = prometheus.NewDesc("steady_memory_limit_bytes",
		"The heap size the graph watches for memory pressure; 0 when it does not watch.", nil, nil)
	descMemoryHeap = prometheus.NewDesc("steady_memory_heap_bytes",
		"The live heap (as of the last collection) at the graph's last sample.", nil, nil)
	descMemoryPressure = prometheus.NewDesc("steady_memory_pressure",
		"1 while the graph holds its sources because the heap crossed the high-water mark.", nil, nil)
	descMemoryEpisodes = prometheus.NewDesc("steady_memory_pressure_episodes_total",
		"Times the heap crossed the high-water mark.", nil, nil)
	descMemoryDegraded = prometheus.NewDesc("steady_memory_degraded_seconds_total",
		"Time spent with the sources held for memory pressure.", nil, nil)

	descStoreCommits = prometheus.NewDesc("steady_store_commits_total",
		"Batches the committer of a durable graph wrote to its store.", nil, nil)
	descStoreRecords = prometheus.NewDesc("steady_store_records_total",
		"Records (committed steps, quarantines, attempt counts) made durable.", nil, nil)
	descStoreCommitQuantile = prometheus.NewDesc("steady_store_commit_quantile_seconds",
		"Time a Store.Commit took (write and fsync), over recent commits.", []string{"quantile"}, nil)
	descStoreDurableQuantile = prometheus.NewDesc("steady_store_durable_quantile_seconds",
		"Time from a batch's oldest step to the publication of its outputs, over recent commits.", []string{"quantile"}, nil)
	descStoreFailed = prometheus.NewDesc("steady_store_failed",
		"1 once a commit failed and stopped the graph.", nil, nil)

	allDescs = []*prometheus.Desc{
		descActorRestarts, descActorPanics, descActorErrors, descActorUp, descActorStatus,
		descActorAvailability, descActorDowntime, descActorRecovery, descActorRecoveryQuantile, descActorRecoveryMax,
		descActorSteps, descActorDeadLetters, descActorLastFailure,
		descHistRestarts, descHistPanics, descHistErrors, descHistDowntime, descHistAvailability,
		descChanInfo, descChanCapacity, descChanLen, descChanFill, descChanFillAvg,
		descChanSent, descChanTaken, descChanRate, descChanBackedUp, descChanClosed,
		descDeadLettersTotal, descDeadLetters, descDeadLettersPurged, descDeadLettersLimit, descClusters, descChanAlerts, descGraphStatus,
		descGraphAvailability, descGraphDowntime,
		descMemoryLimit, descMemoryHeap, descMemoryPressure, descMemoryEpisodes, descMemoryDegraded,
		descStoreCommits, descStoreRecords, descStoreCommitQuantile, descStoreDurableQuantile, descStoreFailed,
	}
)

// The statuses of the state sets, in their numeric order. Their label
// values are what [label] makes of them.
var (
	actorStatuses = []observe.ActorStatus{observe.StatusIdle, observe.StatusRunning,
		observe.StatusBackingOff, observe.StatusStopped, observe.StatusDegraded}
	graphStatuses = []observe.GraphStatus{observe.GraphBuilding, observe.GraphRunning,
		observe.GraphDegraded, observe.GraphShuttingDown, observe.GraphStopped}
)

// Describe sends the descriptions of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect takes a snapshot of the graph and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	collectSnapshot(ch, c.g.Snapshot())
}

func collectSnapshot(ch chan<- prometheus.Metric, s observe.Snapshot) {
	// A name that is not valid UTF-8 cannot be a label value; the scrape
	// then reports that metric as invalid rather than panic.
	send := func(d *prometheus.Desc, m prometheus.Metric, err error) {
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err)
		}
		ch <- m
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, prometheus.CounterValue, v, labels...)
		send(d, m, err)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
		send(d, m, err)
	}

	var deadLettersTotal int64
	bounds := observe.RecoveryBounds()
	for _, a := range s.Actors {
		n := a.Name
		counter(descActorRestarts, float64(a.Restarts), n)
		counter(descActorPanics, float64(a.Panics), n)
		counter(descActorErrors, float64(a.Errors), n)
		gauge(descActorUp, boolf(a.Status == observe.StatusRunning), n)
		for _, st := range actorStatuses {
			gauge(descActorStatus, boolf(a.Status == st), n, label(st))
		}
		gauge(descActorAvailability, a.Availability, n)
		counter(descActorDowntime, a.Downtime.Seconds(), n)
		buckets := make(map[float64]uint64, len(bounds)-1)
		for i, b := range bounds[:len(bounds)-1] { // the last is +Inf
			buckets[b.Seconds()] = uint64(a.RecoveryBuckets[i])
		}
		m, err := prometheus.NewConstHistogram(descActorRecovery, uint64(a.Recoveries), a.RecoveryTotal.Seconds(), buckets, n)
		send(descActorRecovery, m, err)
		gauge(descActorRecoveryQuantile, a.RecoveryP50.Seconds(), n, "0.5")
		gauge(descActorRecoveryQuantile, a.RecoveryP99.Seconds(), n, "0.99")
		gauge(descActorRecoveryMax, a.RecoveryMax.Seconds(), n)
		counter(descActorSteps, float64(a.Commits), n)
		counter(descActorDeadLetters, float64(a.DeadLetters), n)
		var last float64
		if !a.LastErrorAt.IsZero() {
			last = float64(a.LastErrorAt.UnixNano()) / 1e9
		}
		gauge(descActorLastFailure, last, n)
		deadLettersTotal += a.DeadLetters
		if s.Durable != nil { // without a store, the history is this run
			h := a.History
			counter(descHistRestarts, float64(h.Restarts), n)
			counter(descHistPanics, float64(h.Panics), n)
			counter(descHistErrors, float64(h.Errors), n)
			counter(descHistDowntime, h.Downtime.Seconds(), n)
			gauge(descHistAvailability, h.Availability, n)
		}
	}

	for _, c := range s.Channels {
		n := c.Name
		gauge(descChanInfo, 1, n, c.Producer, c.Consumer, c.Type)
		gauge(descChanCapacity, float64(c.Capacity), n)
		gauge(descChanLen, float64(c.Len), n)
		gauge(descChanFill, c.Fill, n)
		gauge(descChanFillAvg, c.FillAvg, n)
		counter(descChanSent, float64(c.Sent), n)
		counter(descChanTaken, float64(c.Taken), n)
		gauge(descChanRate, sendRate(c, s.Status), n)
		gauge(descChanBackedUp, boolf(c.BackedUp), n)
		gauge(descChanClosed, boolf(c.Closed), n)
	}

	counter(descDeadLettersTotal, float64(deadLettersTotal))
	gauge(descDeadLetters, float64(len(s.DeadLetters)))
	counter(descDeadLettersPurged, float64(s.DeadLettersPurged))
	gauge(descDeadLettersLimit, float64(s.MaxDeadLetters))
	counter(descClusters, float64(s.FailureClusters))
	counter(descChanAlerts, float64(s.ChannelAlerts))
	for _, st := range graphStatuses {
		gauge(descGraphStatus, boolf(s.Status == st), label(st))
	}
	gauge(descGraphAvailability, s.Availability)
	counter(descGraphDowntime, s.Downtime.Seconds())
	m := s.Memory
	gauge(descMemoryLimit, float64(m.Limit))
	gauge(descMemoryHeap, float64(m.Heap))
	gauge(descMemoryPressure, boolf(m.Pressure))
	counter(descMemoryEpisodes, float64(m.Episodes))
	counter(descMemoryDegraded, m.Degraded.Seconds())

	if d := s.Durable; d != nil {
		counter(descStoreCommits, float64(d.Batches))
		counter(descStoreRecords, float64(d.Steps))
		gauge(descStoreCommitQuantile, d.CommitP50.Seconds(), "0.5")
		gauge(descStoreCommitQuantile, d.CommitP99.Seconds(), "0.99")
		gauge(descStoreDurableQuantile, d.DurableP50.Seconds(), "0.5")
		gauge(descStoreDurableQuantile, d.DurableP99.Seconds(), "0.99")
		gauge(descStoreFailed, boolf(d.Err != nil))
	}
}

// label spells a status as a label value and in JSON: its String with
// underscores for spaces ("backing_off", "shutting_down").
func label(s fmt.Stringer) string { return strings.ReplaceAll(s.String(), " ", "_") }

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
