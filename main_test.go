package steady_test

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/steady-go/steady"
)

// TestMain fails the package if any test leaves a goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quiet is a Config that logs nothing, with a fixed seed.
func quiet() steady.Config {
	return steady.Config{Logger: slog.New(slog.DiscardHandler), Seed: 1}
}
