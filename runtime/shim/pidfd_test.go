package shim

import (
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A signal landing on the polling thread (Go preempts with SIGURG) must not read as the
// process's exit: poll(2) then fails with EINTR, and a live shim was once taken for dead.
func TestPidfdExitedUnderSignals(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	fd, err := unix.PidfdOpen(cmd.Process.Pid, 0)
	if err != nil {
		t.Skipf("pidfd_open: %v", err)
	}
	defer unix.Close(fd)

	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			// SIGURG is what the runtime itself sends; Go ignores it when nobody asked for it.
			syscall.Kill(syscall.Getpid(), syscall.SIGURG)
		}
	}()
	for i := range 200000 {
		exited, err := pidfdExited(fd)
		if err != nil || exited {
			stop.Store(true)
			<-done
			t.Fatalf("poll %d on a live process: exited=%v err=%v", i, exited, err)
		}
	}
	stop.Store(true)
	<-done

	cmd.Process.Kill()
	cmd.Wait()
	if exited, err := pidfdExited(fd); err != nil || !exited {
		t.Fatalf("after the process was reaped: exited=%v err=%v", exited, err)
	}
}
