package shim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/runtime/shim/wire"
)

// ErrRunning is returned by Remove while the shim is alive.
var ErrRunning = errors.New("shim is still running")

// Shim is the daemon's handle on one shim, started by Start or found again by Adopt.
type Shim struct {
	stateDir string
	shimPid  int
	childPid int

	shimFD  *os.File // pidfd of the shim, nil if it was gone when adopted
	childFD int      // pidfd of the container process, -1 if unknown

	watch sync.Once
	done  chan struct{} // closed when the shim process has exited
}

// Start runs a shim for cfg and returns once the container's command has started (or failed to:
// the error is the shim's, e.g. the executable was not found).
func Start(ctx context.Context, cfg Config) (*Shim, error) {
	cfg.setDefaults()
	err := cfg.validate()
	if cfg.Binary == "" {
		err = errors.Join(err, errors.New("shim binary is empty"))
	}
	if err != nil {
		return nil, fmt.Errorf("shim %s: %w", cfg.ID, err)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("shim %s: state dir: %w", cfg.ID, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("shim %s: %w", cfg.ID, err)
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, cfg.Binary, cfg.Args()...)
	cmd.ExtraFiles = []*os.File{w}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	w.Close()
	if err != nil {
		return nil, fmt.Errorf("shim %s: start %s: %w", cfg.ID, cfg.Binary, err)
	}
	out, rerr := io.ReadAll(r)
	werr := cmd.Wait()
	var rep wire.Report
	if jerr := json.Unmarshal(bytes.TrimSpace(out), &rep); jerr != nil || rerr != nil {
		return nil, fmt.Errorf("shim %s: no start report (%v): %s", cfg.ID, werr, bytes.TrimSpace(stderr.Bytes()))
	}
	if rep.Error != "" {
		return nil, fmt.Errorf("shim %s: %s", cfg.ID, rep.Error)
	}
	s := &Shim{stateDir: cfg.StateDir, shimPid: rep.ShimPid, childPid: rep.ChildPid, childFD: -1, done: make(chan struct{})}
	if err := s.open(); err != nil {
		return nil, fmt.Errorf("shim %s: %w", cfg.ID, err)
	}
	return s, nil
}

// Adopt finds the shim whose state directory is stateDir again, after a daemon restart. It works
// whether the shim still runs or has exited already (then Exited reports its exit.json).
func Adopt(stateDir string) (*Shim, error) {
	shimPid, err := readPid(stateDir, wire.ShimPidFile)
	if err != nil {
		return nil, fmt.Errorf("adopt shim in %s: %w", stateDir, err)
	}
	childPid, err := readPid(stateDir, wire.ChildPidFile)
	if err != nil {
		return nil, fmt.Errorf("adopt shim in %s: %w", stateDir, err)
	}
	s := &Shim{stateDir: stateDir, shimPid: shimPid, childPid: childPid, childFD: -1, done: make(chan struct{})}
	if err := s.open(); err != nil {
		return nil, fmt.Errorf("adopt shim in %s: %w", stateDir, err)
	}
	return s, nil
}

// open takes pidfds on the shim and the child, so that neither a recycled pid nor a race with
// their exit can make Wait or Signal act on another process. A shim pid whose command line does
// not name this state directory is someone else's now: the shim is gone.
func (s *Shim) open() error {
	fd, err := unix.PidfdOpen(s.shimPid, unix.PIDFD_NONBLOCK)
	if err == nil && !s.ownsPid(s.shimPid) {
		unix.Close(fd)
		err = unix.ESRCH
	}
	switch {
	case err == nil:
		s.shimFD = os.NewFile(uintptr(fd), "pidfd")
	case errors.Is(err, unix.ESRCH):
		close(s.done)
	default:
		return fmt.Errorf("pidfd of shim %d: %w", s.shimPid, err)
	}
	if _, exited := s.Exited(); !exited && s.shimFD != nil {
		if fd, err := unix.PidfdOpen(s.childPid, 0); err == nil {
			s.childFD = fd
		}
	}
	return nil
}

func (s *Shim) ownsPid(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte("\x00--state-dir\x00"+s.stateDir+"\x00"))
}

// Close releases the handle's descriptors; the shim and its container go on.
func (s *Shim) Close() error {
	if s.childFD >= 0 {
		unix.Close(s.childFD)
		s.childFD = -1
	}
	if s.shimFD != nil {
		// Closing wakes a watcher blocked on the descriptor; the shim is not necessarily gone.
		return s.shimFD.Close()
	}
	return nil
}

// StateDir is the shim's state directory.
func (s *Shim) StateDir() string { return s.stateDir }

// ChildPid is the container process's pid in the host's pid namespace.
func (s *Shim) ChildPid() int { return s.childPid }

// ShimPid is the shim's pid.
func (s *Shim) ShimPid() int { return s.shimPid }

// Done is closed when the shim process has exited (and so exit.json is final).
func (s *Shim) Done() <-chan struct{} {
	s.watch.Do(func() {
		if s.shimFD == nil {
			return
		}
		go s.watchExit()
	})
	return s.done
}

// watchExit waits, in the runtime's poller rather than a blocked thread, for the shim's pidfd to
// become readable, which it does when the process exits.
func (s *Shim) watchExit() {
	rc, err := s.shimFD.SyscallConn()
	if err == nil {
		err = rc.Read(func(fd uintptr) bool {
			exited, perr := pidfdExited(int(fd))
			return perr != nil || exited
		})
	}
	if err != nil && errors.Is(err, os.ErrClosed) {
		// Close was called: the exit is unknown to this handle; report what the pidfd says now.
		return
	}
	close(s.done)
}

// Alive reports whether the shim process still runs.
func (s *Shim) Alive() bool {
	select {
	case <-s.done:
		return false
	default:
	}
	if s.shimFD == nil {
		return false
	}
	// Through SyscallConn, not Fd: Fd would switch the descriptor to blocking mode under the
	// poller that watchExit waits in.
	rc, err := s.shimFD.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	rc.Control(func(fd uintptr) {
		exited, err := pidfdExited(int(fd))
		alive = err == nil && !exited && unix.PidfdSendSignal(int(fd), 0, nil, 0) == nil
	})
	return alive
}

// pidfdExited reports whether the process behind a pidfd has exited: its pidfd is readable then
// (pidfd_open(2)). A signal arriving during the poll is not an answer: Go preempts goroutines
// with SIGURG, and poll(2) returns EINTR for a pending signal even with a zero timeout, which
// once made a busy daemon take live shims for dead ones.
func pidfdExited(fd int) (bool, error) {
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return false, fmt.Errorf("poll pidfd: %w", err)
		case n == 0:
			return false, nil
		case fds[0].Revents&unix.POLLNVAL != 0:
			return false, fmt.Errorf("poll pidfd: %w", unix.EBADF)
		}
		return fds[0].Revents&(unix.POLLIN|unix.POLLHUP) != 0, nil
	}
}

// Exited returns the container's exit status once the shim has recorded it.
func (s *Shim) Exited() (*ExitStatus, bool) {
	st, err := readExit(s.stateDir)
	if err != nil {
		return nil, false
	}
	return st, true
}

// Wait blocks until the shim has exited and returns the exit status it recorded.
func (s *Shim) Wait(ctx context.Context) (*ExitStatus, error) {
	select {
	case <-s.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	st, err := readExit(s.stateDir)
	if err != nil {
		return nil, fmt.Errorf("shim %d exited without an exit status: %w", s.shimPid, err)
	}
	return st, nil
}

// Signal sends sig to the container process (not to the shim). After the container has exited
// it returns an error wrapping os.ErrProcessDone.
func (s *Shim) Signal(sig syscall.Signal) error {
	if _, exited := s.Exited(); exited || s.childFD < 0 {
		return fmt.Errorf("signal container %d: %w", s.childPid, os.ErrProcessDone)
	}
	if err := unix.PidfdSendSignal(s.childFD, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("signal container %d: %w", s.childPid, os.ErrProcessDone)
		}
		return fmt.Errorf("signal container %d: %w", s.childPid, err)
	}
	return nil
}

// Remove deletes the state directory; it refuses while the shim lives.
func (s *Shim) Remove() error {
	if s.Alive() {
		return fmt.Errorf("remove %s: %w", s.stateDir, ErrRunning)
	}
	if err := os.RemoveAll(s.stateDir); err != nil {
		return fmt.Errorf("remove shim state: %w", err)
	}
	return nil
}

// AttachOptions are the streams of one attach session; nil ones are not attached.
type AttachOptions struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Resize         <-chan Size
	// Attached, if set, is called once the shim has registered the session: output written by
	// the container from then on reaches Stdout and Stderr.
	Attached func()
}

func (s *Shim) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", filepath.Join(s.stateDir, wire.SockFile))
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	return c, nil
}

// Attach connects the given streams to the container until it exits, ctx ends or the attach
// connection breaks. Stdin's end is passed on (it ends the container's stdin under StdinOnce); a
// Stdin read still blocked when Attach returns finishes in the background.
func (s *Shim) Attach(ctx context.Context, o AttachOptions) error {
	conn, err := s.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var want byte
	if o.Stdin != nil {
		want |= wire.WantStdin
	}
	if o.Stdout != nil {
		want |= wire.WantStdout
	}
	if o.Stderr != nil {
		want |= wire.WantStderr
	}
	var wmu sync.Mutex
	send := func(typ byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return wire.WriteFrame(conn, typ, p)
	}
	if err := send(wire.FrameHello, []byte{want}); err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-ctx.Done():
			conn.Close()
		case <-stop:
		}
	}()
	if o.Resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-o.Resize:
					if !ok {
						return
					}
					send(wire.FrameResize, wire.EncodeSize(sz))
				case <-stop:
					return
				}
			}
		}()
	}
	if o.Stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := o.Stdin.Read(buf)
				if n > 0 && send(wire.FrameStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					send(wire.FrameStdinClose, nil)
					return
				}
			}
		}()
	}
	buf := make([]byte, 32<<10)
	for {
		typ, p, err := wire.ReadFrame(conn, buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("attach: %w", err)
		}
		var w io.Writer
		switch typ {
		case wire.FrameHello:
			if o.Attached != nil {
				o.Attached()
			}
		case wire.FrameStdout:
			w = o.Stdout
		case wire.FrameStderr:
			w = o.Stderr
		}
		if w != nil {
			if _, err := w.Write(p); err != nil {
				return fmt.Errorf("attach: %w", err)
			}
		}
	}
}

// ResizeTTY sets the container's terminal size (no effect without a TTY).
func (s *Shim) ResizeTTY(ctx context.Context, sz Size) error {
	conn, err := s.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := wire.WriteFrame(conn, wire.FrameHello, []byte{0}); err != nil {
		return fmt.Errorf("resize: %w", err)
	}
	if err := wire.WriteFrame(conn, wire.FrameResize, wire.EncodeSize(sz)); err != nil {
		return fmt.Errorf("resize: %w", err)
	}
	// Wait for the shim to take it: it closes a client that wants no stream only when we do, so
	// half-close and let it read to EOF.
	if uc, ok := conn.(*net.UnixConn); ok {
		uc.CloseWrite()
		io.Copy(io.Discard, conn)
	}
	return nil
}
