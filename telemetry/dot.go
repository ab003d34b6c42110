package telemetry

import (
	"fmt"
	"io"
	"strings"

	"github.com/steady-go/steady/observe"
)

// Node colors by actor status: fill and border, on a light background as
// Graphviz renders by default.
var dotColors = map[observe.ActorStatus][2]string{
	observe.StatusIdle:       {"#eceff1", "#78909c"},
	observe.StatusRunning:    {"#e8f5e9", "#2e7d32"},
	observe.StatusBackingOff: {"#fff8e1", "#f9a825"},
	observe.StatusStopped:    {"#eceff1", "#546e7a"},
	observe.StatusDegraded:   {"#ffebee", "#c62828"},
}

// WriteDOT writes the graph of s in Graphviz DOT: one node per actor,
// labelled with its status and restarts, and one edge per channel, from
// its producer to its consumer, labelled with its fill and rate. Every id
// is quoted, so any actor or channel name is safe.
func WriteDOT(w io.Writer, s observe.Snapshot) error {
	var b strings.Builder
	b.WriteString("digraph \"steady\" {\n")
	b.WriteString("\trankdir=LR;\n")
	fmt.Fprintf(&b, "\tlabel=%s;\n\tlabelloc=t;\n", quote("steady graph: "+label(s.Status)))
	b.WriteString("\tnode [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n")
	b.WriteString("\tedge [fontname=\"Helvetica\", fontsize=10];\n")
	for _, a := range s.Actors {
		c := dotColors[a.Status]
		if c[0] == "" {
			c = dotColors[observe.StatusIdle]
		}
		lbl := fmt.Sprintf("%s\n%s · %d %s", a.Name, a.Status, a.Restarts, plural(a.Restarts, "restart"))
		if a.DeadLetters > 0 {
			lbl += fmt.Sprintf("\n%d dead %s", a.DeadLetters, plural(a.DeadLetters, "letter"))
		}
		fmt.Fprintf(&b, "\t%s [label=%s, fillcolor=%s, color=%s];\n",
			quote(a.Name), quote(lbl), quote(c[0]), quote(c[1]))
	}
	for _, c := range s.Channels {
		if c.Producer == "" || c.Consumer == "" {
			continue // not wired; Run refuses such a graph
		}
		lbl := fmt.Sprintf("%s\n%d/%d (%.0f%%) · %.1f/s", c.Name, c.Len, c.Capacity, 100*c.Fill, sendRate(c, s.Status))
		color := "#546e7a"
		switch {
		case c.BackedUp || c.Fill >= 0.9:
			color = "#c62828"
		case c.Fill >= 0.5:
			color = "#f9a825"
		}
		style := "solid"
		if c.Closed {
			style = "dashed"
		}
		fmt.Fprintf(&b, "\t%s -> %s [label=%s, color=%s, fontcolor=%s, style=%s];\n",
			quote(c.Producer), quote(c.Consumer), quote(lbl), quote(color), quote(color), style)
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// quote makes s a quoted DOT id. Inside quotes DOT escapes only the double
// quote; a backslash starts a label escape (\n, \l), so a literal one is
// doubled, and a newline becomes \n.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", "")
	return `"` + r.Replace(s) + `"`
}

func plural[N int | int64](n N, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
