package telemetry_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/steady-go/steady"
	"github.com/steady-go/steady/observe"
	"github.com/steady-go/steady/telemetry"
)

// /healthz says 503 before the graph runs, 200 "ok" while it runs with
// every actor, 503 naming the actor once one degrades, and 503 once the
// graph has stopped.
func TestHealthz(t *testing.T) {
	p := newPipeline(pipelineConfig{workerOpts: []steady.ActorOption{
		steady.Backoff(0, 0), steady.Intensity(1, time.Minute), steady.OnLimit(steady.Degrade),
	}})
	_, base := serve(t, p)

	if body := get(t, base+"/healthz", http.StatusServiceUnavailable); !strings.Contains(body, "not running") {
		t.Errorf("before Run: /healthz says %q, want it not running", body)
	}

	p.run(t)
	if body := get(t, base+"/healthz", http.StatusOK); body != "ok\n" {
		t.Errorf("running: /healthz says %q, want ok", body)
	}
	res, _ := fetch(t, http.MethodHead, base+"/healthz", nil)
	if res.StatusCode != http.StatusOK {
		t.Errorf("HEAD /healthz: %d, want 200", res.StatusCode)
	}

	p.failWorker() // one restart is allowed
	waitFor(t, 5*time.Second, "the worker to restart", func() bool { return p.actor(t, "worker").Restarts == 1 })
	if body := get(t, base+"/healthz", http.StatusOK); body != "ok\n" {
		t.Errorf("after one restart: /healthz says %q, want ok", body)
	}
	p.failWorker() // the second failure exceeds the intensity: degrade
	waitFor(t, 5*time.Second, "the graph to degrade", func() bool { return p.g.Status() == observe.GraphDegraded })
	body := get(t, base+"/healthz", http.StatusServiceUnavailable)
	if !strings.HasPrefix(body, "degraded: ") || !strings.Contains(body, `"worker"`) {
		t.Errorf("degraded: /healthz says %q, want the reason naming the worker", body)
	}

	p.stop(t)
	if body := get(t, base+"/healthz", http.StatusServiceUnavailable); !strings.HasPrefix(body, "stopped") {
		t.Errorf("after the run: /healthz says %q, want stopped", body)
	}
}

// /api/snapshot is JSON with the actors, channels, dead letters and the
// recent events, the commanded panic among them.
func TestAPISnapshot(t *testing.T) {
	p := newPipeline(pipelineConfig{poison: 40})
	p.run(t)
	_, base := serve(t, p)
	waitFor(t, 10*time.Second, "the poison value to be dead-lettered", func() bool { return len(p.g.DeadLetters()) == 1 })
	restarts := p.actor(t, "worker").Restarts
	p.failWorker()
	waitFor(t, 5*time.Second, "the worker to restart", func() bool { return p.actor(t, "worker").Restarts > restarts })

	res, body := fetch(t, http.MethodGet, base+"/api/snapshot", nil)
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var snap struct {
		Status  string `json:"status"`
		Healthy bool   `json:"healthy"`
		Actors  []struct {
			Name     string `json:"name"`
			Status   string `json:"status"`
			Restarts int64  `json:"restarts"`
		} `json:"actors"`
		Channels []struct {
			Name, Producer, Consumer string
			Capacity                 int
		} `json:"channels"`
		DeadLetters []struct {
			ID             uint64
			Actor, Channel string
			Value, Error   string
			Attempts       int
		} `json:"deadLetters"`
		Events []struct {
			Seq   uint64 `json:"seq"`
			Kind  string `json:"kind"`
			Actor string `json:"actor"`
			Text  string `json:"text"`
		} `json:"events"`
		EventsTotal  uint64   `json:"eventsTotal"`
		Availability *float64 `json:"availability"`
		Memory       *struct {
			Limit    uint64 `json:"limitBytes"`
			Pressure bool   `json:"pressure"`
		} `json:"memory"`
	}
	if err := json.Unmarshal([]byte(body), &snap); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	if snap.Status != "running" || !snap.Healthy {
		t.Errorf("status %q healthy %v, want running and healthy", snap.Status, snap.Healthy)
	}
	if len(snap.Actors) != 4 || len(snap.Channels) != 3 {
		t.Errorf("%d actors and %d channels, want 4 and 3", len(snap.Actors), len(snap.Channels))
	}
	if len(snap.DeadLetters) != 1 || snap.DeadLetters[0].Value != "40" || snap.DeadLetters[0].Channel != "values" ||
		!strings.Contains(snap.DeadLetters[0].Error, "poison") {
		t.Errorf("dead letters %+v, want value 40 from channel values", snap.DeadLetters)
	}
	kinds := map[string]bool{}
	for i, e := range snap.Events {
		if i > 0 && e.Seq != snap.Events[i-1].Seq+1 {
			t.Errorf("event sequence jumps from %d to %d", snap.Events[i-1].Seq, e.Seq)
		}
		if e.Actor == "worker" {
			kinds[e.Kind] = true
		}
		if e.Text == "" {
			t.Errorf("event %d has no text", e.Seq)
		}
	}
	for _, k := range []string{"panicked", "restarting", "dead_lettered"} {
		if !kinds[k] {
			t.Errorf("no %s event of the worker among %v", k, kinds)
		}
	}
	// The worker's failures cost the graph availability; no memory limit
	// is set anywhere, so memory is not watched.
	if a := snap.Availability; a == nil || *a >= 1 || *a <= 0 {
		t.Errorf("availability %v, want a share below 1 after the worker's failures", a)
	}
	if m := snap.Memory; m == nil || m.Limit != 0 || m.Pressure {
		t.Errorf("memory %+v, want not watched", m)
	}
	if n := len(snap.Events); n == 0 || snap.Events[n-1].Seq != snap.EventsTotal {
		t.Errorf("the last event is not number %d (eventsTotal)", snap.EventsTotal)
	}
}

// dotToken is a token of the DOT language; quoted says it was a quoted id.
type dotToken struct {
	text   string
	quoted bool
}

// lexDOT splits DOT text into tokens, unescaping quoted ids.
func lexDOT(t *testing.T, src string) []dotToken {
	t.Helper()
	var toks []dotToken
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "->"):
			toks = append(toks, dotToken{text: "->"})
			i += 2
		case strings.ContainsRune("{}[]=;,", rune(c)):
			toks = append(toks, dotToken{text: string(c)})
			i++
		case c == '"':
			var b strings.Builder
			i++
			for ; i < len(src) && src[i] != '"'; i++ {
				if src[i] == '\\' && i+1 < len(src) && src[i+1] == '"' {
					i++
				}
				b.WriteByte(src[i])
			}
			if i == len(src) {
				t.Fatalf("unterminated quoted string in DOT:\n%s", src)
			}
			i++
			toks = append(toks, dotToken{text: b.String(), quoted: true})
		case c == '_' || c == '.' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(src) && (src[j] == '_' || src[j] == '.' || src[j] >= '0' && src[j] <= '9' ||
				src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z') {
				j++
			}
			if j == i { // a lone '-' that is not "->"
				t.Fatalf("unexpected %q at offset %d in DOT:\n%s", c, i, src)
			}
			toks = append(toks, dotToken{text: src[i:j]})
			i = j
		default:
			t.Fatalf("unexpected %q at offset %d in DOT:\n%s", c, i, src)
		}
	}
	return toks
}

// dotGraph is what parseDOT found: node ids, and edges as "from -> to"
// with their labels.
type dotGraph struct {
	nodes map[string]bool
	edges map[string]string
}

// parseDOT checks that src is a digraph made of the statements WriteDOT
// uses (graph attributes, node and edge defaults, nodes and edges with
// attribute lists), with every node id quoted, and returns its nodes and
// edges.
func parseDOT(t *testing.T, src string) dotGraph {
	t.Helper()
	toks := lexDOT(t, src)
	g := dotGraph{nodes: map[string]bool{}, edges: map[string]string{}}
	pos := 0
	peek := func() dotToken {
		if pos < len(toks) {
			return toks[pos]
		}
		return dotToken{text: "<EOF>"}
	}
	next := func() dotToken { tok := peek(); pos++; return tok }
	expect := func(want string) {
		t.Helper()
		if tok := next(); tok.text != want || tok.quoted {
			t.Fatalf("DOT: got %q at token %d, want %q\n%s", tok.text, pos-1, want, src)
		}
	}
	attrs := func() map[string]string {
		t.Helper()
		m := map[string]string{}
		if peek().text != "[" || peek().quoted {
			return m
		}
		next()
		for peek().text != "]" || peek().quoted {
			k := next()
			expect("=")
			v := next()
			if k.text == "<EOF>" || v.text == "<EOF>" {
				t.Fatalf("DOT: unterminated attribute list\n%s", src)
			}
			m[k.text] = v.text
			if tok := peek(); !tok.quoted && (tok.text == "," || tok.text == ";") {
				next()
			}
		}
		next()
		return m
	}
	expect("digraph")
	if peek().quoted {
		next()
	}
	expect("{")
	for peek().text != "}" || peek().quoted {
		tok := next()
		switch {
		case tok.text == "<EOF>":
			t.Fatalf("DOT: missing closing brace\n%s", src)
		case !tok.quoted && (tok.text == "node" || tok.text == "edge" || tok.text == "graph"):
			attrs()
		case !tok.quoted && peek().text == "=":
			next()
			next() // a graph attribute
		case !tok.quoted:
			t.Fatalf("DOT: unquoted id %q\n%s", tok.text, src)
		case peek().text == "->" && !peek().quoted:
			next()
			to := next()
			if !to.quoted {
				t.Fatalf("DOT: unquoted edge target %q\n%s", to.text, src)
			}
			g.edges[tok.text+" -> "+to.text] = attrs()["label"]
		default:
			g.nodes[tok.text] = true
			if attrs()["label"] == "" {
				t.Errorf("DOT: node %q has no label", tok.text)
			}
		}
		if peek().text == ";" {
			next()
		}
	}
	expect("}")
	if pos != len(toks) {
		t.Fatalf("DOT: %d tokens after the closing brace\n%s", len(toks)-pos, src)
	}
	return g
}

// /graph.dot is a digraph with every actor a node, labelled with its
// status and restarts, and every channel an edge from producer to
// consumer, labelled with its fill and rate.
func TestGraphDOT(t *testing.T) {
	p := newPipeline(pipelineConfig{})
	p.run(t)
	_, base := serve(t, p)
	p.failWorker()
	waitFor(t, 5*time.Second, "the worker to restart", func() bool { return p.actor(t, "worker").Restarts == 1 })

	res, body := fetch(t, http.MethodGet, base+"/graph.dot", nil)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/vnd.graphviz") {
		t.Errorf("Content-Type %q", ct)
	}
	if strings.Count(body, "{") != strings.Count(body, "}") {
		t.Errorf("unbalanced braces:\n%s", body)
	}
	g := parseDOT(t, body)
	for _, a := range []string{"generator", "heartbeat", "worker", "logger"} {
		if !g.nodes[a] {
			t.Errorf("actor %q is not a node:\n%s", a, body)
		}
	}
	if len(g.nodes) != 4 {
		t.Errorf("%d nodes, want 4:\n%s", len(g.nodes), body)
	}
	edges := map[string]string{
		"heartbeat -> worker": "beats", "generator -> worker": "values", "worker -> logger": "messages",
	}
	for e, ch := range edges {
		lbl, ok := g.edges[e]
		if !ok {
			t.Errorf("no edge %s:\n%s", e, body)
			continue
		}
		if !regexp.MustCompile(`^` + ch + `\\n\d+/\d+ \(\d+%\) · \d+\.\d/s$`).MatchString(lbl) {
			t.Errorf("edge %s label %q, want the channel %s with fill and rate", e, lbl, ch)
		}
	}
	if len(g.edges) != 3 {
		t.Errorf("%d edges, want 3:\n%s", len(g.edges), body)
	}
	if !strings.Contains(body, `"worker\nrunning · 1 restart"`) {
		t.Errorf("the worker's label does not say running with 1 restart:\n%s", body)
	}
}

// Names with quotes, backslashes and newlines stay inside their quoted ids.
func TestWriteDOTQuotesNames(t *testing.T) {
	g := steady.NewGraph(steady.Config{})
	odd := "we\"ird\\name\nx"
	ch := steady.NewChannel[int](g, "c\"h", 4)
	a := g.Actor(odd, func(*steady.Actor) error { return nil })
	b := g.Actor("b -> c; d", func(*steady.Actor) error { return nil })
	ch.Sender(a)
	ch.Receiver(b)
	var sb strings.Builder
	if err := telemetry.WriteDOT(&sb, g.Snapshot()); err != nil {
		t.Fatal(err)
	}
	dg := parseDOT(t, sb.String())
	wantOdd := `we"ird\\name\nx` // as the lexer unescapes: only \" is undone
	if !dg.nodes[wantOdd] || !dg.nodes["b -> c; d"] || len(dg.nodes) != 2 {
		t.Errorf("nodes %v, want the two actors:\n%s", dg.nodes, sb.String())
	}
	if _, ok := dg.edges[wantOdd+" -> b -> c; d"]; !ok || len(dg.edges) != 1 {
		t.Errorf("edges %v, want the one channel:\n%s", dg.edges, sb.String())
	}
}

// A port in use is an error at once, naming the address; the first server
// keeps serving.
func TestStartPortInUse(t *testing.T) {
	p := newPipeline(pipelineConfig{})
	first, base := serve(t, p)
	addr := first.Addr().String()

	second := telemetry.New(p.g, p.rec)
	start := time.Now()
	got, err := second.Start(addr)
	if err == nil {
		second.Close()
		t.Fatalf("Start(%s) on a port in use: listening on %v, want an error", addr, got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("the error took %v", d)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("error %q does not name the address %s and say it is in use", err, addr)
	}
	if !errors.Is(err, telemetry.ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("error %q does not wrap ErrAddrInUse and EADDRINUSE", err)
	}
	if err := second.Close(); err != nil {
		t.Errorf("Close of a server that never started: %v", err)
	}
	get(t, base+"/healthz", http.StatusServiceUnavailable) // the first one still answers
}

// An address without a host, or none at all, means loopback; Close stops
// the server and waits for it, and is safe to call twice.
func TestStartLoopbackAndClose(t *testing.T) {
	p := newPipeline(pipelineConfig{})
	for _, in := range []string{"", ":0"} {
		s := telemetry.New(p.g, p.rec)
		addr, err := s.Start(in)
		if err != nil {
			t.Fatalf("Start(%q): %v", in, err)
		}
		tcp := addr.(*net.TCPAddr)
		if !tcp.IP.Equal(net.IPv4(127, 0, 0, 1)) || tcp.Port == 0 {
			t.Errorf("Start(%q) listens on %v, want 127.0.0.1 and a port", in, addr)
		}
		if _, err := s.Start(in); err == nil {
			t.Errorf("a second Start succeeded")
		}
		base := "http://" + addr.String()
		get(t, base+"/", http.StatusOK)
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := client.Get(base + "/healthz"); err == nil {
			t.Errorf("the server still answers after Close")
		}
	}
	if _, err := telemetry.New(p.g, p.rec).Start("no-port"); err == nil {
		t.Errorf("Start with a bad address succeeded")
	}
}

// The server offers no write method, sets no CORS header, and while on
// loopback answers only requests addressed to a loopback name.
func TestReadOnlyAndNoCORS(t *testing.T) {
	p := newPipeline(pipelineConfig{})
	p.run(t)
	_, base := serve(t, p)
	paths := []string{"/", "/metrics", "/graph.dot", "/api/snapshot", "/healthz", "/assets/app.js"}
	origin := http.Header{"Origin": {"http://evil.example"}}
	for _, path := range paths {
		for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
			res, body := fetch(t, m, base+path, origin)
			if res.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405; body %q", m, path, res.StatusCode, body)
			}
			if allow := res.Header.Get("Allow"); allow != "GET, HEAD" {
				t.Errorf("%s %s: Allow %q", m, path, allow)
			}
			if v := res.Header.Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("%s %s: Access-Control-Allow-Origin %q", m, path, v)
			}
		}
		res, _ := fetch(t, "GET", base+path, origin)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", path, res.StatusCode)
		}
		for k := range res.Header {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("GET %s sets %s", path, k)
			}
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", path)
		}
	}

	port := strings.TrimPrefix(base, "http://127.0.0.1")
	for host, want := range map[string]int{
		"evil.example" + port: http.StatusMisdirectedRequest,
		"localhost" + port:    http.StatusOK,
		"[::1]" + port:        http.StatusOK,
		"127.0.0.1" + port:    http.StatusOK,
	} {
		res, body := fetch(t, "GET", base+"/api/snapshot", http.Header{"Host": {host}})
		if res.StatusCode != want {
			t.Errorf("Host %s: %d, want %d; body %q", host, res.StatusCode, want, body)
		}
	}
}

// The dashboard is self-contained: its page, script and stylesheet come
// from the server, name no other origin, and the page forbids loading
// anything from elsewhere.
func TestDashboardSelfContained(t *testing.T) {
	srv := httptest.NewServer(telemetry.New(steady.NewGraph(steady.Config{}), nil).Handler())
	defer srv.Close()
	res, page := fetch(t, "GET", srv.URL+"/", nil)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("/: Content-Type %q", ct)
	}
	csp := res.Header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, d)
		}
	}
	assets := map[string]string{
		"/assets/app.js": "text/javascript", "/assets/style.css": "text/css", "/assets/favicon.svg": "image/svg+xml",
	}
	texts := []string{page}
	for path, ct := range assets {
		if !strings.Contains(page, path) {
			t.Errorf("the page does not load %s", path)
		}
		res, body := fetch(t, "GET", srv.URL+path, nil)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), ct) {
			t.Errorf("%s: %d %q, want 200 %s", path, res.StatusCode, res.Header.Get("Content-Type"), ct)
		}
		texts = append(texts, body)
	}
	// The SVG namespace is a name, not a location; any other URL would be
	// a dependency on the network.
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for i, text := range texts {
		for _, m := range url.FindAllString(text, -1) {
			if m != "http://www.w3.org" {
				t.Errorf("file %d names another origin: %s", i, m)
			}
		}
	}
	for _, path := range []string{"/assets/", "/assets/nope.js", "/nope"} {
		if res, _ := fetch(t, "GET", srv.URL+path, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}
