package kafkaharness

import (
	"os/exec"
	"runtime"
	"sync"
)

// Pdeathsig is delivered when the OS thread that started the child exits, not the process.
// Go may retire threads, so every broker is started from one goroutine locked to its thread
// for the life of the process: the signal then fires only when the test process dies.

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: this goroutine never returns
			for r := range spawnCh {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnCh <- spawnReq{cmd, done}
	return <-done
}
