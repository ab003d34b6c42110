package observe

// FaultKind says where a [FaultPoint] is.
type FaultKind uint8

// The places faults can be injected.
const (
	FaultStep  FaultKind = iota + 1 // a step began
	FaultPeek                       // a step peeked a message
	FaultNamed                      // the actor called steady.Step.Fault
)

// FaultPoint describes a place where steady.Config.Faults may inject a failure.
type FaultPoint struct {
	Kind    FaultKind // where it is
	Actor   string    // the actor whose step it is in
	Step    int64     // the actor's steps begun so far, this one included
	Name    string    // FaultNamed: the name given to steady.Step.Fault
	Channel string    // FaultPeek: the channel
	Message any       // FaultPeek: the message
}
