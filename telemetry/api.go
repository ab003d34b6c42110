package telemetry

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
)

// The JSON of /api/snapshot. Durations are in seconds, times in RFC 3339
// (omitted when unknown), statuses and event kinds spelled as in the
// metrics' labels ("backing_off", "dead-lettered" becomes "dead_lettered").
// User data (error texts, dead-letter values, stacks) is cut to a bounded
// length so one huge panic value cannot make every poll huge.
type apiSnapshot struct {
	Time            time.Time    `json:"time"`
	Status          string       `json:"status"`
	Healthy         bool         `json:"healthy"`
	Health          string       `json:"health"` // "ok", or why /healthz fails
	ShutdownReason  string       `json:"shutdownReason,omitempty"`
	Actors          []apiActor   `json:"actors"`
	Channels        []apiChannel `json:"channels"`
	DeadLetters     []apiLetter  `json:"deadLetters"` // the newest maxLetters, oldest first
	DeadLettersNow  int          `json:"deadLettersInStore"`
	DeadLettersEver int64        `json:"deadLettersTotal"`
	DeadLettersGone int64        `json:"deadLettersPurged"`
	DeadLetterLimit int          `json:"deadLettersLimit"`
	FailureClusters int64        `json:"failureClusters"`
	ChannelAlerts   int64        `json:"channelAlerts"`
	Events          []apiEvent   `json:"events"` // oldest first
	EventsTotal     uint64       `json:"eventsTotal"`
	Availability    float64      `json:"availability"` // the graph's, 0 to 1
	Downtime        float64      `json:"downtimeSeconds"`
	Memory          apiMemory    `json:"memory"`
}

type apiMemory struct {
	Limit    uint64  `json:"limitBytes"` // 0: not watched
	High     uint64  `json:"highBytes"`
	Low      uint64  `json:"lowBytes"`
	Heap     uint64  `json:"heapBytes"`
	Peak     uint64  `json:"peakBytes"`
	Pressure bool    `json:"pressure"`
	Since    string  `json:"since,omitempty"`
	Episodes int64   `json:"episodes"`
	Degraded float64 `json:"degradedSeconds"`
}

// apiActor is an actor: its figures over this run at the top level (the
// fields of apiFigures), over every run of the graph's store in History.
type apiActor struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Steps  int64  `json:"steps"`
	apiFigures
	LastError   string     `json:"lastError,omitempty"`
	LastErrorAt string     `json:"lastErrorAt,omitempty"`
	History     apiHistory `json:"history"`
}

// apiFigures are observe.Figures, but for the histogram's buckets.
type apiFigures struct {
	Panics       int64   `json:"panics"`
	Errors       int64   `json:"errors"`
	Restarts     int64   `json:"restarts"`
	DeadLetters  int64   `json:"deadLetters"`
	Downtime     float64 `json:"downtimeSeconds"`
	Availability float64 `json:"availability"`
	Recoveries   int64   `json:"recoveries"`
	RecoveryP50  float64 `json:"recoveryP50Seconds"`
	RecoveryP99  float64 `json:"recoveryP99Seconds"`
	RecoveryMax  float64 `json:"recoveryMaxSeconds"`
}

// apiHistory is observe.ActorHistory: without a store, or on a store no
// earlier run wrote to, its figures equal the actor's own.
type apiHistory struct {
	apiFigures
	Lifetime float64 `json:"lifetimeSeconds"` // summed over the runs
}

func newAPIFigures(f observe.Figures) apiFigures {
	return apiFigures{
		Panics: f.Panics, Errors: f.Errors, Restarts: f.Restarts, DeadLetters: f.DeadLetters,
		Downtime: f.Downtime.Seconds(), Availability: f.Availability,
		Recoveries: f.Recoveries, RecoveryP50: f.RecoveryP50.Seconds(),
		RecoveryP99: f.RecoveryP99.Seconds(), RecoveryMax: f.RecoveryMax.Seconds(),
	}
}

type apiChannel struct {
	Name     string  `json:"name"`
	Type     string  `json:"type"`
	Producer string  `json:"producer"`
	Consumer string  `json:"consumer"`
	Capacity int     `json:"capacity"`
	Len      int     `json:"len"`
	Fill     float64 `json:"fill"`
	FillAvg  float64 `json:"fillAvg"`
	Sent     uint64  `json:"sent"`
	Taken    uint64  `json:"taken"`
	Rate     float64 `json:"rate"`
	Closed   bool    `json:"closed"`
	BackedUp bool    `json:"backedUp"`
}

type apiLetter struct {
	ID       uint64 `json:"id"`
	Actor    string `json:"actor"`
	Channel  string `json:"channel"`
	Value    string `json:"value"`
	Error    string `json:"error"`
	Stack    string `json:"stack,omitempty"`
	Attempts int    `json:"attempts"`
	Time     string `json:"time"`
}

type apiEvent struct {
	Seq          uint64   `json:"seq"`
	Kind         string   `json:"kind"`
	Time         string   `json:"time"`
	Actor        string   `json:"actor,omitempty"`
	Restarts     int      `json:"restarts"`
	Delay        float64  `json:"delaySeconds,omitempty"`
	Error        string   `json:"error,omitempty"`
	Reason       string   `json:"reason,omitempty"`
	Channel      string   `json:"channel,omitempty"`
	Count        int      `json:"count,omitempty"`
	Actors       []string `json:"actors,omitempty"` // a failure cluster's
	State        string   `json:"state,omitempty"`  // what a resumed actor runs again with
	DeadLetterID uint64   `json:"deadLetterId,omitempty"`
	Text         string   `json:"text"`
}

// Bounds on user data in the JSON.
const (
	maxText  = 512      // an error, a reason, a value
	maxStack = 4 * 1024 // a dead letter's stack
	// maxLetters is how many dead letters a snapshot lists, the newest:
	// with their stacks, 100 are up to about half a megabyte a poll,
	// and a store of thousands would make every poll that big.
	maxLetters = 100
)

func newAPISnapshot(s observe.Snapshot, rec *Recorder) apiSnapshot {
	healthy, health := healthOf(s)
	out := apiSnapshot{
		Time:            s.Time,
		Status:          label(s.Status),
		Healthy:         healthy,
		Health:          health,
		ShutdownReason:  clip(s.ShutdownReason, maxText),
		Actors:          make([]apiActor, 0, len(s.Actors)),
		Channels:        make([]apiChannel, 0, len(s.Channels)),
		DeadLetters:     make([]apiLetter, 0, min(len(s.DeadLetters), maxLetters)),
		DeadLettersNow:  len(s.DeadLetters),
		DeadLettersGone: s.DeadLettersPurged,
		DeadLetterLimit: s.MaxDeadLetters,
		FailureClusters: s.FailureClusters,
		ChannelAlerts:   s.ChannelAlerts,
		Availability:    s.Availability,
		Downtime:        s.Downtime.Seconds(),
		Memory: apiMemory{
			Limit: s.Memory.Limit, High: s.Memory.High, Low: s.Memory.Low,
			Heap: s.Memory.Heap, Peak: s.Memory.Peak, Pressure: s.Memory.Pressure,
			Since: timeText(s.Memory.Since), Episodes: s.Memory.Episodes, Degraded: s.Memory.Degraded.Seconds(),
		},
	}
	for _, a := range s.Actors {
		out.DeadLettersEver += a.DeadLetters
		out.Actors = append(out.Actors, apiActor{
			Name:        a.Name,
			Status:      label(a.Status),
			Steps:       a.Commits,
			apiFigures:  newAPIFigures(a.Figures),
			LastError:   errText(a.LastError),
			LastErrorAt: timeText(a.LastErrorAt),
			History:     apiHistory{apiFigures: newAPIFigures(a.History.Figures), Lifetime: a.History.Lifetime.Seconds()},
		})
	}
	for _, c := range s.Channels {
		out.Channels = append(out.Channels, apiChannel{
			Name: c.Name, Type: c.Type, Producer: c.Producer, Consumer: c.Consumer,
			Capacity: c.Capacity, Len: c.Len, Fill: c.Fill, FillAvg: c.FillAvg,
			Sent: c.Sent, Taken: c.Taken, Rate: sendRate(c, s.Status), Closed: c.Closed, BackedUp: c.BackedUp,
		})
	}
	for _, d := range s.DeadLetters[max(0, len(s.DeadLetters)-maxLetters):] {
		out.DeadLetters = append(out.DeadLetters, apiLetter{
			ID: d.ID, Actor: d.Actor, Channel: d.Channel,
			Value:    clip(fmt.Sprintf("%v", d.Value), maxText),
			Error:    errText(d.Err),
			Stack:    clip(d.Stack, maxStack),
			Attempts: d.Attempts,
			Time:     timeText(d.Time),
		})
	}
	events, seq := rec.recent()
	out.EventsTotal = seq + uint64(len(events)) - 1
	out.Events = make([]apiEvent, 0, len(events))
	for i, e := range events {
		ae := apiEvent{
			Seq:      seq + uint64(i),
			Kind:     strings.NewReplacer(" ", "_", "-", "_").Replace(e.Kind.String()),
			Time:     timeText(e.Time),
			Actor:    e.Actor,
			Restarts: e.Restarts,
			Delay:    e.Delay.Seconds(),
			Error:    errText(e.Err),
			Reason:   clip(e.Reason, maxText),
			Channel:  e.Channel,
			Count:    e.Count,
			Actors:   e.Actors,
			State:    clip(e.State, maxText),
			Text:     clip(eventText(e), maxText),
		}
		if d := e.DeadLetter; d != nil {
			ae.DeadLetterID, ae.Channel = d.ID, d.Channel
		}
		out.Events = append(out.Events, ae)
	}
	return out
}

// healthOf says whether the graph is healthy, and if not, why: the reason
// /healthz gives with its 503.
func healthOf(s observe.Snapshot) (bool, string) {
	switch s.Status {
	case observe.GraphRunning:
		return true, "ok"
	case observe.GraphBuilding:
		return false, "not running: the graph has not started"
	case observe.GraphDegraded:
		var gaveUp []string
		for _, a := range s.Actors {
			if a.Status != observe.StatusDegraded {
				continue
			}
			r := fmt.Sprintf("actor %q gave up", a.Name)
			var g *steady.GaveUpError
			if errors.As(a.LastError, &g) {
				r = g.Error()
			} else if a.LastError != nil {
				r += ": " + a.LastError.Error()
			}
			gaveUp = append(gaveUp, clip(r, maxText))
		}
		return false, "degraded: " + strings.Join(gaveUp, "; ")
	case observe.GraphShuttingDown:
		return false, "shutting down: " + clip(s.ShutdownReason, maxText)
	case observe.GraphStopped:
		if s.ShutdownReason != "" {
			return false, "stopped: " + clip(s.ShutdownReason, maxText)
		}
		return false, "stopped"
	}
	return false, "unknown status " + s.Status.String()
}

// sendRate is the channel's send rate, zero once it is closed or the graph
// has stopped: nothing is sent then, while the graph's smoothed rate keeps
// the value of its last sample (the sampler stops with Run).
func sendRate(c observe.ChannelStats, g observe.GraphStatus) float64 {
	if c.Closed || g == observe.GraphStopped {
		return 0
	}
	return c.Rate
}

// eventText is e.String(), safe for an event that lacks the dead letter
// its kind promises.
func eventText(e observe.Event) string {
	if e.Kind == observe.EventDeadLettered && e.DeadLetter == nil {
		return fmt.Sprintf("actor %q dead-lettered a message", e.Actor)
	}
	return e.String()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return clip(err.Error(), maxText)
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// clip cuts s to at most n bytes, on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
