package telemetry_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/telemetry"
)

// The names and the data the dashboard shows are the user's: an actor, a
// channel, a panic value, a dead letter. Each of these carries markup that
// would run a script if the page put it into HTML.
const (
	hostileActor   = `<img src=x onerror="window.__owned='actor'">`
	hostileChannel = `ch"><svg onload="window.__owned='channel'">`
	hostileValue   = `<script>window.__owned='value'</script>`
	hostilePanic   = `<img src=y onerror="window.__owned='panic'">`
)

// TestDashboardRendersHostileDataAsText: none of it becomes markup or runs,
// and each shows as the text it is.
func TestDashboardRendersHostileDataAsText(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("no browser at %s (apt-get install chromium); CI runs this test", chromiumPath)
		}
		t.Fatalf("CI must run the browser test, but %s is missing: %v", chromiumPath, err)
	}

	rec := telemetry.NewRecorder(0)
	g := steady.NewGraph(steady.Config{Logger: slog.New(slog.DiscardHandler), OnEvent: rec.Record})
	ch := steady.NewChannel[string](g, hostileChannel, 4)
	var out *steady.Sender[string]
	src := g.Actor("source", func(a *steady.Actor) error {
		if err := a.WaitVacant(out, 1); err != nil {
			return err
		}
		if err := a.Step(func(s *steady.Step) error { return out.Send(s, hostileValue) }); err != nil {
			return err
		}
		return a.Sleep(time.Hour)
	})
	out = ch.Sender(src)
	var in *steady.Receiver[string]
	sink := g.Actor(hostileActor, func(a *steady.Actor) error {
		return steady.Sink(a, in, func(*steady.Step, string) error {
			panic(errors.New(hostilePanic))
		})
	}, steady.Backoff(0, 0), steady.PoisonAfter(2))
	in = ch.Receiver(sink)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitFor(t, 10*time.Second, "the hostile value to be dead-lettered", func() bool { return len(g.DeadLetters()) == 1 })

	srv := telemetry.New(g, rec)
	addr, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	bctx, _ := startBrowser(t)
	if err := chromedp.Do(bctx,
		chromedp.Navigate("http://"+addr.String()+"/"),
		chromedp.WaitReady(`body[data-ready="true"]`),
		chromedp.WaitVisible(`#dead-letters [data-dead-letter]`),
		chromedp.Sleep(1500*time.Millisecond), // a poll or two more, with the timeline
	); err != nil {
		t.Fatalf("loading the dashboard: %v", err)
	}
	owned, err := chromedp.Run(bctx, chromedp.Evaluate[string](`String(window.__owned)`))
	if err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	// The page's Content-Security-Policy would stop inline handlers from
	// running even if markup got in, so look for the markup itself too.
	injected, err := chromedp.Run(bctx, chromedp.Evaluate[int](
		`document.querySelectorAll("[onerror], [onload], script:not([src])").length`))
	if err != nil {
		t.Fatal(err)
	}
	if injected != 0 {
		t.Errorf("the page holds %d elements made from the data's markup", injected)
	}
	if owned != "undefined" {
		t.Errorf("the page ran injected markup, from the %s", owned)
	}
	for _, s := range []string{hostileActor, hostileChannel, hostileValue, hostilePanic} {
		if !strings.Contains(text, s) {
			t.Errorf("the page does not show %q as text", s)
		}
	}
}
