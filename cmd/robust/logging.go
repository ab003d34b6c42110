package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// lineHandler is a slog.Handler that writes one short line per record,
// "15:04:05.000 WARN  message key=value ...", for a person watching the
// run. The framework's event messages (records whose first attribute is
// "event") already name the actor and its restart count, so their
// attributes are added only in detail mode (-log debug); other records,
// such as the logger's progress, show theirs always.
type lineHandler struct {
	mu     *sync.Mutex
	w      io.Writer
	level  slog.Leveler
	detail bool
	attrs  string // preformatted " key=value" pairs from WithAttrs
	group  string // prefix for keys, from WithGroup
}

func newLineHandler(w io.Writer, level slog.Level) *lineHandler {
	return &lineHandler{mu: new(sync.Mutex), w: w, level: level, detail: level <= slog.LevelDebug}
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	fmt.Fprintf(&b, "%s %-5s %s", t.Format("15:04:05.000"), r.Level, r.Message)
	if h.detail || !isEvent(r) {
		b.WriteString(h.attrs)
		r.Attrs(func(a slog.Attr) bool {
			h.appendAttr(&b, h.group, a)
			return true
		})
	}
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

// isEvent reports whether r is one of the framework's events, which carry
// their kind as their first attribute.
func isEvent(r slog.Record) bool {
	event := false
	r.Attrs(func(a slog.Attr) bool {
		event = a.Key == "event"
		return false
	})
	return event
}

func (h *lineHandler) appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			h.appendAttr(b, p, g)
		}
		return
	}
	v := a.Value.String()
	if strings.ContainsAny(v, " \t\n\"=") {
		v = fmt.Sprintf("%q", v)
	}
	fmt.Fprintf(b, " %s%s=%s", prefix, a.Key, v)
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		h.appendAttr(&b, h.group, a)
	}
	c.attrs = b.String()
	return &c
}

func (h *lineHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group += name + "."
	return &c
}
