package main

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestTelemetryMatchesReport: the demo's Prometheus exposition, parsed
// with the client library's own parser, carries its four actors and three
// channels, with the restart counts the report gives.
func TestTelemetryMatchesReport(t *testing.T) {
	cfg, err := parseFlags([]string{"-preset", "dev", "-log", "error", "-telemetry", ":0"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := build(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if p.telemetry == nil {
		t.Fatal("no telemetry server with -telemetry set")
	}
	start := time.Now()
	runErr := p.g.Run(context.Background())
	r := p.report(runErr, nil, time.Since(start))
	if !r.Passed {
		t.Fatalf("the run's checks failed: %+v", r.Checks)
	}

	rec := httptest.NewRecorder()
	p.telemetry.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("exposition does not parse: %v", err)
	}
	restarts := map[string]float64{}
	for _, m := range families["steady_actor_restarts_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "actor" {
				restarts[l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	for _, name := range []string{"generator", "heartbeat", "worker", "logger"} {
		got, ok := restarts[name]
		if !ok {
			t.Errorf("no restart count for actor %q in the exposition", name)
			continue
		}
		if want := r.Actors[name].Restarts; got != float64(want) || want == 0 {
			t.Errorf("actor %q: %v restarts in the exposition, %d in the report (scripted faults restart every actor)", name, got, want)
		}
	}
	channels := map[string]bool{}
	for _, m := range families["steady_channel_sent_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "channel" {
				channels[l.GetValue()] = true
			}
		}
	}
	for _, name := range []string{"beats", "values", "messages"} {
		if !channels[name] {
			t.Errorf("channel %q missing from the exposition", name)
		}
	}
}

// TestTelemetryOnAnotherHost: an address this machine does not have is not
// swapped for a free port of it; the run goes on without telemetry and
// says so.
func TestTelemetryOnAnotherHost(t *testing.T) {
	t.Parallel()
	res := runRobust(t, "-telemetry", "192.0.2.1:9900", "-rate", "0", "-beats", "5", "-faults", "none")
	if res.status != 0 || !strings.Contains(res.stderr, "carrying on without telemetry") || strings.Contains(res.stderr, "free port") {
		t.Errorf("status %d, stderr:\n%s\nwant a run without telemetry, no free port", res.status, res.stderr)
	}
}
