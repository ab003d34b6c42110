package steadytest_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/steadytest"
)

// Test an actor alone: feed it 1..5, fail its third step and the step that
// sees 4, and check it still doubles every value exactly once.
func Example() {
	t := &testing.T{} // in a real test, the *testing.T of the test
	h := steadytest.New(t)
	in := steadytest.Feed(h, "in", 4, 1, 2, 3, 4, 5)
	out := steadytest.Collect[int](h, "out", 4)

	var rx *steady.Receiver[int]
	var tx *steady.Sender[int]
	a := h.Actor("doubler", func(a *steady.Actor) error {
		return steady.Stage(a, rx, tx, func(s *steady.Step, v int) (int, bool, error) {
			return 2 * v, true, nil
		})
	}, steady.Backoff(0, 0))
	rx, tx = in.Receiver(a), out.Sender(a)

	h.FailStep("doubler", 3, steadytest.Panic("injected"))
	h.FailOn("doubler", "in", 4, 1, steadytest.Error(errors.New("injected")))
	if err := h.Run(); err != nil {
		fmt.Println(err)
	}
	fmt.Println(out.Got(), "restarts:", a.Restarts())
	fmt.Println("exactly once:", steadytest.ExactlyOnce(t, out.Got(), []int{2, 4, 6, 8, 10}))
	// Output:
	// [2 4 6 8 10] restarts: 2
	// exactly once: true
}
