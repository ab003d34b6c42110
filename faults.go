package steady

// FaultKind says where a [FaultPoint] is.
type FaultKind uint8

// The places faults can be injected.
const (
	FaultStep  FaultKind = iota + 1 // a step began
	FaultPeek                       // a step peeked a message
	FaultNamed                      // the actor called Step.Fault
)

// FaultPoint describes a place where [Config.Faults] may inject a failure.
type FaultPoint struct {
	Kind    FaultKind // where it is
	Actor   string    // the actor whose step it is in
	Step    int64     // the actor's steps begun so far, this one included
	Name    string    // FaultNamed: the name given to Step.Fault
	Channel string    // FaultPeek: the channel
	Message any       // FaultPeek: the message
}

// Fault marks a named fault point in the actor's step. It does nothing
// unless [Config.Faults] is set (a nil check); with it, a test can fail the
// step here without changing the actor. See package steadytest.
func (s *Step) Fault(name string) {
	if s.actor.g.cfg.Faults != nil {
		s.inject(FaultPoint{Kind: FaultNamed, Name: name})
	}
}

// inject asks the injector about p and fails the step with the error it
// returns; an injector that panics panics the step, like the actor's code. Once a step
// has failed, its later fault points are not asked: one failure per step.
func (s *Step) inject(p FaultPoint) {
	if s.err != nil {
		return
	}
	a := s.actor
	p.Actor, p.Step = a.name, a.stepsBegun
	if err := a.g.cfg.Faults(p); err != nil {
		s.fail(err)
	}
}
