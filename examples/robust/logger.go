package robust

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/steady-go/steady"
)

// Sink is where the logger writes its lines: an *os.File, or anything that
// writes at an offset and can be cut back to a length.
type Sink interface {
	WriteAt(p []byte, off int64) (n int, err error)
	Truncate(size int64) error
}

// Range is the values [From, To).
type Range struct{ From, To uint64 }

// FillGap takes v out of the range of gaps it lies in, splitting the
// range if v is inside it, and reports whether it lay in one. It changes
// gaps in place.
func FillGap(gaps []Range, v uint64) ([]Range, bool) {
	i := slices.IndexFunc(gaps, func(g Range) bool { return g.From <= v && v < g.To })
	if i < 0 {
		return gaps, false
	}
	switch g := gaps[i]; {
	case g.To-g.From == 1:
		gaps = slices.Delete(gaps, i, i+1)
	case v == g.From:
		gaps[i].From++
	case v == g.To-1:
		gaps[i].To--
	default:
		gaps[i].To = v
		gaps = slices.Insert(gaps, i+1, Range{From: v + 1, To: g.To})
	}
	return gaps, true
}

// LoggerState is the logger's committed state: its statistics, a compact
// record of which values it logged, and the committed length of its output.
type LoggerState struct {
	Logged uint64                // messages logged
	Counts [NumCategories]uint64 // messages logged per category

	// Next is the value expected next. Messages arrive in value order, so
	// every value below Next was logged exactly once unless it lies in
	// Gaps, the values skipped on the way, or Repeats counts a message
	// below Next. A message below Next that lies in a gap is a replayed
	// dead letter, logged late: it fills its place in the gap. A correct
	// run has Repeats == 0 and Gaps equal to the dead-lettered values
	// (and the purged ones).
	Next           uint64
	Gaps           []Range
	Repeats        uint64
	Miscategorized uint64 // messages whose category is not their value's

	// FileLen is the length of the output as of the last committed step:
	// the lines of every committed message and nothing else.
	FileLen int64
}

// Clone deep-copies the state for a step (see [steady.State]): Gaps is a
// slice. It stays empty or short (one range per dead letter), so the copy
// is cheap.
func (s LoggerState) Clone() LoggerState {
	s.Gaps = slices.Clone(s.Gaps)
	return s
}

// The logger's named fault points ([steady.Step.Fault]): one in the middle
// of updating its statistics, and two around its output write, where
// cmd/robust's tests kill the process. They are passed only by steps that
// take messages; the write points only with an output.
const (
	// FaultLoggerCounted: the step has raised the category count of a
	// message, once per message, and recorded nothing else of it.
	FaultLoggerCounted = "robust.logger.counted"
	// FaultBeforeWrite: the step has taken its messages and built their
	// lines, and has not written them. The steps upstream that produced
	// the messages have committed.
	FaultBeforeWrite = "robust.logger.write"
	// FaultAfterWrite: the lines are in the output, and the step that
	// commits their length has not committed.
	FaultAfterWrite = "robust.logger.written"
)

// LoggerConfig configures [NewLogger].
type LoggerConfig struct {
	Batch int  // the most messages one step takes; below 1 means 1
	Out   Sink // where to write one line per message; nil for none
	// Log receives each logged message at Debug and, every
	// ProgressEvery (zero: never), a progress line at Info.
	// Nil means slog.Default().
	Log           *slog.Logger
	ProgressEvery time.Duration
	// Spool, if positive, is the memory in bytes the logger keeps for
	// each message it logged until its input pauses ([Logger.Spooled]
	// counts them): a stand-in for a sink that buffers its output
	// in memory and writes it out when the input pauses, so that its
	// memory grows with the work flowing in. It gives cmd/robust's
	// memory preset real memory pressure to react to.
	Spool int
}

// Logger takes the worker's messages, checks and counts them, and writes
// one line per message, "value\tCategory\n", to its output.
//
// The output is written exactly once, in order, although a step may fail
// after writing (see the package documentation): the step writes its lines
// at the committed length FileLen and commits the new length with the
// statistics; every run of the actor first truncates the output to the
// committed length, so the lines of a failed step are cut before the retry
// writes them again.
type Logger struct {
	Actor *steady.Actor
	State *steady.State[LoggerState]

	cfg   LoggerConfig
	log   *slog.Logger
	in    *steady.Receiver[Message]
	buf   []Message
	lines []byte
	taken int // messages taken by the last step, read once it committed

	lastProgress time.Time
	spool        spool
}

// NewLogger adds the logger to g, taking messages from in.
func NewLogger(g *steady.Graph, in *steady.Channel[Message], cfg LoggerConfig, opts ...steady.ActorOption) *Logger {
	x := &Logger{
		State: steady.NewState(g, LoggerName, LoggerState{}),
		cfg:   cfg,
		log:   cfg.Log,
		buf:   make([]Message, max(cfg.Batch, 1)),
	}
	if x.log == nil {
		x.log = slog.Default()
	}
	x.Actor = g.Actor(LoggerName, x.run, opts...)
	x.in = in.Receiver(x.Actor)
	x.State.Bind(x.Actor)
	return x
}

func (x *Logger) run(a *steady.Actor) error {
	if x.cfg.Out != nil {
		committed := x.State.Value().FileLen
		if f, ok := x.cfg.Out.(interface{ Stat() (os.FileInfo, error) }); ok {
			// A durable logger resuming on an output that lost committed
			// lines (another file, or one changed by hand) cannot make it
			// whole again: stop rather than pad it.
			if fi, err := f.Stat(); err == nil && fi.Size() < committed {
				return fmt.Errorf("%w: the output has %d bytes, fewer than the %d committed: it was replaced or cut outside the logger",
					steady.ErrStopGraph, fi.Size(), committed)
			}
		}
		// Cut whatever a failed step wrote past the committed end.
		if err := x.cfg.Out.Truncate(committed); err != nil {
			// An output that cannot be cut (a device, say) will not
			// be cut on the next try either: stop rather than restart
			// in a loop.
			return fmt.Errorf("%w: cut the output back to its committed length: %w", steady.ErrStopGraph, err)
		}
	}
	if x.lastProgress.IsZero() {
		x.lastProgress = time.Now()
	}
	for a.Running() {
		if x.spool.waiting(x.in.Len()) {
			if err := x.spool.idle(a, x.log); err != nil {
				return err
			}
			continue
		}
		if err := a.WaitAvailable(x.in, 1); err != nil {
			return err // ErrClosed finishes the actor: its input has ended
		}
		if err := a.Step(x.step); err != nil {
			return err
		}
		x.committed()
		x.spool.keep(x.taken, x.cfg.Spool)
	}
	return nil
}

func (x *Logger) step(s *steady.Step) error {
	k := x.in.PeekMany(s, x.buf)
	st := x.State.Get(s)
	lines := x.lines[:0]
	for _, m := range x.buf[:k] {
		if m.Category < NumCategories {
			st.Counts[m.Category]++
		}
		s.Fault(FaultLoggerCounted)
		if m.Category != Categorize(m.Value) {
			st.Miscategorized++
		}
		switch {
		case m.Value == st.Next:
			st.Next++
		case m.Value > st.Next:
			st.Gaps = append(st.Gaps, Range{From: st.Next, To: m.Value})
			st.Next = m.Value + 1
		default:
			var filled bool
			if st.Gaps, filled = FillGap(st.Gaps, m.Value); !filled {
				st.Repeats++
			}
		}
		st.Logged++
		lines = strconv.AppendUint(lines, m.Value, 10)
		lines = append(lines, '\t')
		lines = append(lines, m.Category.String()...)
		lines = append(lines, '\n')
	}
	x.lines = lines
	if x.cfg.Out != nil && len(lines) > 0 {
		s.Fault(FaultBeforeWrite)
		// Data first, then the length that commits it, as a database
		// writes its pages before the meta page.
		n, err := x.cfg.Out.WriteAt(lines, st.FileLen)
		if err != nil {
			// The step rolls back, and the graph stops in order: a
			// full disk or a broken device does not heal with a
			// restart, and chaos mode, which never gives up, would
			// retry it in a busy loop.
			return fmt.Errorf("%w: write the output: %w", steady.ErrStopGraph, err)
		}
		st.FileLen += int64(n)
		s.Fault(FaultAfterWrite)
	}
	x.taken = k
	return nil
}

// committed logs the messages of the step that just committed, and the
// progress when it is due. Logging after the commit, from what committed,
// logs each message once, as the file does.
func (x *Logger) committed() {
	ctx := context.Background()
	if x.log.Enabled(ctx, slog.LevelDebug) {
		for _, m := range x.buf[:x.taken] {
			x.log.LogAttrs(ctx, slog.LevelDebug, "logged",
				slog.Uint64("value", m.Value), slog.String("category", m.Category.String()))
		}
	}
	if x.cfg.ProgressEvery <= 0 {
		return
	}
	if now := time.Now(); now.Sub(x.lastProgress) >= x.cfg.ProgressEvery {
		x.lastProgress = now
		st := x.State.Value()
		x.log.LogAttrs(ctx, slog.LevelInfo, "logger progress",
			slog.Uint64("logged", st.Logged),
			slog.Uint64("fizz", st.Counts[Fizz]), slog.Uint64("buzz", st.Counts[Buzz]),
			slog.Uint64("fizzbuzz", st.Counts[FizzBuzz]), slog.Uint64("value", st.Counts[Value]))
	}
}
