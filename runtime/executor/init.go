package executor

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/runtime/cgroups"
)

// Exit codes of a container whose process never started, as shells and runc's callers
// (containerd, Docker) report them.
const (
	ExitSetupFailed  = 128 // the container could not be set up
	ExitCannotInvoke = 126 // the executable exists but cannot be run
	ExitNotFound     = 127 // no such executable
)

// initError is a failure before execve, with the exit code it maps to.
type initError struct {
	code int
	err  error
}

func (e *initError) Error() string { return e.err.Error() }
func (e *initError) Unwrap() error { return e.err }

func setupErr(format string, args ...any) error {
	return &initError{code: ExitSetupFailed, err: fmt.Errorf(format, args...)}
}

// RunInit is `podnet init ...` (args after "init"; a leading "init" is dropped). It never returns
// on success: its last step is execve of the container's process. It is called straight from
// main, before cobra or any Kubernetes package initialises anything it does not need.
//
//	podnet init run --bundle DIR             PID 1 of a container (the shim cloned it into new pid+mnt ns)
//	podnet init exec --bundle DIR --pid PID  Exec's helper: enters the container, runs the process
//	                                         described on fd 3, exits with its status
func RunInit(args []string) int {
	// Namespaces, credentials and capabilities below are per thread; everything up to execve must
	// run on this one.
	runtime.LockOSThread()
	if len(args) > 0 && args[0] == "init" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "podnet init: missing subcommand (run, exec)")
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		fs := flag.NewFlagSet("init run", flag.ContinueOnError)
		bundle := fs.String("bundle", "", "bundle directory holding config.json")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		err = runContainer(*bundle)
	case "exec":
		fs := flag.NewFlagSet("init exec", flag.ContinueOnError)
		bundle := fs.String("bundle", "", "bundle directory holding config.json")
		pid := fs.Int("pid", 0, "pid of the container's process")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		var code int
		code, err = execInContainer(*bundle, *pid)
		if err == nil {
			return code
		}
	default:
		fmt.Fprintf(os.Stderr, "podnet init: unknown subcommand %q\n", args[0])
		return 2
	}
	fmt.Fprintln(os.Stderr, "podnet init:", err)
	var ie *initError
	if errors.As(err, &ie) {
		return ie.code
	}
	return ExitSetupFailed
}

// ReadSpec reads a bundle's config.json.
func ReadSpec(bundle string) (*specs.Spec, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("read bundle: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("parse %s/config.json: %w", bundle, err)
	}
	if s.Process == nil || len(s.Process.Args) == 0 {
		return nil, fmt.Errorf("%s/config.json: process.args is empty", bundle)
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, fmt.Errorf("%s/config.json: root.path is empty", bundle)
	}
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	return &s, nil
}

var nsFlags = map[specs.LinuxNamespaceType]int{
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// runContainer is PID 1's whole life up to execve, in runc's order.
func runContainer(bundle string) error {
	if bundle == "" {
		return setupErr("init run: --bundle is required")
	}
	bundle, err := filepath.Abs(bundle)
	if err != nil {
		return setupErr("bundle: %w", err)
	}
	spec, err := ReadSpec(bundle)
	if err != nil {
		return setupErr("%w", err)
	}
	// The shim clones us into new pid and mount namespaces; everything below would otherwise
	// happen to the host.
	if os.Getpid() != 1 {
		return setupErr("init run must be PID 1 of a new pid namespace (started with CLONE_NEWPID|CLONE_NEWNS)")
	}
	var self, host unix.Stat_t
	if unix.Stat("/proc/self/ns/mnt", &self) == nil && unix.Stat("/proc/1/ns/mnt", &host) == nil && self.Ino == host.Ino {
		return setupErr("init run shares the host's mount namespace (start it with CLONE_NEWNS)")
	}
	lastCap, err := readLastCap()
	if err != nil {
		return setupErr("%w", err)
	}
	var cg *cgroups.Cgroup
	if spec.Linux.CgroupsPath != "" {
		cg, err = cgroups.Create(spec.Linux.CgroupsPath, spec.Linux.Resources)
		if err != nil {
			return setupErr("cgroup %s: %w", spec.Linux.CgroupsPath, err)
		}
		// Pid 0 is "the writer": our own pid in the host's pid namespace is not known here.
		if err := cg.Add(0); err != nil {
			return setupErr("join cgroup: %w", err)
		}
	}
	if err := joinNamespaces(spec.Linux.Namespaces); err != nil {
		return err
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return setupErr("sethostname %q: %w", spec.Hostname, err)
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return setupErr("setdomainname %q: %w", spec.Domainname, err)
		}
	}
	root := spec.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(bundle, root)
	}
	if err := setupRootfs(spec, root, cg); err != nil {
		return setupErr("rootfs: %w", err)
	}
	for k, v := range spec.Linux.Sysctl {
		p := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			return setupErr("sysctl %s=%s: %w", k, v, err)
		}
	}
	if err := finishRootfs(spec); err != nil {
		return setupErr("rootfs: %w", err)
	}
	if spec.Process.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*spec.Process.OOMScoreAdj)), 0o644); err != nil {
			return setupErr("oom_score_adj: %w", err)
		}
	}
	if spec.Process.Cwd != "" {
		// runc creates a missing working directory (as root, before dropping privileges).
		if err := os.MkdirAll(spec.Process.Cwd, 0o755); err != nil {
			return setupErr("cwd %s: %w", spec.Process.Cwd, err)
		}
	}
	path, err := finalize(spec.Process, spec.Linux.Seccomp, lastCap)
	if err != nil {
		return err
	}
	return execError(spec.Process.Args[0], unix.Exec(path, spec.Process.Args, spec.Process.Env))
}

// joinNamespaces enters the namespaces given by path (the pod's pinned net, uts, ipc) and makes
// new ones for the other types the spec lists; pid and mount are new already (the shim cloned us
// with them).
func joinNamespaces(nss []specs.LinuxNamespace) error {
	var unshare int
	for _, ns := range nss {
		flag, ok := nsFlags[ns.Type]
		if !ok {
			return setupErr("unknown namespace type %q", ns.Type)
		}
		if ns.Type == specs.UserNamespace || ns.Type == specs.TimeNamespace {
			return setupErr("%s namespaces are not supported by the built-in executor", ns.Type)
		}
		if ns.Path == "" {
			if ns.Type != specs.PIDNamespace && ns.Type != specs.MountNamespace && ns.Type != specs.CgroupNamespace {
				unshare |= flag
			}
			continue
		}
		fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return setupErr("open %s namespace %s: %w", ns.Type, ns.Path, err)
		}
		err = unix.Setns(fd, flag)
		unix.Close(fd)
		if err != nil {
			return setupErr("setns %s namespace %s: %w", ns.Type, ns.Path, err)
		}
	}
	if unshare != 0 {
		if err := unix.Unshare(unshare); err != nil {
			return setupErr("unshare: %w", err)
		}
	}
	// A new cgroup namespace comes last, after the cgroup join, so its root is the container's cgroup.
	for _, ns := range nss {
		if ns.Type == specs.CgroupNamespace && ns.Path == "" {
			if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
				return setupErr("unshare cgroup namespace: %w", err)
			}
		}
	}
	return nil
}

func readLastCap() (int, error) {
	data, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("read cap_last_cap: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("parse cap_last_cap: %w", err)
	}
	return n, nil
}

// readAllJSON decodes one JSON value from r.
func readAllJSON(r io.Reader, v any) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}
