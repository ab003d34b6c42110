package main

import (
	"log/slog"
	"strings"
	"testing"
)

// TestLineHandlerAttributes: below detail mode a record shows its
// attributes, as the logger's progress does, while a framework event,
// whose message already says it all, shows only its message.
func TestLineHandlerAttributes(t *testing.T) {
	var b strings.Builder
	l := slog.New(newLineHandler(&b, slog.LevelInfo))
	l.Info("logger progress", slog.Uint64("logged", 2100), slog.Uint64("fizz", 560))
	l.Info(`actor "worker" restarting in 1ms (restart 1)`, slog.String("event", "restarting"), slog.String("actor", "worker"))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "INFO  logger progress logged=2100 fizz=560") ||
		!strings.HasSuffix(lines[1], `INFO  actor "worker" restarting in 1ms (restart 1)`) {
		t.Errorf("lines %q", lines)
	}
}
