package executor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podnet/podnet/runtime/cgroups"
)

// hostDisk is the major:minor of the host's first disk in /sys/block (loop and RAM devices
// aside), or sda's 8:0. The device cgroup decides before the driver is asked, so an open that the
// rules refuse fails with EPERM whether the disk exists or not.
func hostDisk(t *testing.T) string {
	entries, _ := os.ReadDir("/sys/block")
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/sys/block", e.Name(), "dev"))
		if err != nil {
			continue
		}
		var major, minor int
		if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%d:%d", &major, &minor); err == nil {
			t.Logf("host disk %s: %d:%d", e.Name(), major, minor)
			return fmt.Sprintf("%d %d", major, minor)
		}
	}
	return "8 0"
}

// TestDeviceAllowList runs a container with the default capabilities (CAP_MKNOD among them) that
// makes a node for the host's disk: mknod works, opening the node does not, /dev/null does. On a
// host with a cgroup2 hierarchy (pure v2, or the unified mount of a hybrid host) the refusal
// comes from the BPF device filter that Create attached to the container's cgroup2 directory
// before init moved in, and the filter is still there once the container has exited.
func TestDeviceAllowList(t *testing.T) {
	p := newPod(t, "testpod")
	var cgPath string
	script := "mknod /dev/disk b " + hostDisk(t) + ` && echo mknod ok
cat /dev/disk > /dev/null && echo disk opened
echo x > /dev/null && echo null ok
`
	bundle, _ := newBundle(t, p, []string{"sh", "-c", script}, func(s *specs.Spec) { cgPath = s.Linux.CgroupsPath })
	r := runBuiltin(t, bundle)
	want := result{
		stdout: "mknod ok\nnull ok\n",
		stderr: "cat: can't open '/dev/disk': Operation not permitted\n",
	}
	if r != want {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
	cg, err := cgroups.Open(cgPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := cg.UnifiedDir()
	if dir == "" {
		t.Log("no cgroup2 hierarchy on this host: the v1 devices controller alone refused the open")
		return
	}
	ids, err := cgroups.DevicePrograms(dir)
	if err != nil || len(ids) != 1 {
		t.Errorf("device programs on %s = %v, %v; want one", dir, ids, err)
	}
}
