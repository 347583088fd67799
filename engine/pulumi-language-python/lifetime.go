package main

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

// How the host ends with the engine, and takes its children with it.
//
// The engine starts the host in a process group of its own and closes it with SIGINT to that group; when the
// engine dies (kill -9, a crash) nothing is sent at all. So the host polls its parent: once it has been
// re-parented, the engine is gone and the host stops every process it started and exits. The parent-death
// signal (prctl PR_SET_PDEATHSIG) is not used: it follows the parent *thread* that forked, and Go starts
// children from whichever thread runs the goroutine, which may end before the child does.
//
// Each program or policy pack runs in a process group of its own, so that only the host decides when it stops:
// SIGTERM when the engine cancels the run, SIGKILL to the whole group when the host itself stops. The Python
// side watches its own parent too (replstack_runtime.py), for the case where the host is the one killed.

const (
	parentPollInterval = 250 * time.Millisecond
	// Exit status of a host whose engine is gone.
	parentGoneExitCode = 70
)

// watchParent calls gone once the parent process of this one has changed (the original parent has exited).
func watchParent(interval time.Duration, gone func()) {
	parent := os.Getppid()
	go func() {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for range ticker.C {
			if os.Getppid() != parent {
				gone()
				return
			}
		}
	}()
}

// ownProcessGroup makes cmd start as the leader of a new process group.
func ownProcessGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

// signalGroup sends sig to the process group that cmd leads (see ownProcessGroup).
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, sig)
	}
}
