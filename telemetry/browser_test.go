package telemetry_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// The dashboard in a real browser: it loads with no console error, shows
// the four actors and three channels, and after a commanded failure the
// worker's restart count on the page goes up without a reload. The test
// saves a screenshot under its temp dir (and, when TELEMETRY_SCREENSHOT
// names a file, there too, to look at) and checks it is not blank.
func TestDashboardInBrowser(t *testing.T) {
	needBrowser(t)
	p := newPipeline(pipelineConfig{poison: 40})
	p.run(t)
	_, base := serve(t, p)
	waitFor(t, 10*time.Second, "the poison value to be dead-lettered", func() bool { return len(p.g.DeadLetters()) == 1 })

	ctx, consoleProblems := startBrowser(t)
	openDashboard(t, ctx, base)

	eval := func(js string, out any) {
		t.Helper()
		switch out := out.(type) {
		case *[]string:
			*out = evalJS[[]string](t, ctx, js)
		case *string:
			*out = evalJS[string](t, ctx, js)
		case *int:
			*out = evalJS[int](t, ctx, js)
		default:
			t.Fatalf("eval into %T", out)
		}
	}

	var actors, channels, edges, rows []string
	eval(`[...document.querySelectorAll("#graph [data-actor]")].map(e => e.dataset.actor).sort()`, &actors)
	eval(`[...document.querySelectorAll("#graph [data-channel]")].map(e => e.dataset.channel).sort()`, &channels)
	eval(`[...document.querySelectorAll("#graph [data-channel]")].map(e => e.dataset.producer + ">" + e.dataset.channel + ">" + e.dataset.consumer).sort()`, &edges)
	eval(`[...document.querySelectorAll("#actors tr[data-actor-row]")].map(e => e.dataset.actorRow).sort()`, &rows)
	if want := []string{"generator", "heartbeat", "logger", "worker"}; !slices.Equal(actors, want) || !slices.Equal(rows, want) {
		t.Errorf("the graph shows actors %v and the table %v, want %v", actors, rows, want)
	}
	if want := []string{"beats", "messages", "values"}; !slices.Equal(channels, want) {
		t.Errorf("the graph shows channels %v, want %v", channels, want)
	}
	if want := []string{"generator>values>worker", "heartbeat>beats>worker", "worker>messages>logger"}; !slices.Equal(edges, want) {
		t.Errorf("the graph's edges are %v, want %v", edges, want)
	}
	var deadLetters int
	eval(`document.querySelectorAll("#dead-letters [data-dead-letter]").length`, &deadLetters)
	if deadLetters != 1 {
		t.Errorf("the dead-letter list has %d rows, want 1", deadLetters)
	}
	var deadCount string
	eval(`document.querySelector("#dead-count").textContent`, &deadCount)
	if want := "1 of 1,000 in the store, 1 ever"; deadCount != want {
		t.Errorf("the dead-letter heading says %q, want %q", deadCount, want)
	}

	// A marker in the page's globals survives only if the page is never
	// reloaded.
	eval(`window.__noReload = "kept"`, new(string))
	const restartsJS = `document.querySelector('#graph [data-actor="worker"] [data-field="restarts"]').textContent`
	var before string
	eval(restartsJS, &before)
	want := p.actor(t, "worker").Restarts
	if before != strconv.FormatInt(want, 10) {
		t.Errorf("the page shows %s worker restarts, the graph %d", before, want)
	}

	p.failWorker()
	want++
	waitFor(t, 5*time.Second, "the worker to restart", func() bool { return p.actor(t, "worker").Restarts == want })
	var after string
	deadline := time.Now().Add(10 * time.Second)
	for {
		eval(restartsJS, &after)
		if after == strconv.FormatInt(want, 10) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if after != strconv.FormatInt(want, 10) {
		t.Fatalf("the page shows %s worker restarts after the failure, want %d", after, want)
	}
	var marker, tableRestarts string
	eval(`String(window.__noReload)`, &marker)
	if marker != "kept" {
		t.Errorf("the page was reloaded")
	}
	eval(`document.querySelector('#actors tr[data-actor-row="worker"] td[data-field="restarts"]').textContent`, &tableRestarts)
	if tableRestarts != strconv.FormatInt(want, 10) {
		t.Errorf("the actors table shows %s worker restarts, want %d", tableRestarts, want)
	}
	// A graph without a store has no other history: the actors table
	// is as it was before there were columns over every run.
	var history, histCells string
	eval(`document.querySelector("#actors").dataset.history`, &history)
	eval(`[...document.querySelectorAll("#actors .hist")].map(e => getComputedStyle(e).display).join(",")`, &histCells)
	if history != "false" || strings.Trim(strings.ReplaceAll(histCells, "none", ""), ",") != "" || histCells == "" {
		t.Errorf("in memory: the actors table has data-history %q and its columns over every run display as %q, want them hidden", history, histCells)
	}
	var panics int
	eval(`document.querySelectorAll('#timeline li[data-kind="panicked"][data-actor="worker"]').length`, &panics)
	if panics == 0 {
		t.Errorf("the timeline shows no panic of the worker")
	}
	var availability, memory string
	eval(`document.querySelector('#kpi-availability [data-field="availability"]').textContent`, &availability)
	eval(`document.querySelector('#kpi-memory [data-field="memory"]').textContent`, &memory)
	if v, err := strconv.ParseFloat(strings.TrimSuffix(availability, "%"), 64); err != nil || v <= 0 || v >= 100 {
		t.Errorf("the header shows availability %q, want a percentage below 100 after the worker's failures", availability)
	}
	if memory != "off" {
		t.Errorf("the header shows memory %q, want off (no limit set)", memory)
	}

	// Let the flash of the restart fade, then take the picture.
	time.Sleep(1500 * time.Millisecond)
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.TempDir(), "dashboard.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if extra := os.Getenv("TELEMETRY_SCREENSHOT"); extra != "" {
		if err := os.WriteFile(extra, shot, 0o644); err != nil {
			t.Errorf("saving the screenshot to %s: %v", extra, err)
		}
	}
	checkNotBlank(t, shot)

	for _, p := range consoleProblems() {
		t.Errorf("browser console: %s", p)
	}
}

// TestDashboardShowsHistory: for a graph resumed from a store on which an
// earlier run failed, the actors table shows each actor's restarts and
// availability over every run, next to this run's, as the API gives them.
func TestDashboardShowsHistory(t *testing.T) {
	needBrowser(t)
	s1, p := resumed(t)
	_, base := serve(t, p)
	p.stop(t) // the figures stop moving; the page shows the last of them
	s2 := p.g.Snapshot()

	ctx, consoleProblems := startBrowser(t)
	openDashboard(t, ctx, base)
	if got := evalJS[string](t, ctx, `document.querySelector("#actors").dataset.history`); got != "true" {
		t.Fatalf("the actors table has data-history %q, want true for a resumed graph", got)
	}
	for i, a := range s2.Actors {
		cell := func(field string) string {
			return fmt.Sprintf(`document.querySelector('#actors tr[data-actor-row=%q] td[data-field=%q]')`, a.Name, field)
		}
		shown := evalJS[[]string](t, ctx, fmt.Sprintf(`[%s, %s, %s].map(e => getComputedStyle(e).display + "|" + e.textContent)`,
			cell("restarts"), cell("restarts-all"), cell("availability-all")))
		want := []string{
			"table-cell|" + strconv.FormatInt(a.Restarts, 10),
			"table-cell|" + strconv.FormatInt(s1.Actors[i].History.Restarts+a.Restarts, 10),
		}
		if !slices.Equal(shown[:2], want) {
			t.Errorf("%s: restarts this run and over every run show as %q, want %q", a.Name, shown[:2], want)
		}
		display, text, _ := strings.Cut(shown[2], "|")
		pct, err := strconv.ParseFloat(strings.TrimSuffix(text, "%"), 64)
		if display != "table-cell" || err != nil || math.Abs(pct-100*a.History.Availability) > 0.05 {
			t.Errorf("%s: availability over every run shows as %q, want %.2f%%", a.Name, shown[2], 100*a.History.Availability)
		}
	}
	const total = firstRunFailures + secondRunFailures
	if got := evalJS[string](t, ctx, `document.querySelector('#actors tr[data-actor-row="worker"] td[data-field="restarts-all"]').textContent`); got != strconv.Itoa(total) {
		t.Errorf("the worker's restarts over every run show as %q, want %d", got, total)
	}
	for _, p := range consoleProblems() {
		t.Errorf("browser console: %s", p)
	}
}

// needBrowser skips the test without chromium, outside CI; CI must have it.
func needBrowser(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("no browser at %s (apt-get install chromium); CI runs this test", chromiumPath)
		}
		t.Fatalf("CI must run the browser test, but %s is missing: %v", chromiumPath, err)
	}
}

// openDashboard loads the dashboard at base and waits for its first render.
func openDashboard(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1600, 1000),
		chromedp.Navigate(base+"/"),
		chromedp.WaitReady(chromedp.CSS(`body[data-ready="true"]`)),
	); err != nil {
		t.Fatalf("loading the dashboard: %v", err)
	}
}

// evalJS evaluates js in the page and returns its value.
func evalJS[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluating %s: %v", js, err)
	}
	return out
}

// startBrowser starts headless chromium with a fresh profile and returns
// a context for its tab, and a function that lists the console errors,
// uncaught exceptions and browser log errors (a failed load, a refused
// script) seen so far. The test's cleanup closes the browser and waits for
// everything the driver started.
func startBrowser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1600, 1000),
	)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	ctx, cancel := context.WithTimeout(browserCtx, 45*time.Second)

	var (
		mu       sync.Mutex
		problems []string
		wg       sync.WaitGroup
	)
	messages := chromedp.Console(ctx)
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, m.String()+" ("+m.URL+")")
				mu.Unlock()
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		cancelBrowser()
		cancelAlloc()
		wg.Wait()
	})
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(problems)
	}
}

// checkNotBlank decodes a PNG and fails if its luminance barely varies or
// it has few distinct colours: a blank or unstyled page.
func checkNotBlank(t *testing.T, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("the screenshot is %v, want the 1600×1000 window", b)
	}
	var n, sum, sumSq float64
	colours := map[uint32]bool{}
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			l := (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(bl)) / 257
			n++
			sum += l
			sumSq += l * l
			colours[(r>>11)<<10|(g>>11)<<5|bl>>11] = true
		}
	}
	mean := sum / n
	std := math.Sqrt(max(0, sumSq/n-mean*mean))
	if std < 5 || len(colours) < 30 {
		t.Errorf("the screenshot looks blank: luminance %.1f ± %.1f, %d colours", mean, std, len(colours))
	}
}
