package steady

import (
	"testing"
	"time"
)

// TestDelayNeverNegative: with no initial backoff, a streak long enough for
// Multiplier^n to overflow (0 × +Inf is NaN) still gives a delay of zero.
func TestDelayNeverNegative(t *testing.T) {
	p := DefaultPolicy()
	p.InitialBackoff, p.MaxBackoff = 0, 0
	for _, n := range []int{1, 10, 1100, 100_000} {
		if d := p.delay(n, 0.5); d != 0 {
			t.Errorf("delay(%d) = %v, want 0", n, d)
		}
	}
	p = DefaultPolicy()
	if d := p.delay(100_000, 0.5); d != time.Second {
		t.Errorf("delay after a long streak = %v, want the 1s cap", d)
	}
}
