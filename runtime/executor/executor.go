package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podnet/podnet/runtime/cgroups"
)

// Size is a terminal size.
type Size struct{ Width, Height uint16 }

// ExecRequest is a process to run inside a running container (kubectl exec).
type ExecRequest struct {
	ID, Bundle string
	// Pid is the container's process, in the daemon's pid namespace.
	Pid int
	// Process is what to run: args, env, cwd, user and capabilities, normally the container's own
	// with other args. It gets no more than that: the container's namespaces, cgroup and seccomp
	// profile come from the bundle.
	Process specs.Process
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer // unused with TTY: the terminal carries both streams
	TTY     bool
	Resize  <-chan Size
}

// Executor runs bundles: what the shim runs for a container, how to find the container's pid,
// exec into it, and what to clean up after it.
type Executor interface {
	// RunArgv is the command line the shim runs for the container, and whether the shim must
	// clone it into new pid and mount namespaces.
	RunArgv(bundle, id string) (argv []string, cloneNS bool)
	// ContainerPid is the pid of the container's process, given the pid of the shim's child.
	ContainerPid(bundle string, shimChildPid int) (int, error)
	// Exec runs req inside the container and returns its exit code (128+signal if killed).
	Exec(ctx context.Context, req ExecRequest) (int, error)
	// Delete releases what the container holds once it has exited (its cgroup, runtime state).
	Delete(ctx context.Context, id, bundle string) error
}

// Builtin is podnet's own executor: `podnet init run` is the container's PID 1.
type Builtin struct {
	// PodnetBinary is the podnet executable that provides `podnet init`.
	PodnetBinary string
}

// NewBuiltin returns the built-in executor using podnetBinary for `podnet init`.
func NewBuiltin(podnetBinary string) *Builtin { return &Builtin{PodnetBinary: podnetBinary} }

// RunArgv implements Executor.
func (b *Builtin) RunArgv(bundle, id string) ([]string, bool) {
	return []string{b.PodnetBinary, "init", "run", "--bundle", bundle}, true
}

// ContainerPid implements Executor: init execs into the container's process, so it is the
// shim's child itself.
func (b *Builtin) ContainerPid(bundle string, shimChildPid int) (int, error) {
	if shimChildPid <= 0 {
		return 0, fmt.Errorf("executor: no child pid for bundle %s", bundle)
	}
	return shimChildPid, nil
}

// Exec implements Executor.
func (b *Builtin) Exec(ctx context.Context, req ExecRequest) (int, error) {
	return execProcess(ctx, b.PodnetBinary, req)
}

// Delete implements Executor: only the cgroup outlives a built-in container.
func (b *Builtin) Delete(ctx context.Context, id, bundle string) error {
	return removeCgroup(bundle)
}

func removeCgroup(bundle string) error {
	spec, err := ReadSpec(bundle)
	if errors.Is(err, os.ErrNotExist) {
		return nil // bundle already gone: nothing left to find the cgroup by
	}
	if err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	if spec.Linux.CgroupsPath == "" {
		return nil
	}
	cg, err := cgroups.Open(spec.Linux.CgroupsPath)
	if err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	if err := cg.Remove(); err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	return nil
}

// OCI runs bundles with an OCI runtime binary (runc, crun) in the foreground under the shim.
type OCI struct {
	Binary string // runc or crun
	Root   string // the runtime's state directory (--root), under podnet's run dir
	// PodnetBinary provides `podnet init exec` for Exec; it defaults to the running executable.
	PodnetBinary string
}

// NewOCI returns an executor driving binary with state under root.
func NewOCI(binary, root string) *OCI {
	self, _ := os.Executable()
	return &OCI{Binary: binary, Root: root, PodnetBinary: self}
}

// RunArgv implements Executor.
func (o *OCI) RunArgv(bundle, id string) ([]string, bool) {
	return []string{o.Binary, "--root", o.Root, "run", "--bundle", bundle, "--pid-file", filepath.Join(bundle, "container.pid"), id}, false
}

// ContainerPid implements Executor: the runtime writes the container's pid to the pid file.
func (o *OCI) ContainerPid(bundle string, shimChildPid int) (int, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "container.pid"))
	if err != nil {
		return 0, fmt.Errorf("executor: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("executor: bad pid file %s/container.pid: %q", bundle, data)
	}
	return pid, nil
}

// Exec implements Executor. It enters the container the same way as the built-in executor
// (rather than `runc exec`), so both give an exec'd process the same view and limits.
func (o *OCI) Exec(ctx context.Context, req ExecRequest) (int, error) {
	return execProcess(ctx, o.PodnetBinary, req)
}

// Delete implements Executor: `runc delete --force`, then the cgroup in case the runtime's state
// was already gone.
func (o *OCI) Delete(ctx context.Context, id, bundle string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, o.Binary, "--root", o.Root, "delete", "--force", id)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil && !strings.Contains(stderr.String(), "does not exist") {
		return fmt.Errorf("executor: %s delete %s: %w: %s", o.Binary, id, err, strings.TrimSpace(stderr.String()))
	}
	return removeCgroup(bundle)
}
