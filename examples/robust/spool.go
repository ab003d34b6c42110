package robust

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/steady-go/steady"
)

// The spool's pace, and why.
const (
	// spoolIdle: the logger writes its spool out once its input has been
	// empty this long. A quarter second is ten beats of the default run
	// and fifty of the memory preset's, so a flowing pipeline never
	// looks idle, even on a busy machine; a held or finished one does
	// within a fraction of the memory watch's one-second recheck.
	spoolIdle = 250 * time.Millisecond
	// spoolPoll: while it holds a spool, the logger looks at its input
	// this often instead of waiting on it, to notice the pause. 5 ms
	// adds at most that to a message's latency.
	spoolPoll = 5 * time.Millisecond
)

// spool is the memory a logger with [LoggerConfig.Spool] keeps: one
// buffer per message logged since its input last paused. Only the
// logger's goroutine touches it, except count, which [Logger.Spooled]
// reads.
type spool struct {
	bufs     [][]byte
	lastTake time.Time // when the logger last took messages
	count    atomic.Int64
}

// Spooled is the number of messages whose memory the logger keeps now
// (see [LoggerConfig.Spool]). It may be called from any goroutine.
func (x *Logger) Spooled() int { return int(x.spool.count.Load()) }

// keep adds n buffers of size bytes, for the n messages just logged.
func (p *spool) keep(n, size int) {
	if size <= 0 || n == 0 {
		return
	}
	for range n {
		b := make([]byte, size)
		b[0] = 1 // the buffer is the logger's: touch it, as a real spool writes it
		p.bufs = append(p.bufs, b)
	}
	p.count.Store(int64(len(p.bufs)))
	p.lastTake = time.Now()
}

// waiting reports whether the logger, holding a spool, finds its input
// empty: it should look again shortly rather than wait for input.
func (p *spool) waiting(inputLen int) bool { return len(p.bufs) > 0 && inputLen == 0 }

// idle writes the spool out once the input has been empty for spoolIdle,
// and otherwise sleeps spoolPoll.
func (p *spool) idle(a *steady.Actor, log *slog.Logger) error {
	if quiet := time.Since(p.lastTake); quiet >= spoolIdle {
		log.LogAttrs(context.Background(), slog.LevelDebug, "logger spool written out",
			slog.Duration("idle", quiet.Round(time.Millisecond)),
			slog.Int("messages", len(p.bufs)), slog.Int("bytes", len(p.bufs)*len(p.bufs[0])))
		p.bufs = nil
		p.count.Store(0)
		return nil
	}
	return a.Sleep(spoolPoll)
}
