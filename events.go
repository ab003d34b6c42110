package steady

import (
	"context"
	"log/slog"

	"github.com/steady-go/steady/observe"
)

// eventLevel is the slog level the default logging uses for the event.
func eventLevel(e observe.Event) slog.Level {
	switch e.Kind {
	case observe.EventPanicked, observe.EventFailed, observe.EventDeadLettered, observe.EventPurged:
		return slog.LevelWarn
	case observe.EventGaveUp:
		return slog.LevelError
	case observe.EventFailureCluster, observe.EventChannelBackedUp, observe.EventMemoryPressure:
		return slog.LevelWarn
	case observe.EventResumed:
		// The state is user data and a crash loop resumes often: shown
		// in detail mode (Debug), never by default.
		return slog.LevelDebug
	case observe.EventStopped:
		if e.Err != nil {
			return slog.LevelError
		}
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// logEvent writes the event to the logger, with its fields as attributes.
func logEvent(l *slog.Logger, e observe.Event) {
	lvl := eventLevel(e)
	if !l.Enabled(context.Background(), lvl) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("event", e.Kind.String()))
	if e.Actor != "" {
		attrs = append(attrs, slog.String("actor", e.Actor), slog.Int("restarts", e.Restarts))
	}
	if e.Delay > 0 {
		attrs = append(attrs, slog.Duration("delay", e.Delay))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.Any("err", e.Err))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	if e.Channel != "" {
		attrs = append(attrs, slog.String("channel", e.Channel))
	}
	if e.Count > 0 {
		attrs = append(attrs, slog.Int("count", e.Count))
	}
	if len(e.Actors) > 0 {
		attrs = append(attrs, slog.Any("actors", e.Actors))
	}
	if e.State != "" {
		attrs = append(attrs, slog.String("state", e.State))
	}
	if d := e.DeadLetter; d != nil {
		attrs = append(attrs, slog.String("channel", d.Channel), slog.Any("value", d.Value),
			slog.Int("attempts", d.Attempts), slog.Uint64("id", d.ID))
	}
	l.LogAttrs(context.Background(), lvl, e.String(), attrs...)
}
