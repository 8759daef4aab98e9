package proc

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/runtime/shim/wire"
)

// Main is the podnet-shim command; it returns the process's exit status.
func Main(args []string) int {
	closeInheritedOnExec()
	o, err := Parse(args)
	if err != nil {
		os.Stderr.WriteString("podnet-shim: " + err.Error() + "\n")
		return 2
	}
	if !o.Detached {
		return detach(o, args)
	}
	return serve(o)
}

// runtimeEnv tunes the Go runtime of the detached shim, which lives as long as its container and
// does little: one P, a small heap target. Set through the environment, not runtime/debug, so the
// settings apply from the first instruction and runtime/debug (and fmt with it) stays out. No
// GOMEMLIMIT: a limit below what the runtime itself needs (about 2 MiB) keeps the collector
// running all the time, and its mark workers cost 0.7 MB of resident memory more than they save.
// They go first in the environment because the runtime reads the first of a duplicated name.
var runtimeEnv = []string{"GOMAXPROCS=1", "GOGC=25"}

// wrapped is an error with context that unwraps to its cause (fmt.Errorf's %w, without fmt).
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg + ": " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

func wrap(msg string, err error) error { return &wrapped{msg, err} }

// closeInheritedOnExec keeps descriptors the shim inherited by accident (anything but stdio and
// the report pipe that its caller left without O_CLOEXEC) out of the container.
func closeInheritedOnExec() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > wire.ReportFD {
			unix.CloseOnExec(fd)
		}
	}
}

// reportFile is descriptor 3 when the parent passed one, nil otherwise (a shim run by hand).
func reportFile() *os.File {
	if _, err := unix.FcntlInt(wire.ReportFD, unix.F_GETFD, 0); err != nil {
		return nil
	}
	// The report pipe must never leak into the container.
	unix.CloseOnExec(wire.ReportFD)
	return os.NewFile(wire.ReportFD, "report")
}

func send(f *os.File, line []byte) {
	if f == nil {
		f = os.Stdout
	}
	f.Write(append(bytes.TrimSpace(line), '\n'))
}

// detach is the first stage: start the real shim in a session of its own and wait only until it
// has started the child, so that the daemon learns the outcome and can reap this process at once.
func detach(o Options, args []string) int {
	out := reportFile()
	line, err := detachStage(o, args)
	if err != nil {
		line = wire.Report{Error: err.Error()}.AppendJSON(nil)
	}
	send(out, line)
	if err != nil || bytes.Contains(line, []byte(`"error":`)) {
		return 1
	}
	return 0
}

func detachStage(o Options, args []string) ([]byte, error) {
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, wrap("state dir", err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	diag, err := os.OpenFile(filepath.Join(o.StateDir, wire.ShimLogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, wrap("shim log", err)
	}
	defer diag.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p, err := os.StartProcess(self, append([]string{os.Args[0], "--detached"}, args...), &os.ProcAttr{
		Dir:   "/",
		Env:   append(append([]string{}, runtimeEnv...), os.Environ()...),
		Files: []*os.File{devnull, devnull, diag, w},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	w.Close()
	if err != nil {
		return nil, wrap("start detached shim", err)
	}
	// Not waited for: this process exits next, and the detached shim is init's (or the nearest
	// subreaper's) child from then on.
	p.Release()
	line, _ := io.ReadAll(r)
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, wrap("detached shim exited before starting the container (see "+filepath.Join(o.StateDir, wire.ShimLogFile)+")", io.ErrUnexpectedEOF)
	}
	return line, nil
}

func serve(o Options) int {
	out := reportFile()
	s, err := start(o)
	if err != nil {
		os.Stderr.WriteString("podnet-shim: " + err.Error() + "\n")
		send(out, wire.Report{Error: err.Error()}.AppendJSON(nil))
		return 1
	}
	send(out, wire.Report{ShimPid: os.Getpid(), ChildPid: s.child}.AppendJSON(nil))
	if out != nil {
		out.Close()
	}
	s.run()
	return 0
}
