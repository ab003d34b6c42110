// Package jsserver runs a NATS server with JetStream inside the process,
// for steady's tests and for robust's split demonstration when it is not
// given a server's URL. The library itself (package jsbridge) needs only
// the client, nats.go; this package is what links the server.
package jsserver

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configures Start. The zero value is a server on a free loopback
// port keeping JetStream's files in a directory the caller must then set:
// Dir is required.
type Options struct {
	Dir  string // JetStream's store directory; required
	Host string // default "127.0.0.1": loopback unless told otherwise
	Port int    // default: a free port
	// A server of a cluster has a Name, the cluster's name, a port for
	// the cluster's routes, and the route URLs of the others
	// (nats-route://host:port). Zero: a server on its own.
	Name        string
	Cluster     string
	ClusterPort int
	Routes      []string

	// SyncAlways fsyncs every write (JetStream's sync_interval: always),
	// so that an acknowledged message survives a power loss. Default:
	// the server's own (a sync every 2 minutes).
	SyncAlways bool
}

// readyTimeout bounds how long Start waits for the server to accept
// connections: it takes milliseconds, or a second or two to recover a
// large store.
const readyTimeout = 30 * time.Second

// Server is a running embedded server.
type Server struct {
	s *server.Server
}

// Start starts a server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("jsserver: Options.Dir is empty")
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = server.RANDOM_PORT
	}
	so := &server.Options{
		ServerName: o.Name,
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.Dir,
		SyncAlways: o.SyncAlways,
		NoLog:      true,
		NoSigs:     true,
	}
	if o.Cluster != "" {
		so.Cluster = server.ClusterOpts{Name: o.Cluster, Host: o.Host, Port: o.ClusterPort}
		so.Routes = server.RoutesFromStr(strings.Join(o.Routes, ","))
	}
	s, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("jsserver: %w", err)
	}
	s.Start()
	if !s.ReadyForConnections(readyTimeout) {
		s.Shutdown()
		s.WaitForShutdown()
		return nil, fmt.Errorf("jsserver: not ready for connections after %v (port %d in use?)", readyTimeout, o.Port)
	}
	return &Server{s: s}, nil
}

// URL is the address clients connect to, nats://host:port.
func (s *Server) URL() string { return s.s.ClientURL() }

// Shutdown stops the server and waits until it has.
func (s *Server) Shutdown() {
	s.s.Shutdown()
	s.s.WaitForShutdown()
}
