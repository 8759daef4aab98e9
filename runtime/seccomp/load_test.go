package seccomp

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/internal/roottest"
)

// childEnv names the child scenario when the test binary is re-executed: a filter cannot be
// removed, so each one runs in a process of its own.
const childEnv = "PODNET_SECCOMP_TEST_CHILD"

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		if err := children[name](); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var children = map[string]func() error{
	"runtime-default": childRuntimeDefault,
	"no-filter":       childNoFilter,
	"arg-conditions":  childArgConditions,
	"no-nnp":          childNoNNP,
}

func loadWithNNP(p *specs.LinuxSeccomp) error {
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	return Load(p)
}

func expectErrno(what string, err, want error) error {
	if !errors.Is(err, want) {
		return fmt.Errorf("%s: got %v, want %v", what, err, want)
	}
	return nil
}

// commonWork is what any container must still be able to do under a filter.
func commonWork() error {
	if unix.Getpid() != os.Getpid() || unix.Getpid() <= 0 {
		return errors.New("getpid")
	}
	if _, err := unix.Write(2, nil); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	// os/exec forks with clone(CLONE_VM|CLONE_VFORK), without namespace flags.
	if err := exec.Command("/bin/true").Run(); err != nil {
		return fmt.Errorf("fork/exec /bin/true: %w", err)
	}
	return nil
}

func childRuntimeDefault() error {
	if err := loadWithNNP(RuntimeDefault([]string{"CAP_CHOWN", "CAP_KILL", "CAP_SETUID"})); err != nil {
		return err
	}
	if err := expectErrno("unshare(CLONE_NEWUTS)", unix.Unshare(unix.CLONE_NEWUTS), unix.EPERM); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "seccomp-mount")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := expectErrno("mount tmpfs", unix.Mount("none", dir, "tmpfs", 0, ""), unix.EPERM); err != nil {
		return err
	}
	if _, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM, 0); !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("socket(AF_VSOCK): got %v, want EPERM", err)
	}
	return commonWork()
}

// childNoFilter proves the root test's premise: without the filter the same calls succeed.
func childNoFilter() error {
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWUTS); err != nil {
		return fmt.Errorf("unshare(CLONE_NEWUTS) without a filter: %w", err)
	}
	return commonWork()
}

func childArgConditions() error {
	eopnotsupp := uint(unix.EOPNOTSUPP)
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"unshare"}, Action: specs.ActErrno, ErrnoRet: &eopnotsupp, Args: []specs.LinuxSeccompArg{
			{Index: 0, Value: unix.CLONE_NEWUTS, ValueTwo: unix.CLONE_NEWUTS, Op: specs.OpMaskedEqual}}},
		{Names: []string{"lseek"}, Action: specs.ActErrno, ErrnoRet: &eopnotsupp, Args: []specs.LinuxSeccompArg{
			{Index: 1, Value: 1 << 32, Op: specs.OpGreaterThan}}},
	}}
	if err := loadWithNNP(p); err != nil {
		return err
	}
	// EOPNOTSUPP, not the EPERM an unprivileged unshare would get anyway: the filter answered.
	if err := expectErrno("unshare(CLONE_NEWUTS)", unix.Unshare(unix.CLONE_NEWUTS), unix.EOPNOTSUPP); err != nil {
		return err
	}
	if err := unix.Unshare(0); err != nil {
		return fmt.Errorf("unshare(0): %w", err)
	}
	f, err := os.CreateTemp("", "seccomp-lseek")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fd := int(f.Fd())
	for _, c := range []struct {
		off  int64
		want error
	}{{5, nil}, {0xffffffff, nil}, {1 << 32, nil}, {1<<32 + 1, unix.EOPNOTSUPP}, {1 << 40, unix.EOPNOTSUPP}} {
		_, err := unix.Seek(fd, c.off, 0)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			return fmt.Errorf("lseek to %#x: got %v, want %v", c.off, err, c.want)
		}
	}
	return commonWork()
}

// childNoNNP drops every capability first: the kernel then refuses a filter without no_new_privs.
func childNoNNP() error {
	runtime.LockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	err := Load(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow})
	if err == nil || !errors.Is(err, unix.EACCES) {
		return fmt.Errorf("Load without no_new_privs: got %v, want EACCES", err)
	}
	return nil
}

func runChild(t *testing.T, name string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+name)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child %s: %v\n%s", name, err, out)
	}
}

func TestLoadRuntimeDefault(t *testing.T) {
	// As root, unshare and mount would succeed without the filter, so their EPERM is the filter's.
	roottest.NeedRoot(t)
	runChild(t, "no-filter")
	runChild(t, "runtime-default")
}

func TestLoadArgConditions(t *testing.T) { runChild(t, "arg-conditions") }

func TestLoadNeedsNoNewPrivs(t *testing.T) { runChild(t, "no-nnp") }
