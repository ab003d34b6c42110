package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/steady-go/steady"
)

// Server serves a graph's dashboard, metrics, DOT and health. Create it
// with [New]; either mount [Server.Handler] in a server of your own or let
// [Server.Start] and [Server.Close] run one.
type Server struct {
	g       *steady.Graph
	rec     *Recorder
	reg     *prometheus.Registry
	handler http.Handler

	mu     sync.Mutex
	srv    *http.Server
	addr   net.Addr
	served chan error // receives Serve's result, then is closed
}

// Timeouts of the HTTP server Start runs. Every response is small and
// computed at once, so short limits cost nothing and keep a slow or idle
// client from holding a connection.
const (
	readHeaderTimeout = 5 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = time.Minute
	// closeTimeout bounds how long Close waits for requests in flight.
	closeTimeout = 5 * time.Second
)

// New returns a server for g. rec, if not nil, supplies the recent events
// shown in the timeline and in /api/snapshot; it must be fed from g's
// [steady.Config.OnEvent] (see [Recorder]).
//
// The server's metrics live on a registry of its own (see
// [Server.Registry]), never on Prometheus' global one.
func New(g *steady.Graph, rec *Recorder) *Server {
	s := &Server{g: g, rec: rec, reg: prometheus.NewRegistry()}
	s.reg.MustRegister(NewCollector(g))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.serveDashboard)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", assetHandler()))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
	}))
	mux.HandleFunc("GET /graph.dot", s.serveDOT)
	mux.HandleFunc("GET /api/snapshot", s.serveSnapshot)
	mux.HandleFunc("GET /healthz", s.serveHealth)
	s.handler = securityHeaders(readOnly(mux))
	return s
}

// Registry is the server's own Prometheus registry, with the graph's
// [Collector] on it. Register more collectors on it to serve them at
// /metrics too (prometheus/collectors.NewGoCollector, say).
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Handler serves every endpoint, for mounting in a server of your own. It
// answers only GET and HEAD. Unlike Start, it does not check the Host
// header: that is up to the server that mounts it.
func (s *Server) Handler() http.Handler { return s.handler }

// ErrAddrInUse marks a [Server.Start] whose address another listener holds,
// on every system (errors.Is(err, syscall.EADDRINUSE) is false on Windows).
var ErrAddrInUse = errors.New("telemetry: the address is already in use")

// wsaeaddrinuse is Windows' "address already in use" (WSAEADDRINUSE), which
// its syscall package does not name; syscall.EADDRINUSE there is a number of
// Go's own that the network calls never return.
const wsaeaddrinuse = syscall.Errno(10048)

// addrInUse reports whether err, from net.Listen, says the address is taken.
func addrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, wsaeaddrinuse)
}

// Start listens on addr and serves in a goroutine that Close stops and
// waits for. It returns the address listened on, useful when addr asks for
// any free port (":0").
//
// An address without a host (":9900") or an empty one (any free port)
// binds to 127.0.0.1: serving other machines takes an explicit host, such
// as "0.0.0.0:9900". A port in use is reported at once, as an error naming
// the address that wraps [ErrAddrInUse] and the system's. While bound to a loopback address the server
// answers only requests whose Host is a loopback name or address, so a web
// page cannot read it through DNS rebinding.
func (s *Server) Start(addr string) (net.Addr, error) {
	addr, err := normalizeAddr(addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil, fmt.Errorf("telemetry: server already started on %s", s.addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if addrInUse(err) {
			return nil, fmt.Errorf("%w: cannot listen on %s (choose another, or \":0\" for any free port): %w", ErrAddrInUse, addr, err)
		}
		return nil, fmt.Errorf("telemetry: cannot listen on %s: %w", addr, err)
	}
	h := s.handler
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		h = loopbackHostOnly(h)
	}
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
	}
	s.addr = ln.Addr()
	s.served = make(chan error, 1)
	srv, served := s.srv, s.served
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		served <- err
		close(served)
	}()
	return s.addr, nil
}

// Addr is the address Start listens on, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close stops the server Start started: it stops listening, lets requests
// in flight finish (for up to five seconds, then cuts them) and returns
// once the serving goroutine has returned. Close without Start, or a
// second time, does nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	srv, served := s.srv, s.served
	s.srv, s.served = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	return errors.Join(err, <-served)
}

// normalizeAddr puts 127.0.0.1 in an address without a host.
func normalizeAddr(addr string) (string, error) {
	if addr == "" {
		return "127.0.0.1:0", nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("telemetry: bad address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

func (s *Server) serveDashboard(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(dashboardHTML)
}

func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	body, err := json.Marshal(newAPISnapshot(s.g.Snapshot(), s.rec))
	if err != nil {
		http.Error(w, "telemetry: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

func (s *Server) serveDOT(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	_ = WriteDOT(&b, s.g.Snapshot()) // a bytes.Buffer does not fail
	w.Header().Set("Content-Type", "text/vnd.graphviz; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b.Bytes())
}

// serveHealth answers 200 "ok" while the graph runs with every actor, and
// 503 with the reason otherwise: degraded, shutting down, stopped, or not
// started yet.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	ok, reason := healthOf(s.g.Snapshot())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = fmt.Fprintln(w, reason)
}

// readOnly answers any method but GET and HEAD with 405: the server has no
// write operation.
func readOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "telemetry is read-only: method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy lets the dashboard load its own script, styles and
// data and nothing else: no inline script, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// securityHeaders sets headers that keep browsers from sniffing, framing
// or leaking the pages. It sets no Access-Control-Allow-Origin: other
// origins cannot read anything.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// loopbackHostOnly refuses requests whose Host header is not a loopback
// name or address, with 421 Misdirected Request.
func loopbackHostOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackHost(r.Host) {
			http.Error(w, "telemetry: serving loopback clients only; Host "+r.Host+" refused",
				http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
