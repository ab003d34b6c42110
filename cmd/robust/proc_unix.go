//go:build unix

package main

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

// canKillSelf: -test-kill-at can SIGKILL the process on this system.
const canKillSelf = true

// killSelf ends the process with SIGKILL, as kill -9 would: no deferred
// call, no exit handler, no flush runs.
func killSelf() {
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	// The signal is delivered before the call returns; should it not be,
	// do nothing more that could pass for a clean stop.
	time.Sleep(time.Hour)
	panic("robust: SIGKILL to self did not end the process")
}

// detach puts a child in a process group of its own, so that a SIGINT
// from the terminal reaches the coordinator alone, which stops the
// children in the order the split run needs.
func detach(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// terminate asks a child to stop in order.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
