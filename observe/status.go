package observe

import "fmt"

// ActorStatus is what an actor is doing.
type ActorStatus int32

// The statuses of an actor.
const (
	StatusIdle       ActorStatus = iota // the graph has not started
	StatusRunning                       // the actor function is running
	StatusBackingOff                    // waiting to restart after a failure
	StatusStopped                       // finished or stopped by shutdown
	StatusDegraded                      // gave up past its restart limit
)

// String returns the status as the dashboard shows it: "backing off", …
func (s ActorStatus) String() string {
	switch s {
	case StatusIdle:
		return "idle"
	case StatusRunning:
		return "running"
	case StatusBackingOff:
		return "backing off"
	case StatusStopped:
		return "stopped"
	case StatusDegraded:
		return "degraded"
	}
	return fmt.Sprintf("ActorStatus(%d)", int32(s))
}

// GraphStatus is the state of the graph as a whole.
type GraphStatus int32

// The statuses of a graph.
const (
	GraphBuilding     GraphStatus = iota // Run not called yet
	GraphRunning                         // every actor is running or restarting
	GraphDegraded                        // an actor gave up; the rest run on
	GraphShuttingDown                    // a shutdown was requested
	GraphStopped                         // Run returned
)

// String returns the status as the dashboard shows it: "running", …
func (s GraphStatus) String() string {
	switch s {
	case GraphBuilding:
		return "building"
	case GraphRunning:
		return "running"
	case GraphDegraded:
		return "degraded"
	case GraphShuttingDown:
		return "shutting down"
	case GraphStopped:
		return "stopped"
	}
	return fmt.Sprintf("GraphStatus(%d)", int32(s))
}
