package steady

import "github.com/steady-go/steady/observe"

// Fault marks a named fault point in the actor's step. It does nothing
// unless [Config.Faults] is set (a nil check); with it, a test can fail the
// step here without changing the actor. See package steadytest.
func (s *Step) Fault(name string) {
	if s.actor.g.cfg.Faults != nil {
		s.inject(observe.FaultPoint{Kind: observe.FaultNamed, Name: name})
	}
}

// inject asks the injector about p and fails the step with the error it
// returns; an injector that panics panics the step, like the actor's code.
// Once a step has failed, its later fault points are not asked: one
// failure per step.
func (s *Step) inject(p observe.FaultPoint) {
	if s.err != nil {
		return
	}
	a := s.actor
	p.Actor, p.Step = a.name, a.stepsBegun
	if err := a.g.cfg.Faults(p); err != nil {
		s.fail(err)
	}
}
