package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// daemon is one run of `podnet serve`.
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been reaped
	err  error         // Wait's result, readable once done is closed
	// signalled records that the harness stopped the process, so an exit is not a crash.
	signalled bool
}

// startDaemon starts argv with output appended to logFile. The process is started from, and
// waited for on, a thread locked for its whole life: Pdeathsig fires when the starting thread
// exits, and it is what kills the daemon if the test binary dies without running its cleanups
// (a `go test -timeout` panic).
func startDaemon(argv, env []string, logFile *os.File) (*daemon, error) {
	d := &daemon{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("starting %s: %w", argv[0], err)
			return
		}
		d.cmd = cmd
		started <- nil
		d.err = cmd.Wait()
		close(d.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// exitError explains an exit the harness did not ask for.
func (d *daemon) exitError() error {
	if d.err == nil {
		return errors.New("podnet exited with status 0 on its own")
	}
	return fmt.Errorf("podnet exited on its own: %w", d.err)
}

// stop sends SIGTERM and waits up to grace for a clean exit, then SIGKILLs. The error says what
// broke the SIGTERM contract: an earlier crash, a hang, or a non-zero exit.
func (d *daemon) stop(grace time.Duration) error {
	if d.exited() {
		if d.signalled {
			return nil
		}
		return d.exitError()
	}
	d.signalled = true
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !d.exited() {
		return fmt.Errorf("sending SIGTERM to podnet: %w", err)
	}
	select {
	case <-d.done:
		if d.err != nil {
			return fmt.Errorf("podnet exited badly after SIGTERM: %w", d.err)
		}
		return nil
	case <-time.After(grace):
	}
	d.kill()
	return fmt.Errorf("podnet did not stop within %s of SIGTERM; killed it", grace)
}

// kill sends SIGKILL and waits for the process to be reaped.
func (d *daemon) kill() {
	d.signalled = true
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}
