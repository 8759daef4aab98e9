package executor

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podnet/podnet/internal/roottest"
	"github.com/podnet/podnet/runtime/cgroups"
)

// inspect prints what a container sees of itself; summarize normalises it.
const inspect = `hostname
grep -E '^Cap(Prm|Eff|Bnd|Amb)' /proc/self/status
id
echo "masked: $(cat /proc/keys /proc/timer_list /proc/interrupts 2>&1 | wc -c) $(find /proc/acpi /sys/firmware -mindepth 1 | wc -l)"
(echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo "proc/sys: writable" || echo "proc/sys: read-only"
echo "memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"
echo "cgroup: $(grep -c "$CG" /proc/self/cgroup) lines name the container's cgroup"
echo "dev: $(ls /dev | tr '\n' ' ')"
echo "--- mounts"
cat /proc/self/mountinfo
`

// summarize turns inspect's output into lines that do not depend on the test's temp dirs, mount
// ids or the order of mounts, keeping mount point, per-mount options, type and super options.
func summarize(t *testing.T, out, bundle, cgroupPath string) []string {
	t.Helper()
	head, mounts, ok := strings.Cut(out, "--- mounts\n")
	if !ok {
		t.Fatalf("no mounts in output:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(head), "\n")
	var ms []string
	for _, l := range strings.Split(strings.TrimSpace(mounts), "\n") {
		f := strings.Fields(l)
		sep := 0
		for i, x := range f {
			if x == "-" {
				sep = i
			}
		}
		if f[4] == "/" {
			ms = append(ms, "/ "+f[5]) // the rootfs: its type is the test machine's filesystem
			continue
		}
		root := strings.ReplaceAll(strings.ReplaceAll(f[3], bundle, "BUNDLE"), cgroupPath, "CGROUP")
		ms = append(ms, strings.Join([]string{f[4], f[5], f[sep+1], root, f[sep+3]}, " "))
	}
	sort.Strings(ms)
	return append(lines, ms...)
}

// hostIndependent are the summary lines every run must contain, whatever the host's cgroup layout.
var hostIndependent = []string{
	"testpod",
	"CapPrm:\t00000000a80425fb",
	"CapEff:\t00000000a80425fb",
	"CapBnd:\t00000000a80425fb",
	"CapAmb:\t0000000000000000",
	"uid=0 gid=0",
	"masked: 0 0",
	"proc/sys: read-only",
	"memory limit: 67108864",
	"/dev rw,nosuid tmpfs / rw,size=65536k,mode=755",
	"/dev/mqueue rw,nosuid,nodev,noexec,relatime mqueue / rw",
	"/dev/pts rw,nosuid,noexec,relatime devpts / rw,gid=5,mode=620,ptmxmode=666",
	"/dev/shm rw,nosuid,nodev,noexec,relatime tmpfs / rw,size=65536k",
	"/etc/hosts ro,relatime ext4 BUNDLE/hosts rw,discard,resv_strict,resuid=65534,resgid=65534",
	"/proc rw,nosuid,nodev,noexec,relatime proc / rw",
	"/proc/acpi ro,relatime tmpfs / ro",
	"/proc/bus ro,nosuid,nodev,noexec,relatime proc /bus rw",
	"/proc/fs ro,nosuid,nodev,noexec,relatime proc /fs rw",
	"/proc/interrupts rw,nosuid tmpfs /null rw,size=65536k,mode=755",
	"/proc/irq ro,nosuid,nodev,noexec,relatime proc /irq rw",
	"/proc/keys rw,nosuid tmpfs /null rw,size=65536k,mode=755",
	"/proc/sys ro,nosuid,nodev,noexec,relatime proc /sys rw",
	"/proc/timer_list rw,nosuid tmpfs /null rw,size=65536k,mode=755",
	"/sys ro,nosuid,nodev,noexec,relatime sysfs / ro",
	"/sys/firmware ro,relatime tmpfs / ro",
}

func withCGEnv(cg string) func(*specs.Spec) {
	return func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "CG="+cg) }
}

// TestContainerLooksTheSameUnderRunc runs one bundle under the built-in executor and then under
// Debian's runc, exactly as the shim would, and compares what the container sees.
func TestContainerLooksTheSameUnderRunc(t *testing.T) {
	p := newPod(t, "testpod")
	runc, err := exec.LookPath("runc")
	roottest.Need(t, err == nil, "runc")
	var cgPath string
	bundle, id := newBundle(t, p, []string{"sh", "-c", inspect}, func(s *specs.Spec) {
		cgPath = s.Linux.CgroupsPath
		withCGEnv(cgPath)(s)
	})

	r := runBuiltin(t, bundle)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("builtin: exit %d, stderr %q", r.code, r.stderr)
	}
	builtin := summarize(t, r.stdout, bundle, cgPath)
	has := map[string]bool{}
	for _, l := range builtin {
		has[l] = true
	}
	for _, want := range hostIndependent {
		if strings.HasPrefix(want, "/etc/hosts") && !strings.Contains(strings.Join(builtin, "\n"), "/etc/hosts ro,relatime ext4 BUNDLE/hosts") {
			t.Errorf("builtin: no read-only /etc/hosts bind in %q", builtin)
			continue
		}
		if !has[want] && !strings.HasPrefix(want, "/etc/hosts") {
			t.Errorf("builtin: missing %q in\n%s", want, strings.Join(builtin, "\n"))
		}
	}
	if want := "cgroup: 0 lines name the container's cgroup"; has[want] {
		t.Errorf("builtin: container is not in its cgroup %s", cgPath)
	}

	// The same bundle, untouched, under runc.
	o := NewOCI(runc, filepath.Join(t.TempDir(), "runc"))
	argv, cloneNS := o.RunArgv(bundle, id)
	if cloneNS {
		t.Fatal("OCI RunArgv must not ask for clone namespaces")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	r = runCmd(t, cmd)
	t.Cleanup(func() {
		if err := o.Delete(context.Background(), id, bundle); err != nil {
			t.Errorf("runc Delete: %v", err)
		}
	})
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("runc: exit %d, stderr %q", r.code, r.stderr)
	}
	if pid, err := o.ContainerPid(bundle, 0); err != nil || pid <= 0 {
		t.Errorf("ContainerPid from runc's pid file = %d, %v", pid, err)
	}
	underRunc := summarize(t, r.stdout, bundle, cgPath)
	if !reflect.DeepEqual(builtin, underRunc) {
		t.Errorf("container differs:\nbuiltin:\n%s\n\nrunc:\n%s", strings.Join(builtin, "\n"), strings.Join(underRunc, "\n"))
	}
}

func TestUserGroupsAndReadonlyRoot(t *testing.T) {
	p := newPod(t, "testpod")
	bundle, _ := newBundle(t, p, []string{"sh", "-c", "id; grep CapEff /proc/self/status; touch /x || echo cannot write root; echo ok > /dev/shm/y && cat /dev/shm/y"},
		func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{10, 20}}
			s.Process.NoNewPrivileges = true
			s.Process.Capabilities.Effective = []string{"CAP_NET_BIND_SERVICE"}
			s.Process.Capabilities.Permitted = []string{"CAP_NET_BIND_SERVICE"}
			// Without ambient capabilities a non-root process loses them all at execve, under
			// runc too; Kubernetes never sets them, so only an explicit spec keeps one.
			s.Process.Capabilities.Inheritable = []string{"CAP_NET_BIND_SERVICE"}
			s.Process.Capabilities.Ambient = []string{"CAP_NET_BIND_SERVICE"}
			s.Root.Readonly = true
		})
	r := runBuiltin(t, bundle)
	want := result{
		stdout: "uid=1000 gid=1001 groups=10,20\nCapEff:\t0000000000000400\ncannot write root\nok\n",
		stderr: "touch: /x: Read-only file system\n",
	}
	if r != want {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
}

func TestExecutableNotFound(t *testing.T) {
	p := newPod(t, "testpod")
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"nosuchcmd"}, 127, "podnet init: exec: \"nosuchcmd\": executable file not found in $PATH\n"},
		{[]string{"/etc/hosts"}, 126, "podnet init: exec: \"/etc/hosts\": permission denied\n"},
		{[]string{"/no/such"}, 127, "podnet init: exec: \"/no/such\": stat /no/such: no such file or directory\n"},
	} {
		bundle, _ := newBundle(t, p, tc.args, nil)
		r := runBuiltin(t, bundle)
		if r.code != tc.code || r.stderr != tc.stderr {
			t.Errorf("%v: exit %d stderr %q, want %d %q", tc.args, r.code, r.stderr, tc.code, tc.stderr)
		}
	}
}

func TestOOMKilled(t *testing.T) {
	p := newPod(t, "testpod")
	var cgPath string
	bundle, _ := newBundle(t, p, []string{"tail", "/dev/zero"}, func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: i64(16 << 20), Swap: i64(16 << 20)}
		cgPath = s.Linux.CgroupsPath
	})
	r := runBuiltin(t, bundle)
	if r.code != 137 {
		t.Errorf("memory hog exit %d (stderr %q), want 137 (SIGKILL)", r.code, r.stderr)
	}
	cg, err := cgroups.Open(cgPath)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := cg.OOMKillCount(); err != nil || n < 1 {
		t.Errorf("OOMKillCount = %d, %v; want >= 1", n, err)
	}
}

func TestPidsLimit(t *testing.T) {
	p := newPod(t, "testpod")
	bundle, _ := newBundle(t, p, []string{"sh", "-c", "for i in 1 2 3 4 5 6; do sleep 1 & done; wait"}, func(s *specs.Spec) {
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: i64(4)}
	})
	r := runBuiltin(t, bundle)
	if !strings.Contains(r.stderr, "can't fork: Resource temporarily unavailable") {
		t.Errorf("forks beyond pids.max: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestRunInitUsage(t *testing.T) {
	// A valid bundle, but this process is not PID 1 of a new pid namespace: init must refuse
	// before touching anything.
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(`{"process":{"args":["true"]},"root":{"path":"rootfs"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
	}{{nil, 2}, {[]string{"bogus"}, 2}, {[]string{"init", "run"}, 128}, {[]string{"run", "--bundle", "/nonexistent"}, 128},
		{[]string{"run", "--bundle", bundle}, 128}, {[]string{"exec", "--bundle", bundle}, 128}} {
		if got := RunInit(tc.args); got != tc.code {
			t.Errorf("RunInit(%q) = %d, want %d", tc.args, got, tc.code)
		}
	}
}

func TestSecureJoin(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "a/b"), 0o755))
	must(os.Symlink("/etc", filepath.Join(root, "abs")))
	must(os.Symlink("../../..", filepath.Join(root, "a/b/up")))
	must(os.Symlink("b", filepath.Join(root, "a/rel")))
	for _, tc := range []struct{ in, want string }{
		{"/a/b", "/a/b"},
		{"/abs/hosts", "/etc/hosts"},
		{"/a/b/up/x", "/x"},
		{"/../../x", "/x"},
		{"/a/rel/c", "/a/b/c"},
	} {
		got, err := secureJoin(root, tc.in)
		if err != nil || got != filepath.Join(root, tc.want) {
			t.Errorf("secureJoin(%q) = %q, %v; want %q", tc.in, got, err, filepath.Join(root, tc.want))
		}
	}
}
