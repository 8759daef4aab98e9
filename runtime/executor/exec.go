package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"

	"github.com/creack/pty"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/runtime/cgroups"
)

// How Exec enters a container.
//
// The daemon is a multithreaded Go program, and setns(CLONE_NEWNS) fails with EINVAL in a task
// whose filesystem context (root, cwd) is shared with other threads, which Go's threads always
// are. So Exec starts a helper, `podnet init exec`, that locks its main goroutine to its thread,
// gives that one thread its own filesystem context (unshare(CLONE_FS)) and can then setns into
// every namespace of the container, mount last. On that thread it joins the container's cgroup
// (before, while the host's cgroupfs is visible), then drops to the process's privileges exactly
// as the container's init does (rlimits, no_new_privs, seccomp, bounding set, user, capabilities)
// and forks the process: a fork is what enters the pid namespace, and the child inherits the
// thread's namespaces and credentials, never those of the helper's other threads.
//
// Unlike nsenter chained into a second podnet process, nothing is executed from the container's
// filesystem but the process itself, so the podnet binary need not be static nor visible there.

// execProcess runs req through `podnetBinary init exec` and returns the process's exit code.
func execProcess(ctx context.Context, podnetBinary string, req ExecRequest) (int, error) {
	if len(req.Process.Args) == 0 {
		return -1, errors.New("executor: exec needs a command")
	}
	if req.Pid <= 0 {
		return -1, fmt.Errorf("executor: exec into %s: no container pid", req.ID)
	}
	payload, err := json.Marshal(req.Process)
	if err != nil {
		return -1, fmt.Errorf("executor: %w", err)
	}
	procR, procW, err := os.Pipe()
	if err != nil {
		return -1, fmt.Errorf("executor: %w", err)
	}
	defer procR.Close()
	cmd := exec.CommandContext(ctx, podnetBinary, "init", "exec", "--bundle", req.Bundle, "--pid", strconv.Itoa(req.Pid))
	cmd.ExtraFiles = []*os.File{procR}
	// The helper leads a session and process group of its own that the process stays in (it
	// cannot use pdeathsig: from a new pid namespace its parent looks dead), so cancelling kills
	// the group; with a TTY the helper also owns the terminal and the process inherits it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: req.TTY, Ctty: 0}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	var output sync.WaitGroup
	if req.TTY {
		ptmx, tty, err := containerPty(req.Pid)
		if err != nil {
			procW.Close()
			return -1, fmt.Errorf("executor: open pty: %w", err)
		}
		closers = append(closers, ptmx)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		if err := startCmd(cmd, procW, payload); err != nil {
			tty.Close()
			return -1, err
		}
		tty.Close() // the process holds the only slave: its exit makes the master read EIO
		if req.Resize != nil {
			go func() {
				for sz := range req.Resize {
					_ = pty.Setsize(ptmx, &pty.Winsize{Rows: sz.Height, Cols: sz.Width})
				}
			}()
		}
		if req.Stdin != nil {
			go func() { _, _ = io.Copy(ptmx, req.Stdin) }()
		}
		if req.Stdout != nil {
			output.Add(1)
			go func() { defer output.Done(); _, _ = io.Copy(req.Stdout, ptmx) }()
		}
	} else {
		// Stdin is fed through our own pipe: exec.Cmd would wait for a Read on req.Stdin that
		// may never return after the process has gone.
		if req.Stdin != nil {
			inR, inW, err := os.Pipe()
			if err != nil {
				procW.Close()
				return -1, fmt.Errorf("executor: %w", err)
			}
			closers = append(closers, inR, inW)
			cmd.Stdin = inR
			go func() { _, _ = io.Copy(inW, req.Stdin); inW.Close() }()
		}
		cmd.Stdout, cmd.Stderr = req.Stdout, req.Stderr
		if err := startCmd(cmd, procW, payload); err != nil {
			return -1, err
		}
	}
	err = cmd.Wait()
	output.Wait()
	if cmd.ProcessState == nil {
		return -1, fmt.Errorf("executor: exec in %s: %w", req.ID, err)
	}
	return exitCode(cmd.ProcessState.Sys().(syscall.WaitStatus)), nil
}

func startCmd(cmd *exec.Cmd, procW *os.File, payload []byte) error {
	err := cmd.Start()
	if err != nil {
		procW.Close()
		return fmt.Errorf("executor: start %s: %w", cmd.Path, err)
	}
	_, werr := procW.Write(payload)
	procW.Close()
	if werr != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("executor: send process to exec helper: %w", werr)
	}
	return nil
}

func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// execNamespaces are entered in this order: mount last, since after it the host's /proc is gone.
var execNamespaces = []struct {
	name string
	flag int
}{
	{"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS}, {"net", unix.CLONE_NEWNET},
	{"pid", unix.CLONE_NEWPID}, {"cgroup", unix.CLONE_NEWCGROUP}, {"mnt", unix.CLONE_NEWNS},
}

// execInContainer is `podnet init exec`: see the comment at the top of this file. It returns
// the process's exit code.
func execInContainer(bundle string, pid int) (int, error) {
	if bundle == "" || pid <= 0 {
		return 0, setupErr("init exec: --bundle and --pid are required")
	}
	spec, err := ReadSpec(bundle)
	if err != nil {
		return 0, setupErr("%w", err)
	}
	var p specs.Process
	procFile := os.NewFile(3, "process")
	err = readAllJSON(procFile, &p)
	procFile.Close()
	if err != nil {
		return 0, setupErr("read process from fd 3: %w", err)
	}
	if len(p.Args) == 0 {
		return 0, setupErr("process.args is empty")
	}
	lastCap, err := readLastCap()
	if err != nil {
		return 0, setupErr("%w", err)
	}
	if spec.Linux.CgroupsPath != "" {
		cg, err := cgroups.Open(spec.Linux.CgroupsPath)
		if err != nil {
			return 0, setupErr("%w", err)
		}
		if err := cg.Add(0); err != nil {
			return 0, setupErr("join the container's cgroup: %w", err)
		}
	}
	// Open them all first: /proc/<pid> stops being reachable once we are in the container's mounts.
	type nsFile struct {
		fd, flag int
		name     string
	}
	var nss []nsFile
	for _, ns := range execNamespaces {
		target := fmt.Sprintf("/proc/%d/ns/%s", pid, ns.name)
		var a, b unix.Stat_t
		if err := unix.Stat(target, &a); err != nil {
			return 0, setupErr("container %d: %w", pid, err)
		}
		if err := unix.Stat("/proc/self/ns/"+ns.name, &b); err == nil && a.Ino == b.Ino && a.Dev == b.Dev {
			continue // shared with the host: nothing to enter
		}
		fd, err := unix.Open(target, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, setupErr("open %s: %w", target, err)
		}
		nss = append(nss, nsFile{fd, ns.flag, ns.name})
	}
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return 0, setupErr("unshare filesystem context: %w", err)
	}
	for _, ns := range nss {
		err := unix.Setns(ns.fd, ns.flag)
		unix.Close(ns.fd)
		if err != nil {
			return 0, setupErr("setns %s of container %d: %w", ns.name, pid, err)
		}
	}
	path, err := finalize(&p, spec.Linux.Seccomp, lastCap)
	if err != nil {
		return 0, err
	}
	// The process stays in our session and process group (and so on our terminal): Exec kills
	// that group when it is cancelled.
	child, err := syscall.ForkExec(path, p.Args, &syscall.ProcAttr{Env: p.Env, Files: []uintptr{0, 1, 2}})
	if err != nil {
		return 0, execError(p.Args[0], err)
	}
	for {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(child, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return 0, setupErr("wait: %w", err)
		}
		return exitCode(ws), nil
	}
}

// containerPty opens a terminal pair on the container's own devpts instance, as runc does
// with its console, so that ttyname() and /dev/pts inside the container agree with the exec'd
// process's terminal. Without a devpts in the container it falls back to the host's.
func containerPty(pid int) (ptmx, tty *os.File, err error) {
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(root)
	// RESOLVE_IN_ROOT: the container owns every link on that path; it must not lead us out.
	fd, err := unix.Openat2(root, "dev/pts/ptmx", &unix.OpenHow{
		Flags:   unix.O_RDWR | unix.O_NOCTTY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return pty.Open()
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 5 || unix.Minor(st.Rdev) != 2 {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("container %d: dev/pts/ptmx is not a pty multiplexer", pid)
	}
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master, never by a path the container controls.
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		unix.Close(fd)
		return nil, nil, fmt.Errorf("open pty peer: %w", errno)
	}
	return os.NewFile(uintptr(fd), "ptmx"), os.NewFile(sfd, "pty"), nil
}
