// Package steadytest helps test actors written with steady: run one actor
// alone with scripted input, collect what it sent and its committed state,
// inject failures at chosen points without touching the actor's code, and
// check that its output is exactly once.
//
// A [Harness] wraps a graph built for the test. [Feed] gives the actor an
// input channel whose producer sends a script of messages and then closes
// it; [Collect] gives it an output channel whose consumer records every
// message. The actor under test is added with [Harness.Actor] and bound to
// those channels and to its states as in production. [Harness.Run] runs the
// graph until the actor finishes (for an actor that stops when its inputs
// close) or a collector has all it expects ([Collector.StopAfter]), within
// a time limit.
//
// Faults are injected through [steady.Config.Faults]: fail the Nth step of
// an actor ([Harness.FailStep]), the step that peeks a given message
// ([Harness.FailOn]), or a named point the actor marks with
// [steady.Step.Fault] ([Harness.FailAt]). A fault point costs a nil check in
// production, where no injector is set.
//
// Everything works inside a testing/synctest bubble: create the harness in
// the bubble and backoff delays and timeouts run in virtual time.
//
// [Scripted] is an actor that does what the test tells it (commit a step,
// fail, panic, hang, finish), for testing supervision and policies.
package steadytest
