// Package observe holds what a steady graph reports about itself: the
// events it delivers to its hook (steady.Config.OnEvent), the snapshot of
// its figures (steady.Graph.Snapshot), the statuses of the graph and its
// actors, the dead letters it keeps, and the fault points it offers a
// test's injector (steady.Config.Faults).
//
// Everything here is a plain value, safe to keep and copy, and
// the package imports nothing of steady's: a program that only reads what
// a graph reports (a dashboard, a test, an alerting hook) depends on these
// types and not on the runtime. The package telemetry serves them over
// HTTP and Prometheus.
package observe
