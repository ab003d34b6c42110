package telemetry_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/telemetry"
)

// Serving a graph's dashboard and metrics while it runs. The recorder is
// chained into the graph's event hook so the dashboard can show a
// timeline; the server binds to loopback and stops after the graph.
func Example() {
	rec := telemetry.NewRecorder(0)
	g := steady.NewGraph(steady.Config{OnEvent: rec.Record})
	// ... channels and actors ...

	srv := telemetry.New(g, rec)
	addr, err := srv.Start(":9900") // 127.0.0.1:9900
	if err != nil {
		log.Printf("no telemetry: %v", err) // the graph runs on without it
	} else {
		log.Printf("dashboard at http://%s/", addr)
		defer srv.Close()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := g.Run(ctx); err != nil {
		log.Print(err)
	}
}

// Keeping an event hook that is already set.
func ExampleRecorder_Chain() {
	cfg := steady.Config{OnEvent: func(e observe.Event) { fmt.Println("hook:", e) }}
	rec := telemetry.NewRecorder(100)
	cfg.OnEvent = rec.Chain(cfg.OnEvent)

	cfg.OnEvent(observe.Event{Kind: observe.EventShutdownRequested, Reason: "deploy"})
	fmt.Println("recorded:", len(rec.Events()))
	// Output:
	// hook: shutdown requested: deploy
	// recorded: 1
}

// The graph in Graphviz DOT, as /graph.dot serves it. Render it with
// `dot -Tsvg`.
func ExampleWriteDOT() {
	g := steady.NewGraph(steady.Config{})
	numbers := steady.NewChannel[int](g, "numbers", 16)
	gen := g.Actor("generator", func(*steady.Actor) error { return nil })
	printer := g.Actor("printer", func(*steady.Actor) error { return nil })
	numbers.Sender(gen)
	numbers.Receiver(printer)

	if err := telemetry.WriteDOT(os.Stdout, g.Snapshot()); err != nil {
		fmt.Println(err)
	}
	// Output:
	// digraph "steady" {
	// 	rankdir=LR;
	// 	label="steady graph: building";
	// 	labelloc=t;
	// 	node [shape=box, style="rounded,filled", fontname="Helvetica"];
	// 	edge [fontname="Helvetica", fontsize=10];
	// 	"generator" [label="generator\nidle · 0 restarts", fillcolor="#eceff1", color="#78909c"];
	// 	"printer" [label="printer\nidle · 0 restarts", fillcolor="#eceff1", color="#78909c"];
	// 	"generator" -> "printer" [label="numbers\n0/16 (0%) · 0.0/s", color="#546e7a", fontcolor="#546e7a", style=solid];
	// }
}
