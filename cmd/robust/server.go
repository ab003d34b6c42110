package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strconv"

	"github.com/steady-go/steady/internal/jsserver"
)

// defaultServerURL is where -role server listens without -nats: NATS's
// usual port, on loopback only.
const defaultServerURL = "nats://127.0.0.1:4222"

// serverAddr is the host and port -role server listens on, from -nats.
func serverAddr(nats string) (string, int, error) {
	if nats == "" {
		nats = defaultServerURL
	}
	u, err := url.Parse(nats)
	if err != nil || u.Scheme != "nats" {
		return "", 0, fmt.Errorf("flag -nats: -role server serves nats://HOST:PORT (no TLS), not %q", nats)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("flag -nats: -role server needs a port in %q", nats)
	}
	return u.Hostname(), port, nil
}

// runServer is -role server: a JetStream server on -nats's address,
// keeping its streams in -state, until ctx is done (SIGINT or SIGTERM).
// It returns the exit status.
func runServer(ctx context.Context, cfg config, stderr io.Writer) int {
	log := slog.New(newLineHandler(stderr, cfg.logLevel))
	host, port, err := serverAddr(cfg.nats)
	if err != nil {
		return usageError(stderr, err)
	}
	s, err := jsserver.Start(jsserver.Options{Dir: cfg.state, Host: host, Port: port})
	if err != nil {
		fmt.Fprintf(stderr, "robust: %v\n", err)
		return 1
	}
	log.Info("robust: JetStream server started", "url", s.URL(), "streams", cfg.state)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		log.Warn("robust: the server listens beyond this machine and asks for no credentials: whoever reaches it can read and write its streams", "host", host)
	}
	<-ctx.Done()
	s.Shutdown()
	log.Info("robust: server stopped", "cause", context.Cause(ctx))
	return 0
}
