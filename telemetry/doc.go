// Package telemetry shows a running [steady.Graph] to the people who
// operate it: Prometheus metrics, a live dashboard, the graph as Graphviz
// DOT and a health check, served over HTTP.
//
// Wiring it up:
//
//	rec := telemetry.NewRecorder(0) // keeps the recent events, for the timeline
//	g := steady.NewGraph(steady.Config{OnEvent: rec.Record})
//	// (to keep a hook you have: cfg.OnEvent = rec.Chain(cfg.OnEvent))
//	// ... channels and actors ...
//	srv := telemetry.New(g, rec)
//	addr, err := srv.Start(":9900") // 127.0.0.1:9900; an error at once if the port is taken
//	if err == nil {
//		defer srv.Close() // stops serving and waits for the server's goroutine
//	}
//	err = g.Run(ctx)
//
// Everything is computed from [steady.Graph.Snapshot] when it is asked
// for (a scrape, a page poll), so telemetry costs the actors nothing in
// between; the [Recorder] hook costs about 10 ns per event.
//
// # Endpoints
//
// Only GET and HEAD are served; every other method gets 405.
//
//	/              the dashboard (HTML; script, styles and icon under /assets/)
//	/metrics       Prometheus text exposition, from the server's own registry
//	/graph.dot     the graph in Graphviz DOT, labelled with live figures
//	/api/snapshot  JSON: the snapshot plus the recent events (the newest
//	               100 dead letters, and how many the store holds); each
//	               actor's figures over this run, and in its "history"
//	               over every run of the graph's store
//	/healthz       200 "ok" while the graph runs with every actor; 503 and
//	               the reason ("degraded: actor \"worker\" gave up: ...",
//	               "shutting down: ...", "stopped", "not running: ...")
//
// # Metrics
//
// Per actor, labelled actor:
//
//	steady_actor_restarts_total                   counter   restarts after a failure
//	steady_actor_panics_total                     counter   panics recovered
//	steady_actor_errors_total                     counter   errors returned
//	steady_actor_up                               gauge     1 while running, else 0
//	steady_actor_status{status}                   gauge     state set: 1 for the current status of
//	                                                        idle, running, backing_off, stopped, degraded
//	steady_actor_availability_ratio               gauge     share of its lifetime it was not down, 0 to 1
//	steady_actor_downtime_seconds_total           counter   time between failures and the next run
//	steady_actor_recovery_seconds                 histogram failure to next committed step, buckets
//	                                                        of observe.RecoveryBounds()
//	steady_actor_recovery_quantile_seconds{quantile}
//	                                              gauge     0.5 and 0.99 over the latest recoveries
//	steady_actor_recovery_max_seconds             gauge     longest recovery so far
//	steady_actor_steps_total                      counter   committed steps
//	steady_actor_dead_letters_total               counter   messages it quarantined
//	steady_actor_last_failure_timestamp_seconds   gauge     Unix time of the last failure, 0 if none
//
// Per channel, labelled channel:
//
//	steady_channel_info{producer,consumer,type}   gauge     always 1; the channel's ends and message type
//	steady_channel_capacity                       gauge     messages it can hold
//	steady_channel_messages                       gauge     messages in it now
//	steady_channel_fill                           gauge     messages over capacity, 0 to 1
//	steady_channel_fill_avg                       gauge     fill smoothed over about 10 s
//	steady_channel_sent_total                     counter   messages published
//	steady_channel_taken_total                    counter   messages consumed (lags by up to a release chunk)
//	steady_channel_rate                           gauge     messages sent per second, smoothed over about
//	                                                        2 s; 0 once closed or the graph stopped
//	steady_channel_backed_up                      gauge     1 while the fill alert holds
//	steady_channel_closed                         gauge     1 once closed
//
// For the graph:
//
//	steady_dead_letters_total                     counter   messages quarantined, ever
//	steady_dead_letters                           gauge     messages in the dead-letter store now
//	steady_dead_letters_purged_total              counter   dead letters deleted by Graph.Purge, ever
//	steady_dead_letters_limit                     gauge     the store's limit, Config.MaxDeadLetters
//	steady_failure_clusters_total                 counter   failure cluster alerts raised
//	steady_channel_alerts_total                   counter   backed-up channel alerts raised
//	steady_graph_status{status}                   gauge     state set: 1 for the current status of
//	                                                        building, running, degraded,
//	                                                        shutting_down, stopped
//	steady_graph_availability_ratio               gauge     share of the run every actor could work, 0 to 1
//	                                                        (none down or given up, sources not held)
//	steady_graph_downtime_seconds_total           counter   time some actor could not work
//
// Memory pressure (see steady.Config.MemoryLimit):
//
//	steady_memory_limit_bytes                     gauge     the heap size watched; 0 when not watching
//	steady_memory_heap_bytes                      gauge     live heap at the last sample
//	steady_memory_pressure                        gauge     1 while the sources are held
//	steady_memory_pressure_episodes_total         counter   times the heap crossed the high-water mark
//	steady_memory_degraded_seconds_total          counter   time spent with the sources held
//
// For a durable graph (one with steady.Config.Store), its committer:
//
//	steady_store_commits_total                    counter   batches written to the store
//	steady_store_records_total                    counter   records made durable (steps and the like)
//	steady_store_commit_quantile_seconds{quantile}  gauge   Store.Commit time, p50 and p99 of recent commits
//	steady_store_durable_quantile_seconds{quantile} gauge   oldest step of a batch to its publication
//	steady_store_failed                           gauge     1 once a commit failed and stopped the graph
//
// For a durable graph, per actor, labelled actor: its figures over every
// run of the store (observe.ActorStats.History), where the steady_actor_
// series above count this process's run only:
//
//	steady_actor_history_restarts_total           counter   restarts after a failure
//	steady_actor_history_panics_total             counter   panics recovered
//	steady_actor_history_errors_total             counter   errors returned
//	steady_actor_history_downtime_seconds_total   counter   time between failures and the next run
//	steady_actor_history_availability_ratio       gauge     share of its lifetime over the runs it was
//	                                                        not down, 0 to 1
//
// A new process on the store starts these counters where the store left
// them, so they do not fall back to zero at a restart. After a killed
// process they start from its last commit, which may lie a little below
// what it last exported (docs/durability.md says how much a kill loses);
// Prometheus then sees a counter reset.
//
// For example, the actors that restarted in the last five minutes:
// increase(steady_actor_restarts_total[5m]) > 0; a consumer falling
// behind: steady_channel_fill_avg > 0.8.
//
// # The dashboard
//
// One page, with its script and styles compiled into the binary: it loads
// nothing from elsewhere and works offline. It polls /api/snapshot every
// second and updates in place: a header with the graph's status, health,
// failure and alert counts, its availability, and the memory watch (the
// live heap as a share of the limit, "held" while the sources are held,
// "off" without a limit); the graph, laid out left to right by
// topological order, with each actor's status, restarts, availability and
// p99 recovery, and each channel's fill bar and rate on its edge; a table
// of actors with recovery percentiles, availability, downtime and last
// failure, and, for a graph resumed from a store whose history adds to
// this run (some actor's restarts or availability over every run differ
// from this run's), each actor's restarts and availability over every
// run; a table of channels with a rate sparkline of the last minute; the
// timeline of recent events (panics, errors, restarts and the state each
// actor resumed with, dead letters, cluster and channel alerts, memory
// pressure, shutdown); and the dead-letter list with each message's
// value, failure and stack. When the server stops answering, the page
// dims and says so, and keeps trying.
//
// Elements carry stable attributes for tests and scripts: graph nodes
// [data-actor=NAME] with children [data-field=restarts] and
// [data-field=status]; edges [data-channel=NAME] with data-producer and
// data-consumer; table rows [data-actor-row=NAME] and
// [data-channel-row=NAME] with cells [data-field=...] (the actors' over
// every run are restarts-all and availability-all, shown while #actors
// has data-history="true"); timeline items
// [data-kind=KIND][data-actor=NAME]; dead letters [data-dead-letter=ID];
// header figures #kpi-NAME with [data-field=NAME] (availability, memory;
// #kpi-memory has data-pressure).
//
// # Security defaults
//
//   - [Server.Start] binds to 127.0.0.1 when the address has no host
//     (":9900") or is empty (a free port). Serving other machines takes an
//     explicit host, such as "0.0.0.0:9900"; put an authenticating proxy
//     in front, since the dashboard shows dead-letter values and stacks.
//   - No write operation: GET and HEAD only, 405 for the rest. Replaying
//     and purging dead letters stay API calls in the program
//     ([steady.Graph.Replay], [steady.Graph.Purge]).
//   - No Access-Control-Allow-Origin header: other origins cannot read
//     the data. While bound to loopback the server also refuses (421)
//     requests whose Host is not a loopback name or address, so a web page
//     cannot reach it through DNS rebinding. [Server.Handler], for
//     embedding, leaves that check to the server that mounts it.
//   - A Content-Security-Policy that allows only the server's own script,
//     styles and data, no framing; X-Content-Type-Options: nosniff;
//     Referrer-Policy: no-referrer.
//   - Timeouts on reading headers (5 s), writing (10 s) and idle
//     connections (1 min); at most 4 concurrent scrapes of /metrics.
//   - User data in the JSON (error texts, values, stacks) is cut to a
//     bounded length, and the page inserts it as text, never as HTML.
//   - Metrics live on the server's own registry ([Server.Registry]), never
//     on Prometheus' global one.
package telemetry
