package cgroups

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/internal/roottest"
)

// With this variable set the test binary is deviceProbe instead of the tests.
const probeEnv = "PODNET_CGROUPS_TEST_DEVICE_PROBE"

func TestMain(m *testing.M) {
	if os.Getenv(probeEnv) == "1" {
		fmt.Println(deviceProbe(os.Args[1:]))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// deviceProbe (args: dir major minor) makes a block device node major:minor in a fresh tmpfs on
// dir (the probe runs in a mount namespace of its own, so the node cannot be nodev'd away or
// outlive it), opens it read-only and opens /dev/null, and reports each result as an errno name.
func deviceProbe(args []string) string {
	if len(args) != 3 {
		return "usage: dir major minor"
	}
	major, err1 := strconv.ParseUint(args[1], 10, 32)
	minor, err2 := strconv.ParseUint(args[2], 10, 32)
	if err1 != nil || err2 != nil {
		return "bad device number"
	}
	if err := unix.Mount("tmpfs", args[0], "tmpfs", 0, "mode=700"); err != nil {
		return "mount: " + errName(err)
	}
	node := filepath.Join(args[0], "disk")
	res := func(err error) string {
		if err == nil {
			return "ok"
		}
		return errName(err)
	}
	mknod := unix.Mknod(node, unix.S_IFBLK|0o600, int(unix.Mkdev(uint32(major), uint32(minor))))
	open := func(p string, flags int) error {
		fd, err := unix.Open(p, flags|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
	disk := errors.New("no node")
	if mknod == nil {
		disk = open(node, unix.O_RDONLY|unix.O_NONBLOCK)
	}
	return fmt.Sprintf("mknod=%s disk=%s null=%s", res(mknod), res(disk), res(open("/dev/null", unix.O_RDWR)))
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func errName(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// hostBlockDevices lists the major:minor of the host's block devices from /sys/block, disks
// before loop and RAM devices, and sda's 8:0 last (an open of a node for a device that does not
// exist fails with ENXIO, which is still not EPERM).
func hostBlockDevices() [][2]uint32 {
	var disks, others [][2]uint32
	entries, _ := os.ReadDir("/sys/block")
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("/sys/block", e.Name(), "dev"))
		if err != nil {
			continue
		}
		var d [2]uint32
		if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%d:%d", &d[0], &d[1]); err != nil {
			continue
		}
		if n := e.Name(); strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") {
			others = append(others, d)
		} else {
			disks = append(disks, d)
		}
	}
	return append(append(disks, others...), [2]uint32{8, 0})
}

// TestDeviceFilterInKernel attaches the filter to a cgroup2 directory of the test's own and runs
// a probe in it: without the filter the probe opens a host block device through a node of its own;
// with it, mknod still works (podnet's defaults allow mknod of any node; CAP_MKNOD is what
// limits it) but opening the node fails with EPERM, while /dev/null opens. A second attach
// replaces the first program instead of adding to it.
func TestDeviceFilterInKernel(t *testing.T) {
	roottest.NeedRoot(t)
	h, err := Detect(DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	top := "/podnet/test-" + randHex(6)
	// No resources: on a hybrid host the v1 devices controller stays out of the way, so what
	// refuses the open below can only be the program.
	c, err := h.Create(top+"/devices", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Remove(); err != nil {
			t.Errorf("remove: %v", err)
		}
		for mp := range c.Dirs() {
			_ = os.Remove(filepath.Join(mp, top))
			if _, err := os.Stat(filepath.Join(mp, top)); err == nil {
				t.Errorf("leaked cgroup %s", filepath.Join(mp, top))
			}
		}
	})
	dir := c.UnifiedDir()
	roottest.Need(t, dir != "", "a cgroup2 hierarchy (pure v2, or the unified mount of a hybrid host)")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	probe := func(dir string, dev [2]uint32) string {
		t.Helper()
		cgFd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(cgFd)
		cmd := exec.Command(self, t.TempDir(), strconv.Itoa(int(dev[0])), strconv.Itoa(int(dev[1])))
		cmd.Env = append(os.Environ(), probeEnv+"=1")
		// Born in the cgroup (clone3 CLONE_INTO_CGROUP), so nothing runs outside it first;
		// Go makes the new mount namespace's mounts private before the probe mounts anything.
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cgFd, Unshareflags: syscall.CLONE_NEWNS}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("probe: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}

	// The baseline: a block device whose node root can open here (a host may guard its own
	// disk by other means, which would prove nothing about the filter).
	var disk [2]uint32
	var before string
	for _, disk = range hostBlockDevices() {
		if before = probe(dir, disk); !strings.Contains(before, "disk=EPERM") {
			break
		}
	}
	roottest.Need(t, !strings.Contains(before, "disk=EPERM"), "a block device node root may open ("+before+")")
	t.Logf("block device %d:%d without filter: %s", disk[0], disk[1], before)

	deny, err := newDeviceProgram(append([]specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}, defaultDevices...))
	if err != nil {
		t.Fatal(err)
	}
	if err := AttachDeviceProgram(dir, deny); err != nil {
		t.Fatal(err)
	}
	first, err := DevicePrograms(dir)
	if err != nil || len(first) != 1 {
		t.Fatalf("DevicePrograms after attach = %v, %v; want one", first, err)
	}
	if got, want := probe(dir, disk), "mknod=ok disk=EPERM null=ok"; got != want {
		t.Errorf("with filter: %s, want %s", got, want)
	}

	allow, err := newDeviceProgram([]specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := AttachDeviceProgram(dir, allow); err != nil {
		t.Fatal(err)
	}
	second, err := DevicePrograms(dir)
	if err != nil || len(second) != 1 || second[0] == first[0] {
		t.Fatalf("DevicePrograms after the second attach = %v, %v; want one, not %v", second, err, first)
	}
	if got := probe(dir, disk); got != before {
		t.Errorf("with the allow-all filter in place of the first: %s, want %s as without filter", got, before)
	}

	// Create's own path on a pure v2 host, played in the test's directory: a v2 hierarchy rooted
	// there (so nothing above it is touched), a cgroup with podnet's rules for a spec denying
	// everything. Its filter is enforced below the allow-all one of its parent.
	v2 := &Hierarchy{Root: dir, V2: true}
	ctr, err := v2.Create("/ctr", &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ctr.Remove(); err != nil {
			t.Errorf("remove: %v", err)
		}
	})
	if ids, err := DevicePrograms(ctr.UnifiedDir()); err != nil || len(ids) != 1 {
		t.Errorf("DevicePrograms of the created cgroup = %v, %v; want one", ids, err)
	}
	if got, want := probe(ctr.UnifiedDir(), disk), "mknod=ok disk=EPERM null=ok"; got != want {
		t.Errorf("in a cgroup made by Create on v2: %s, want %s", got, want)
	}
}
