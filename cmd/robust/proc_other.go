//go:build !unix

package main

import (
	"os"
	"os/exec"
)

// canKillSelf: -test-kill-at needs SIGKILL, which this system lacks.
const canKillSelf = false

func killSelf() { panic("robust: no SIGKILL on this system") }

// detach does nothing here: the child shares the coordinator's console.
func detach(*exec.Cmd) {}

// terminate ends a child: this system has no signal that asks a process
// to stop in order.
func terminate(p *os.Process) error { return p.Kill() }
