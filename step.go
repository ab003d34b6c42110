package steady

// Step is one all-or-nothing unit of an actor's work, open for the duration
// of the function given to [Actor.Step]. Through it the actor peeks inputs
// ([Receiver.Peek]), stages outputs ([Sender.Send]) and changes state
// ([State.Get]). When the function returns nil, all of it takes effect at
// once: the peeked inputs are consumed, the outputs are published in the
// order sent, the state is installed. When it returns an error or panics,
// none of it does.
//
// A Step belongs to its actor's goroutine and is valid only until the
// function returns.
type Step struct {
	actor *Actor
	open  bool
	err   error // the first misuse in the step; it fails the step

	// touched lists every port the step used, once each, in first-use
	// order; commit and abort walk it. Its capacity is the actor's port
	// count, so appending never allocates after the first step.
	touched []port
	// lastPeek is the channel peeked most recently, which a failure blames.
	lastPeek *chanCore
}

// Actor is the actor the step belongs to.
func (s *Step) Actor() *Actor { return s.actor }

// fail records the first misuse and returns err. It is safe on a nil step.
func (s *Step) fail(err error) error {
	if s != nil && s.open && s.err == nil {
		s.err = err
	}
	return err
}

// Step runs fn as one all-or-nothing step; see [Step]. It returns fn's
// error, or the first misuse of a handle in the step (a send beyond the
// vacancy, a handle of another actor), or nil once the step committed.
// A panic in fn rolls the step back and goes on to the actor's supervisor.
//
// A step costs two function calls and a deferred check on top of fn; it
// allocates nothing once the actor has run its first step.
func (a *Actor) Step(fn func(s *Step) error) error {
	s := &a.step
	if s.open {
		return misuseErr("actor %q: Step called inside a step", a.name)
	}
	if a.suspect != nil {
		// A previous step failed and the actor carried on without
		// returning the error; quarantine here what the supervisor would.
		a.quarantine(a.lastStepErr)
	}
	s.open, s.err = true, nil
	done := false
	defer func() {
		if !done { // fn panicked: roll back on the way to the supervisor
			a.abort(nil)
		}
	}()
	err := fn(s)
	if err == nil {
		err = s.err
	}
	done = true
	if err != nil {
		a.abort(err)
		return err
	}
	a.commit()
	return nil
}

// commit makes the step's effects visible, in first-use order: states are
// installed, inputs consumed, outputs published. A durable store would write
// the step here, before anything becomes visible.
func (a *Actor) commit() {
	s := &a.step
	for i, p := range s.touched {
		p.commit()
		s.touched[i] = nil
	}
	s.touched = s.touched[:0]
	s.lastPeek = nil
	s.open = false
	a.suspect = nil
	a.stats.commits.Add(1)
	if a.recovering {
		a.recovered()
	}
}

// abort rolls the step back and charges the failure to the message peeked
// last; err is nil for a panic, whose value the supervisor records.
func (a *Actor) abort(err error) {
	s := &a.step
	for i, p := range s.touched {
		blamed := false
		if in, ok := p.(Input); ok && in.core() == s.lastPeek {
			blamed = true
		}
		p.abort(blamed)
		s.touched[i] = nil
	}
	if s.lastPeek != nil && s.lastPeek.attempts > 0 {
		a.suspect = s.lastPeek
	}
	s.touched = s.touched[:0]
	s.lastPeek = nil
	s.open = false
	a.lastStepErr = err
}
