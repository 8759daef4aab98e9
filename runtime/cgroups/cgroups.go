package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// DefaultRoot is where the host mounts its cgroup hierarchies.
const DefaultRoot = "/sys/fs/cgroup"

// HybridUnified stands, in Hierarchy.Mounts, for the cgroup2 mount of a hybrid host, which holds
// no controllers but in which processes are placed as well.
const HybridUnified = "cgroup2"

// Hierarchy is one host's cgroup layout: either the unified (v2) mount or the set of v1 mounts.
// Tests build one over a temp dir; Detect reads the real one.
type Hierarchy struct {
	// Root is the v2 mount point, or the directory holding the v1 mounts.
	Root string
	// V2 is true on a pure cgroup v2 host.
	V2 bool
	// Mounts maps every mounted v1 hierarchy's directory (absolute) to the controllers it holds
	// ("cpu,cpuacct" mounted once is one entry). Unused when V2.
	Mounts map[string][]string

	// Rmdir and Kill are the side effects a fake tree cannot have; nil means the real syscalls.
	Rmdir func(dir string) error
	Kill  func(pid int, sig syscall.Signal) error
	// AttachDevices puts a device filter on a cgroup2 directory; nil means AttachDeviceProgram
	// (bpf(2)), which a test without root cannot call.
	AttachDevices func(dir string, p *DeviceProgram) error
	// KillTimeout bounds how long Remove waits for killed tasks to leave; 0 means 10s.
	KillTimeout time.Duration
}

// Detect reads the cgroup layout under root (normally DefaultRoot) from the filesystem magic and
// /proc/self/mountinfo.
func Detect(root string) (*Hierarchy, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return nil, fmt.Errorf("cgroups: statfs %s: %w", root, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return &Hierarchy{Root: root, V2: true}, nil
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	defer f.Close()
	mounts, err := parseV1Mounts(f, root)
	if err != nil {
		return nil, err
	}
	if len(mounts) == 0 {
		return nil, fmt.Errorf("cgroups: no cgroup v1 or v2 hierarchy mounted at %s", root)
	}
	return &Hierarchy{Root: root, Mounts: mounts}, nil
}

// parseV1Mounts returns the v1 cgroup mounts below root found in a mountinfo listing. Named
// hierarchies (name=systemd) and a hybrid host's unified mount are kept: runc's cgroupfs driver
// joins them too.
func parseV1Mounts(r io.Reader, root string) (map[string][]string, error) {
	mounts := map[string][]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 || len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if filepath.Dir(mp) != filepath.Clean(root) {
			continue
		}
		if fields[sep+1] == "cgroup2" {
			// Hybrid host: runc joins the (controller-less) unified hierarchy too.
			mounts[mp] = []string{HybridUnified}
			continue
		}
		if fields[sep+1] != "cgroup" {
			continue
		}
		var ctrls []string
		for _, o := range strings.Split(fields[sep+3], ",") {
			switch o {
			case "rw", "ro", "relatime", "noatime", "nosuid", "nodev", "noexec", "clone_children", "xattr":
				continue
			}
			if strings.HasPrefix(o, "release_agent=") {
				continue
			}
			ctrls = append(ctrls, o)
		}
		if len(ctrls) > 0 {
			mounts[mp] = ctrls
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cgroups: read mountinfo: %w", err)
	}
	return mounts, nil
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Cgroup is one container's cgroup: one directory per v1 hierarchy, or one v2 directory.
type Cgroup struct {
	h    *Hierarchy
	path string
	// dirs maps each hierarchy directory (v1 mount point, or the v2 root) to the cgroup's directory in it.
	dirs map[string]string
}

// Create makes the cgroup path (a cgroupsPath such as /podnet/node/pod<uid>/<id>) on the host's
// hierarchy and applies r. It is Detect(DefaultRoot) followed by Hierarchy.Create.
func Create(path string, r *specs.LinuxResources) (*Cgroup, error) {
	h, err := Detect(DefaultRoot)
	if err != nil {
		return nil, err
	}
	return h.Create(path, r)
}

// Open returns the host's existing cgroup at path without touching it.
func Open(path string) (*Cgroup, error) {
	h, err := Detect(DefaultRoot)
	if err != nil {
		return nil, err
	}
	return h.Open(path)
}

// Open returns the cgroup at path without creating or changing anything.
func (h *Hierarchy) Open(path string) (*Cgroup, error) {
	clean, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	c := &Cgroup{h: h, path: clean, dirs: map[string]string{}}
	if h.V2 {
		c.dirs[h.Root] = filepath.Join(h.Root, clean)
		return c, nil
	}
	for mp := range h.Mounts {
		c.dirs[mp] = filepath.Join(mp, clean)
	}
	return c, nil
}

func cleanPath(path string) (string, error) {
	if path == "" {
		return "", errors.New("cgroups: empty cgroup path")
	}
	clean := filepath.Clean("/" + path)
	if clean == "/" {
		return "", fmt.Errorf("cgroups: cgroup path %q is the root", path)
	}
	return clean, nil
}

// Create makes the cgroup's directories (with cpuset.cpus/mems filled in from the parents on v1,
// and the parents' controllers delegated through cgroup.subtree_control on v2) and applies r.
func (h *Hierarchy) Create(path string, r *specs.LinuxResources) (*Cgroup, error) {
	c, err := h.Open(path)
	if err != nil {
		return nil, err
	}
	if h.V2 {
		if err := h.createV2(c.path); err != nil {
			return nil, err
		}
	} else {
		for mp, dir := range c.dirs {
			if err := mkdirAllRetry(dir); err != nil {
				return nil, fmt.Errorf("cgroups: create %s: %w", dir, err)
			}
			if contains(h.Mounts[mp], "cpuset") {
				if err := fillCpuset(mp, c.path); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := c.Set(r); err != nil {
		return nil, err
	}
	return c, nil
}

// mkdirAllRetry is os.MkdirAll that survives a concurrent Remove taking away an empty parent
// between two of its mkdirs.
func mkdirAllRetry(dir string) error {
	var err error
	for i := 0; i < 5; i++ {
		if err = os.MkdirAll(dir, 0o755); err == nil || !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return err
}

// fillCpuset copies cpuset.cpus and cpuset.mems down from the nearest parent that has them: a v1
// cpuset cgroup starts with both empty and refuses tasks until they are set.
func fillCpuset(mount, path string) error {
	parent := mount
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		dir := filepath.Join(parent, part)
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			cur, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return fmt.Errorf("cgroups: %w", err)
			}
			if strings.TrimSpace(string(cur)) != "" {
				continue
			}
			val, err := os.ReadFile(filepath.Join(parent, f))
			if err != nil {
				return fmt.Errorf("cgroups: %w", err)
			}
			if err := writeFile(dir, f, strings.TrimSpace(string(val))); err != nil {
				return err
			}
		}
		parent = dir
	}
	return nil
}

// createV2 makes each level of path and enables, in every ancestor's cgroup.subtree_control,
// the controllers that ancestor has, as runc's fs2 driver does: a v2 controller's files only
// appear in a child when the parent delegates it.
func (h *Hierarchy) createV2(path string) error {
	cur := h.Root
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, part := range parts {
		avail, err := os.ReadFile(filepath.Join(cur, "cgroup.controllers"))
		if err != nil {
			return fmt.Errorf("cgroups: %w", err)
		}
		if ctrls := strings.Fields(string(avail)); len(ctrls) > 0 {
			enable := "+" + strings.Join(ctrls, " +")
			if err := writeFile(cur, "cgroup.subtree_control", enable); err != nil {
				// A controller can be refused (cpuset/rt scheduling busy): enable one by one,
				// keeping those the kernel accepts.
				for _, c := range ctrls {
					_ = writeFile(cur, "cgroup.subtree_control", "+"+c)
				}
			}
		}
		cur = filepath.Join(cur, part)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			if errors.Is(err, os.ErrNotExist) && i > 0 {
				return h.createV2(path) // a concurrent Remove took a parent: start over
			}
			return fmt.Errorf("cgroups: create %s: %w", cur, err)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func writeFile(dir, name, val string) error {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(val), 0o644); err != nil {
		return fmt.Errorf("cgroups: write %q to %s: %w", val, filepath.Join(dir, name), err)
	}
	return nil
}

// Path is the cgroupsPath this cgroup was made from.
func (c *Cgroup) Path() string { return c.path }

// V2 reports whether the cgroup lives on a unified hierarchy.
func (c *Cgroup) V2() bool { return c.h.V2 }

// Dirs maps each hierarchy's mount point to this cgroup's directory in it (one entry on v2).
func (c *Cgroup) Dirs() map[string]string {
	out := make(map[string]string, len(c.dirs))
	for k, v := range c.dirs {
		out[k] = v
	}
	return out
}

// dirFor returns the cgroup's directory in the hierarchy holding controller ctrl ("" if that
// controller is not mounted).
func (c *Cgroup) dirFor(ctrl string) string {
	if c.h.V2 {
		return c.dirs[c.h.Root]
	}
	for mp, ctrls := range c.h.Mounts {
		if contains(ctrls, ctrl) {
			return c.dirs[mp]
		}
	}
	return ""
}

// UnifiedDir is the cgroup's directory in the cgroup2 hierarchy: its only one on a v2 host, the
// one in the controller-less unified mount on a hybrid host, "" on a host without cgroup2.
func (c *Cgroup) UnifiedDir() string {
	if c.h.V2 {
		return c.dirs[c.h.Root]
	}
	for mp, ctrls := range c.h.Mounts {
		if contains(ctrls, HybridUnified) {
			return c.dirs[mp]
		}
	}
	return ""
}

// MemoryStatDir is the directory holding memory.events (v2) or memory.oom_control (v1), "" when
// the memory controller is not mounted.
func (c *Cgroup) MemoryStatDir() string { return c.dirFor("memory") }

// Add moves pid into the cgroup in every hierarchy; pid 0 means the calling process, which is how
// a process in a new pid namespace moves itself.
func (c *Cgroup) Add(pid int) error {
	for _, mp := range c.sortedMounts() {
		if err := writeFile(c.dirs[mp], "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cgroup) sortedMounts() []string {
	mps := make([]string, 0, len(c.dirs))
	for mp := range c.dirs {
		mps = append(mps, mp)
	}
	sort.Strings(mps)
	return mps
}

// Procs lists the pids in the cgroup (from every hierarchy, without duplicates, sorted).
func (c *Cgroup) Procs() ([]int, error) {
	seen := map[int]bool{}
	var pids []int
	for _, mp := range c.sortedMounts() {
		data, err := os.ReadFile(filepath.Join(c.dirs[mp], "cgroup.procs"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cgroups: %w", err)
		}
		for _, f := range strings.Fields(string(data)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("cgroups: bad pid %q in %s: %w", f, c.dirs[mp], err)
			}
			if !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	sort.Ints(pids)
	return pids, nil
}

// OOMKillCount is the number of processes the kernel's OOM killer killed in this cgroup
// (oom_kill of memory.events on v2, of memory.oom_control on v1).
func (c *Cgroup) OOMKillCount() (uint64, error) { return OOMKillCountIn(c.MemoryStatDir(), c.h.V2) }

// OOMKillCountIn reads the OOM kill counter of the memory cgroup directory dir; it lets a process
// that only knows the directory (the shim) read it without a Hierarchy.
func OOMKillCountIn(dir string, v2 bool) (uint64, error) {
	if dir == "" {
		return 0, errors.New("cgroups: memory controller not mounted")
	}
	file := "memory.oom_control"
	if v2 {
		file = "memory.events"
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, fmt.Errorf("cgroups: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "oom_kill" {
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cgroups: bad oom_kill in %s: %w", file, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("cgroups: no oom_kill counter in %s/%s", dir, file)
}

// Remove kills what is left in the cgroup, waits for it to go, removes the cgroup's directories
// and then its empty parents below the top-level one (/podnet stays). Removing a cgroup that does
// not exist is not an error.
func (c *Cgroup) Remove() error {
	kill := c.h.Kill
	if kill == nil {
		kill = syscall.Kill
	}
	rmdir := c.h.Rmdir
	if rmdir == nil {
		rmdir = unix.Rmdir
	}
	timeout := c.h.KillTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		pids, err := c.Procs()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroups: %s: processes %v still alive after SIGKILL", c.path, pids)
		}
		if c.h.V2 {
			// cgroup.kill (5.14+) kills atomically, so a forking process cannot escape the loop.
			_ = writeFile(c.dirs[c.h.Root], "cgroup.kill", "1")
		}
		for _, pid := range pids {
			if err := kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("cgroups: kill %d in %s: %w", pid, c.path, err)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, mp := range c.sortedMounts() {
		dir := c.dirs[mp]
		if err := rmdirRetry(rmdir, dir, deadline); err != nil {
			return fmt.Errorf("cgroups: remove %s: %w", dir, err)
		}
		// Empty parents go too, but never the top level one that all nodes share.
		for p := filepath.Dir(c.path); strings.Count(p, "/") > 1; p = filepath.Dir(p) {
			err := rmdir(filepath.Join(mp, p))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				break // busy: a sibling still lives there
			}
		}
	}
	return nil
}

// rmdirRetry removes dir, retrying EBUSY: the kernel drops a killed task from cgroup.procs a
// moment before the cgroup can go.
func rmdirRetry(rmdir func(string) error, dir string, deadline time.Time) error {
	for {
		err := rmdir(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Hierarchy is the layout the cgroup lives in.
func (c *Cgroup) Hierarchy() *Hierarchy { return c.h }
