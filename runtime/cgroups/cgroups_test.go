package cgroups

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/podnet/podnet/internal/roottest"
)

func u64(v uint64) *uint64 { return &v }

// fakeTree lays files out as the kernel would before Create runs.
func fakeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, val := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(val), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// readTree returns every file below root with its contents, for literal comparison.
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCreateV1(t *testing.T) {
	root := fakeTree(t, map[string]string{
		"cpuset/cpuset.cpus":                        "0-1\n",
		"cpuset/cpuset.mems":                        "0\n",
		"cpuset/podnet/cpuset.cpus":                 "",
		"cpuset/podnet/cpuset.mems":                 "",
		"cpuset/podnet/n1/cpuset.cpus":              "",
		"cpuset/podnet/n1/cpuset.mems":              "",
		"cpuset/podnet/n1/c1/cpuset.cpus":           "",
		"cpuset/podnet/n1/c1/cpuset.mems":           "",
		"memory/podnet/n1/c1/memory.limit_in_bytes": "9223372036854771712\n",
	})
	h := &Hierarchy{Root: root, Mounts: map[string][]string{
		filepath.Join(root, "cpu,cpuacct"): {"cpu", "cpuacct"},
		filepath.Join(root, "cpuset"):      {"cpuset"},
		filepath.Join(root, "memory"):      {"memory"},
		filepath.Join(root, "pids"):        {"pids"},
		filepath.Join(root, "systemd"):     {"name=systemd"},
	}}
	c, err := h.Create("/podnet/n1/c1", &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20)},
		CPU:    &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000)},
		Pids:   &specs.LinuxPids{Limit: i64(32)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add(0); err != nil {
		t.Fatal(err)
	}
	got := readTree(t, root)
	want := map[string]string{
		"cpuset/cpuset.cpus":                         "0-1\n",
		"cpuset/cpuset.mems":                         "0\n",
		"cpuset/podnet/cpuset.cpus":                  "0-1",
		"cpuset/podnet/cpuset.mems":                  "0",
		"cpuset/podnet/n1/cpuset.cpus":               "0-1",
		"cpuset/podnet/n1/cpuset.mems":               "0",
		"cpuset/podnet/n1/c1/cpuset.cpus":            "0-1",
		"cpuset/podnet/n1/c1/cpuset.mems":            "0",
		"cpuset/podnet/n1/c1/cgroup.procs":           "0",
		"memory/podnet/n1/c1/memory.limit_in_bytes":  "67108864",
		"memory/podnet/n1/c1/cgroup.procs":           "0",
		"cpu,cpuacct/podnet/n1/c1/cpu.shares":        "512",
		"cpu,cpuacct/podnet/n1/c1/cpu.cfs_period_us": "100000",
		"cpu,cpuacct/podnet/n1/c1/cpu.cfs_quota_us":  "50000",
		"cpu,cpuacct/podnet/n1/c1/cgroup.procs":      "0",
		"pids/podnet/n1/c1/pids.max":                 "32",
		"pids/podnet/n1/c1/cgroup.procs":             "0",
		"systemd/podnet/n1/c1/cgroup.procs":          "0",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tree:\n got %v\nwant %v", got, want)
	}
	if d := c.MemoryStatDir(); d != filepath.Join(root, "memory/podnet/n1/c1") {
		t.Errorf("MemoryStatDir = %s", d)
	}
}

func TestCreateV2(t *testing.T) {
	root := fakeTree(t, map[string]string{
		"cgroup.controllers":           "cpuset cpu io memory pids\n",
		"podnet/cgroup.controllers":    "cpu memory pids\n",
		"podnet/n1/cgroup.controllers": "cpu memory pids\n",
		"podnet/n1/c1/memory.swap.max": "max\n",
	})
	h := &Hierarchy{Root: root, V2: true}
	_, err := h.Create("podnet/n1/c1", &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(64 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(1024), Quota: i64(-1), Period: u64(100000)},
		Pids:    &specs.LinuxPids{Limit: i64(-1)},
		Unified: map[string]string{"memory.high": "50000000"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := readTree(t, root)
	want := map[string]string{
		"cgroup.controllers":               "cpuset cpu io memory pids\n",
		"cgroup.subtree_control":           "+cpuset +cpu +io +memory +pids",
		"podnet/cgroup.controllers":        "cpu memory pids\n",
		"podnet/cgroup.subtree_control":    "+cpu +memory +pids",
		"podnet/n1/cgroup.controllers":     "cpu memory pids\n",
		"podnet/n1/cgroup.subtree_control": "+cpu +memory +pids",
		"podnet/n1/c1/memory.max":          "67108864",
		"podnet/n1/c1/memory.swap.max":     "0",
		"podnet/n1/c1/cpu.weight":          "39",
		"podnet/n1/c1/cpu.max":             "max 100000",
		"podnet/n1/c1/pids.max":            "max",
		"podnet/n1/c1/memory.high":         "50000000",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tree:\n got %v\nwant %v", got, want)
	}
}

func TestDevicesV1(t *testing.T) {
	root := t.TempDir()
	h := &Hierarchy{Root: root, Mounts: map[string][]string{filepath.Join(root, "devices"): {"devices"}}}
	c, err := h.Open("/podnet/x")
	if err != nil {
		t.Fatal(err)
	}
	var ws []write
	// Record the writes instead of letting the file keep only the last one.
	r := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	for _, d := range append(append([]specs.LinuxDeviceCgroup{}, r.Devices...), defaultDevices...) {
		ws = append(ws, write{"devices", map[bool]string{true: "allow", false: "deny"}[d.Allow], deviceRule(d)})
	}
	var lines []string
	for _, w := range ws {
		lines = append(lines, w.file+" "+w.val)
	}
	want := []string{"deny a", "allow c *:* m", "allow b *:* m", "allow c 1:3 rwm", "allow c 1:8 rwm",
		"allow c 1:7 rwm", "allow c 5:0 rwm", "allow c 1:5 rwm", "allow c 1:9 rwm", "allow c 136:* rwm",
		"allow c 5:2 rwm", "allow c 10:200 rwm"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("device rules\n got %q\nwant %q", lines, want)
	}
	if err := os.MkdirAll(filepath.Join(root, "devices/podnet/x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(r); err != nil {
		t.Fatal(err)
	}
	if got := readTree(t, root)["devices/podnet/x/devices.allow"]; got != "c 10:200 rwm" {
		t.Errorf("last devices.allow write = %q", got)
	}
}

func TestSharesToWeight(t *testing.T) {
	for _, tc := range []struct{ shares, weight uint64 }{{0, 0}, {2, 1}, {1024, 39}, {262144, 10000}, {102, 4}} {
		if got := sharesToWeight(tc.shares); got != tc.weight {
			t.Errorf("sharesToWeight(%d) = %d, want %d", tc.shares, got, tc.weight)
		}
	}
}

func TestParseV1Mounts(t *testing.T) {
	info := `25 24 0:22 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
27 25 0:24 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
28 25 0:25 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/x,name=systemd
29 25 0:26 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
31 25 0:28 / /sys/fs/cgroup/bpf rw - bpf bpf rw
30 1 0:27 / /other/memory rw - cgroup cgroup rw,memory
`
	got, err := parseV1Mounts(strings.NewReader(info), "/sys/fs/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"/sys/fs/cgroup/cpu,cpuacct": {"cpu", "cpuacct"},
		"/sys/fs/cgroup/memory":      {"memory"},
		"/sys/fs/cgroup/systemd":     {"name=systemd"},
		"/sys/fs/cgroup/unified":     {HybridUnified},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v want %v", got, want)
	}
}

func TestOOMKillCountAndRemoveFake(t *testing.T) {
	root := fakeTree(t, map[string]string{
		"memory/podnet/n/c/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
		"memory/podnet/n/c/cgroup.procs":       "12\n7\n",
		"memory/podnet/other/cgroup.procs":     "",
	})
	var killed []int
	var removed []string
	h := &Hierarchy{Root: root, Mounts: map[string][]string{filepath.Join(root, "memory"): {"memory"}},
		Kill: func(pid int, sig syscall.Signal) error {
			killed = append(killed, pid)
			// The fake kernel empties the cgroup once everything got SIGKILL.
			return os.WriteFile(filepath.Join(root, "memory/podnet/n/c/cgroup.procs"), nil, 0o644)
		},
		Rmdir: func(dir string) error {
			rel, _ := filepath.Rel(root, dir)
			removed = append(removed, rel)
			return os.RemoveAll(dir)
		},
	}
	c, err := h.Open("/podnet/n/c")
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.OOMKillCount()
	if err != nil || n != 3 {
		t.Fatalf("OOMKillCount = %d, %v", n, err)
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	sort.Ints(killed)
	if !reflect.DeepEqual(killed, []int{7, 12}) {
		t.Errorf("killed %v", killed)
	}
	want := []string{"memory/podnet/n/c", "memory/podnet/n", "memory/podnet/n/c", "memory/podnet/n"}
	if !reflect.DeepEqual(removed, want) {
		t.Errorf("removed %v want %v", removed, want)
	}
}

// TestRealHierarchy runs on the host's cgroups: create with limits, move a sleep in, read the
// limit back from the kernel, Remove kills it and leaves nothing behind.
func TestRealHierarchy(t *testing.T) {
	roottest.NeedRoot(t)
	h, err := Detect(DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	top := "/podnet/test-" + hex.EncodeToString(b)
	path := top + "/pod1/c1"
	c, err := h.Create(path, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(32 << 20)},
		Pids:   &specs.LinuxPids{Limit: i64(10)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Remove()
		for _, mp := range c.sortedMounts() {
			_ = os.Remove(filepath.Join(mp, top))
			if _, err := os.Stat(filepath.Join(mp, top)); err == nil {
				t.Errorf("leaked cgroup %s", filepath.Join(mp, top))
			}
		}
	})
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := c.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	pids, err := c.Procs()
	if err != nil || !reflect.DeepEqual(pids, []int{cmd.Process.Pid}) {
		t.Fatalf("Procs = %v, %v", pids, err)
	}
	limitFile := "memory.limit_in_bytes"
	if h.V2 {
		limitFile = "memory.max"
	}
	data, err := os.ReadFile(filepath.Join(c.MemoryStatDir(), limitFile))
	if err != nil || strings.TrimSpace(string(data)) != "33554432" {
		t.Errorf("%s = %q, %v", limitFile, data, err)
	}
	if n, err := c.OOMKillCount(); err != nil || n != 0 {
		t.Errorf("OOMKillCount = %d, %v", n, err)
	}
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	<-done
	if cmd.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("sleep ended with %v, want SIGKILL", cmd.ProcessState)
	}
	for _, dir := range c.Dirs() {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Remove", dir)
		}
		if _, err := os.Stat(filepath.Dir(dir)); !os.IsNotExist(err) {
			t.Errorf("empty parent %s still exists after Remove", filepath.Dir(dir))
		}
	}
}
