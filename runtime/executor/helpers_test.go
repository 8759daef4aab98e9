package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/internal/roottest"
	"github.com/podnet/podnet/runtime/cgroups"
)

// The test binary stands in for podnet: with this variable set it is `podnet init ...`.
const initEnv = "PODNET_EXECUTOR_TEST_INIT"

func TestMain(m *testing.M) {
	if os.Getenv(initEnv) == "1" {
		os.Exit(RunInit(os.Args[1:]))
	}
	os.Exit(m.Run())
}

var defaultCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// pod is a sandbox as runtime/sandbox makes one: a network namespace and pinned uts (hostname
// set) and ipc namespaces, plus a cgroup parent unique to the test.
type pod struct {
	net, uts, ipc string
	cgroupParent  string
}

func newPod(t *testing.T, hostname string) *pod {
	t.Helper()
	roottest.NeedRoot(t)
	_, err := exec.LookPath("unshare")
	roottest.Need(t, err == nil, "unshare (util-linux)")
	netns := roottest.NewNS(t)
	dir := t.TempDir()
	p := &pod{net: netns.Path(), uts: filepath.Join(dir, "uts"), ipc: filepath.Join(dir, "ipc"),
		cgroupParent: "/podnet/test-" + randHex(6) + "/pod" + randHex(8)}
	// Registered before any container's cleanup, so it runs after all of them: by then Delete
	// must have removed the pod's and the test's cgroup levels too.
	t.Cleanup(func() {
		cg, err := cgroups.Open(p.cgroupParent)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range cg.Dirs() {
			if _, err := os.Stat(filepath.Dir(d)); !os.IsNotExist(err) {
				t.Errorf("cgroup %s left behind", filepath.Dir(d))
			}
		}
	})
	for _, f := range []string{p.uts, p.ipc} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unix.Unmount(f, unix.MNT_DETACH) })
	}
	out, err := exec.Command("unshare", "--uts="+p.uts, "--ipc="+p.ipc, "hostname", hostname).CombinedOutput()
	if err != nil {
		t.Fatalf("pin uts/ipc: %v: %s", err, out)
	}
	return p
}

// bundle writes a rootfs of the host's static busybox and a config.json shaped like the ones
// runtime/oci generates.
func newBundle(t *testing.T, p *pod, args []string, edit func(*specs.Spec)) (string, string) {
	t.Helper()
	_, err := os.Stat("/usr/bin/busybox")
	roottest.Need(t, err == nil, "/usr/bin/busybox (busybox-static)")
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "etc", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("/usr/bin/busybox", "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" {
			if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
				t.Fatal(err)
			}
		}
	}
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1\tlocalhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := randHex(32)
	caps := &specs.LinuxCapabilities{Bounding: defaultCaps, Effective: defaultCaps, Permitted: defaultCaps}
	spec := &specs.Spec{
		Version: "1.0.2",
		Process: &specs.Process{
			Args: args, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"},
			Cwd: "/", Capabilities: caps,
			Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
		},
		Root:     &specs.Root{Path: rootfs},
		Hostname: "testpod",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{Destination: "/etc/hosts", Type: "bind", Source: hosts, Options: []string{"rbind", "rprivate", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.MountNamespace},
				{Type: specs.NetworkNamespace, Path: p.net}, {Type: specs.UTSNamespace, Path: p.uts},
				{Type: specs.IPCNamespace, Path: p.ipc},
			},
			CgroupsPath: p.cgroupParent + "/" + id,
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
				Memory:  &specs.LinuxMemory{Limit: i64(64 << 20)},
				Pids:    &specs.LinuxPids{Limit: i64(100)},
			},
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/proc/interrupts",
				"/sys/firmware", "/sys/devices/virtual/powercap"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
	if edit != nil {
		edit(spec)
	}
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { checkNoLeaks(t, dir, spec.Linux.CgroupsPath) })
	return dir, id
}

func i64(v int64) *int64 { return &v }

// checkNoLeaks fails t if anything of the bundle is still mounted on the host or its cgroup is
// still there (it removes the cgroup first, as the runtime's Delete does).
func checkNoLeaks(t *testing.T, bundle, cgroupPath string) {
	t.Helper()
	if err := NewBuiltin("").Delete(context.Background(), "", bundle); err != nil {
		t.Errorf("Delete: %v", err)
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(info), bundle) {
		t.Errorf("host mount table still mentions %s:\n%s", bundle, info)
	}
	cg, err := cgroups.Open(cgroupPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range cg.Dirs() {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left behind", d)
		}
	}
}

// result is one container run.
type result struct {
	stdout, stderr string
	code           int
}

// runBuiltin starts `podnet init run` as the shim does (new pid and mount namespaces) and waits.
func runBuiltin(t *testing.T, bundle string) result {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv, cloneNS := NewBuiltin(self).RunArgv(bundle, "unused")
	if !cloneNS {
		t.Fatal("builtin RunArgv must ask for clone namespaces")
	}
	return runCmd(t, startBuiltin(t, argv))
}

func startBuiltin(t *testing.T, argv []string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), initEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS, Setsid: true}
	return cmd
}

func runCmd(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !isExit(err, &ee) {
		t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return result{stdout.String(), stderr.String(), exitCode(cmd.ProcessState.Sys().(syscall.WaitStatus))}
}

func isExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}
