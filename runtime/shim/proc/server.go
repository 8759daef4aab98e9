package proc

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/runtime/shim/wire"
)

// drainTimeout bounds how long the shim waits, after the child's exit, for the rest of its output:
// a process the child left behind (outside a pid namespace) can hold the pipes open for ever.
const drainTimeout = 2 * time.Second

// outQueue is how many output frames a slow attach client may have pending before it is dropped.
const outQueue = 64

type exitEvent struct {
	ws syscall.WaitStatus
	at time.Time
}

// server is the detached shim.
type server struct {
	o       Options
	log     *LogWriter
	ln      *listener
	outs    []*os.File // stdout and stderr read ends, or the pty master
	ptmx    *os.File
	child   int
	started time.Time
	oomBase int64
	sigchld chan os.Signal
	exited  chan exitEvent
	pumps   sync.WaitGroup

	stdinMu   sync.Mutex
	stdin     *os.File // the pipe's write end or the pty master; nil once closed
	stdinOnce bool     // the first stdin client has come and gone

	mu      sync.Mutex
	clients map[*client]struct{}
	closing bool
	writers sync.WaitGroup
}

func start(o Options) (*server, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, wrap("become subreaper", err)
	}
	// Signals to the shim are not the container's business: the daemon signals the container
	// itself. Notify rather than Ignore, so that the child starts with default dispositions.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	// Reaping on SIGCHLD rather than in a blocking wait4 keeps a thread fewer per shim.
	s := &server{o: o, sigchld: make(chan os.Signal, 1), exited: make(chan exitEvent, 1), clients: map[*client]struct{}{}}
	signal.Notify(s.sigchld, syscall.SIGCHLD)
	if err := writePid(o.StateDir, wire.ShimPidFile, os.Getpid()); err != nil {
		return nil, err
	}
	path, err := exec.LookPath(o.Argv[0])
	if err != nil {
		return nil, wrap("container command", err)
	}
	if s.log, err = OpenLog(o.LogPath, o.LogMaxBytes, o.LogMaxFiles); err != nil {
		return nil, wrap("log", err)
	}
	if s.ln, err = listen(filepath.Join(o.StateDir, wire.SockFile)); err != nil {
		s.log.Close()
		return nil, err
	}
	if o.MemoryCgroup != "" {
		s.oomBase = oomKills(o.MemoryCgroup)
	}
	if err := s.startChild(path); err != nil {
		s.ln.close()
		s.log.Close()
		return nil, err
	}
	if err := writePid(o.StateDir, wire.ChildPidFile, s.child); err != nil {
		// Nobody could find the child after a daemon restart: do not keep it.
		unix.Kill(s.child, unix.SIGKILL)
		<-s.exited
		s.ln.close()
		s.log.Close()
		return nil, err
	}
	return s, nil
}

// inheritedEnv is the shim's environment without the runtime settings detach added for the shim
// itself (an inherited variable that happens to equal one of them goes too).
func inheritedEnv() []string {
	var env []string
outer:
	for _, e := range os.Environ() {
		for _, r := range runtimeEnv {
			if e == r {
				continue outer
			}
		}
		env = append(env, e)
	}
	return env
}

func writePid(dir, name string, pid int) error {
	if err := wire.WriteFileAtomic(dir, name, []byte(strconv.Itoa(pid)+"\n")); err != nil {
		return wrap("write "+name, err)
	}
	return nil
}

func (s *server) startChild(path string) error {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	attr := &syscall.SysProcAttr{Setsid: true}
	if s.o.CloneNS {
		attr.Cloneflags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS
	}
	var files, childEnds []*os.File
	if s.o.TTY {
		ptmx, tty, err := pty.Open()
		if err != nil {
			return wrap("open pty", err)
		}
		s.ptmx = ptmx
		s.outs = []*os.File{ptmx}
		if s.o.Stdin {
			s.stdin = ptmx
		}
		files = []*os.File{tty, tty, tty}
		childEnds = []*os.File{tty}
		attr.Setctty, attr.Ctty = true, 0
	} else {
		stdin := devnull
		if s.o.Stdin {
			// The shim keeps the write end even with no client attached, so the child blocks
			// on stdin rather than reading EOF.
			r, w, err := os.Pipe()
			if err != nil {
				return err
			}
			stdin, s.stdin = r, w
			childEnds = append(childEnds, r)
		}
		or, ow, err := os.Pipe()
		if err != nil {
			return err
		}
		er, ew, err := os.Pipe()
		if err != nil {
			return err
		}
		s.outs = []*os.File{or, er}
		files = []*os.File{stdin, ow, ew}
		childEnds = append(childEnds, ow, ew)
	}
	env := s.o.Env
	if len(env) == 0 {
		env = inheritedEnv()
	}
	s.started = time.Now()
	p, err := os.StartProcess(path, s.o.Argv, &os.ProcAttr{Dir: "/", Env: env, Files: files, Sys: attr})
	for _, f := range childEnds {
		f.Close()
	}
	if err != nil {
		for _, f := range s.outs {
			f.Close()
		}
		if s.stdin != nil && s.stdin != s.ptmx {
			s.stdin.Close()
		}
		return wrap("start container command", err)
	}
	s.child = p.Pid
	// reap collects it with wait4(-1); the handle would only hold a pidfd open.
	p.Release()
	go s.reap()
	streams := []string{"stdout", "stderr"}
	frames := []byte{wire.FrameStdout, wire.FrameStderr}
	for i, f := range s.outs {
		s.pumps.Add(1)
		go s.pump(f, streams[i], frames[i])
	}
	return nil
}

// reap collects every child, the orphans the shim inherits as subreaper included, and reports
// the container's own exit.
func (s *server) reap() {
	for {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || pid <= 0 {
				break
			}
			if pid == s.child {
				s.exited <- exitEvent{ws: ws, at: time.Now()}
			}
		}
		<-s.sigchld
	}
}

func (s *server) pump(f *os.File, stream string, typ byte) {
	defer s.pumps.Done()
	sp := LineSplitter{Stream: stream, Log: s.log}
	buf := make([]byte, 16<<10)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			sp.Write(time.Now(), buf[:n])
			s.broadcast(typ, buf[:n])
		}
		if err != nil {
			break
		}
	}
	sp.Flush(time.Now())
}

// run serves attach until the child has exited, then records the exit and returns.
func (s *server) run() {
	go s.accept()
	ev := <-s.exited
	drained := make(chan struct{})
	go func() { s.pumps.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainTimeout):
		for _, f := range s.outs {
			f.Close()
		}
		<-drained
	}
	s.closeStdin()
	if s.ptmx != nil {
		s.ptmx.Close()
	}
	s.log.Close()
	st := wire.ExitStatus{StartedAt: s.started.UTC(), FinishedAt: ev.at.UTC()}
	if ev.ws.Signaled() {
		st.ExitCode = 128 + int(ev.ws.Signal())
		st.Signal = unix.SignalName(ev.ws.Signal())
	} else {
		st.ExitCode = ev.ws.ExitStatus()
	}
	if s.o.MemoryCgroup != "" {
		st.OOMKilled = oomKills(s.o.MemoryCgroup) > s.oomBase
	}
	if err := wire.WriteFileAtomic(s.o.StateDir, wire.ExitFile, append(st.AppendJSON(nil), '\n')); err != nil {
		os.Stderr.WriteString("podnet-shim: write exit status: " + err.Error() + "\n")
	}
	s.ln.close()
	s.mu.Lock()
	s.closing = true
	for c := range s.clients {
		s.dropLocked(c)
	}
	s.mu.Unlock()
	waitTimeout(&s.writers, drainTimeout)
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// oomKills reads the oom_kill counter of a memory cgroup (v2 memory.events, v1
// memory.oom_control); a cgroup that does not exist (yet) counts zero.
func oomKills(dir string) int64 {
	for _, name := range []string{"memory.events", "memory.oom_control"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				return n
			}
		}
	}
	return 0
}

func (s *server) closeStdin() {
	s.stdinMu.Lock()
	defer s.stdinMu.Unlock()
	if s.stdin != nil && s.stdin != s.ptmx {
		s.stdin.Close()
	}
	s.stdin = nil
}

// endStdinOnce is kubelet's StdinOnce: the first attach session's end is the end of stdin. A pty
// cannot be half-closed, so under a terminal in canonical mode the child gets the terminal's EOF
// character, what a user typing ^D sends, and no further input.
func (s *server) endStdinOnce() {
	s.stdinMu.Lock()
	if s.stdinOnce || s.stdin == nil {
		s.stdinMu.Unlock()
		return
	}
	s.stdinOnce = true
	if s.stdin == s.ptmx {
		if t, err := unix.IoctlGetTermios(int(s.ptmx.Fd()), unix.TCGETS); err == nil && t.Lflag&unix.ICANON != 0 {
			s.ptmx.Write([]byte{t.Cc[unix.VEOF]})
		}
	}
	s.stdinMu.Unlock()
	s.closeStdin()
}

func (s *server) writeStdin(p []byte) {
	s.stdinMu.Lock()
	defer s.stdinMu.Unlock()
	if s.stdin != nil {
		s.stdin.Write(p)
	}
}

type outFrame struct {
	typ byte
	b   []byte
}

type client struct {
	conn  *os.File
	want  byte
	out   chan outFrame
	gone  bool
	stdin bool // this client's stdin goes to the child
}

func (s *server) accept() {
	for {
		conn, err := s.ln.accept()
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue
		}
		go s.serveClient(conn)
	}
}

func (s *server) serveClient(conn *os.File) {
	buf := make([]byte, 4<<10)
	typ, p, err := wire.ReadFrame(conn, buf)
	if err != nil || typ != wire.FrameHello || len(p) != 1 {
		conn.Close()
		return
	}
	c := &client{conn: conn, want: p[0], out: make(chan outFrame, outQueue)}
	c.stdin = c.want&wire.WantStdin != 0 && s.o.Stdin
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.clients[c] = struct{}{}
	// The answering hello goes first: from it on the client receives every byte of output.
	c.out <- outFrame{typ: wire.FrameHello}
	s.writers.Add(1)
	s.mu.Unlock()
	go s.writeClient(c)

	for {
		typ, p, err := wire.ReadFrame(conn, buf)
		if err != nil {
			break
		}
		switch typ {
		case wire.FrameStdin:
			if c.stdin {
				s.writeStdin(p)
			}
		case wire.FrameStdinClose:
			if c.stdin && s.o.StdinOnce {
				s.endStdinOnce()
			}
		case wire.FrameResize:
			if sz, ok := wire.DecodeSize(p); ok && s.ptmx != nil {
				pty.Setsize(s.ptmx, &pty.Winsize{Rows: sz.Rows, Cols: sz.Cols})
			}
		}
	}
	if c.stdin && s.o.StdinOnce {
		s.endStdinOnce()
	}
	s.mu.Lock()
	s.dropLocked(c)
	s.mu.Unlock()
}

func (s *server) writeClient(c *client) {
	defer s.writers.Done()
	defer c.conn.Close()
	for f := range c.out {
		if err := wire.WriteFrame(c.conn, f.typ, f.b); err != nil {
			// Keep draining so that broadcast never blocks on this client.
			for range c.out {
			}
			return
		}
	}
}

// dropLocked ends a client's output; its writer then closes the connection.
func (s *server) dropLocked(c *client) {
	if c.gone {
		return
	}
	c.gone = true
	delete(s.clients, c)
	close(c.out)
}

func (s *server) broadcast(typ byte, p []byte) {
	want := wire.WantStdout
	if typ == wire.FrameStderr {
		want = wire.WantStderr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clients) == 0 {
		return
	}
	b := append([]byte(nil), p...)
	for c := range s.clients {
		if c.want&want == 0 {
			continue
		}
		select {
		case c.out <- outFrame{typ, b}:
		default:
			s.dropLocked(c)
		}
	}
}
