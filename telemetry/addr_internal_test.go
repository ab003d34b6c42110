package telemetry

import (
	"net"
	"os"
	"testing"
)

// TestAddrInUse: a second listener on a taken port is "in use" (the case
// where robust's -telemetry moves to a free port); a host that is not this
// machine's is not; and Windows' own code for it, wrapped as the net
// package wraps it, is recognised on any system.
func TestAddrInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = net.Listen("tcp", l.Addr().String())
	if err == nil || !addrInUse(err) {
		t.Errorf("second listener on %s: %v, want an address-in-use error", l.Addr(), err)
	}
	// TEST-NET-1 is never this machine's, though a system that allows
	// binding foreign addresses may accept it.
	if l2, err := net.Listen("tcp", "192.0.2.1:0"); err == nil {
		l2.Close()
	} else if addrInUse(err) {
		t.Errorf("listening on a foreign address: %v, taken for address-in-use", err)
	}
	wrapped := &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", wsaeaddrinuse)}
	if !addrInUse(wrapped) {
		t.Errorf("%v not recognised as address-in-use", wrapped)
	}
}
