// Package bench holds steady's benchmarks. Each measures its baseline in
// the same run and reports the ratio with b.ReportMetric, so a noisy
// machine affects both sides alike:
//
//	go test ./bench -run '^$' -bench . -count 5
//
// BENCHMARKS.md records the figures and the machine.
package bench
