package harness

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// process is a process found inside one of the namespaces under inspection.
type process struct {
	pid  int
	comm string
	ns   string // which namespace it was found in
}

// netnsInodes maps the inode of each namespace the test owns to a name for reports: the named
// namespaces plus every network namespace pinned (nsfs bind mount) under dirs, which is how pod
// sandboxes outlive their processes.
func netnsInodes(nsPaths []string, dirs []string) map[uint64]string {
	inodes := map[uint64]string{}
	add := func(path, name string) {
		var st unix.Stat_t
		if unix.Stat(path, &st) == nil {
			inodes[st.Ino] = name
		}
	}
	for _, p := range nsPaths {
		add(p, filepath.Base(p))
	}
	for _, m := range mountsUnder(dirs) {
		if m.fstype == "nsfs" {
			add(m.point, m.point)
		}
	}
	return inodes
}

// processesIn lists the processes whose network namespace is one of inodes, this one excepted.
func processesIn(inodes map[uint64]string) []process {
	entries, err := os.ReadDir("/proc")
	if err != nil || len(inodes) == 0 {
		return nil
	}
	var found []process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			continue
		}
		ino, ok := parseNetnsLink(link)
		if !ok {
			continue
		}
		if name, mine := inodes[ino]; mine {
			found = append(found, process{pid: pid, comm: processName(pid), ns: name})
		}
	}
	return found
}

// parseNetnsLink reads the inode out of a /proc/<pid>/ns/net link: "net:[4026532281]".
func parseNetnsLink(link string) (uint64, bool) {
	s, ok := strings.CutPrefix(link, "net:[")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64)
	return ino, err == nil
}

func processName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// killProcessesIn SIGKILLs every process in the test's namespaces — all of them descend from
// what the test started — waits for them to go, and reports each one as a leak.
func killProcessesIn(inodes map[uint64]string) []string {
	var leaks []string
	procs := processesIn(inodes)
	for _, p := range procs {
		leaks = append(leaks, fmt.Sprintf("process %d (%s) still running in %s", p.pid, p.comm, p.ns))
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(procs) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		procs = processesIn(inodes)
	}
	return leaks
}

// mount is one line of /proc/self/mountinfo.
type mount struct {
	point  string
	fstype string
}

// mountsUnder lists the mounts at or below any of dirs, in mountinfo order.
func mountsUnder(dirs []string) []mount {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	roots := resolveDirs(dirs)
	var found []mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		m, ok := parseMountinfo(sc.Text())
		if ok && underAny(m.point, roots) {
			found = append(found, m)
		}
	}
	return found
}

func resolveDirs(dirs []string) []string {
	var roots []string
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if r, err := filepath.EvalSymlinks(d); err == nil {
			d = r
		}
		roots = append(roots, filepath.Clean(d))
	}
	return roots
}

func underAny(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

// parseMountinfo reads a mountinfo line: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw".
func parseMountinfo(line string) (mount, bool) {
	before, after, ok := strings.Cut(line, " - ")
	if !ok {
		return mount{}, false
	}
	fields, tail := strings.Fields(before), strings.Fields(after)
	if len(fields) < 5 || len(tail) < 1 {
		return mount{}, false
	}
	return mount{point: unescapeMountinfo(fields[4]), fstype: tail[0]}, true
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for space, \011, \012, \134).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder detaches every mount under dirs, deepest first, and reports each as a leak.
// Detaching before anything is deleted matters: a recursive delete would walk into a bind mount
// and remove what it points at.
func unmountUnder(dirs []string) []string {
	mounts := mountsUnder(dirs)
	var leaks []string
	for _, m := range mounts {
		leaks = append(leaks, fmt.Sprintf("mount %s (%s) left behind", m.point, m.fstype))
	}
	sort.SliceStable(mounts, func(i, j int) bool { return len(mounts[i].point) > len(mounts[j].point) })
	for _, m := range mounts {
		if err := unix.Unmount(m.point, unix.MNT_DETACH); err != nil {
			leaks = append(leaks, fmt.Sprintf("unmounting %s: %v", m.point, err))
		}
	}
	if rest := mountsUnder(dirs); len(rest) > 0 {
		leaks = append(leaks, fmt.Sprintf("%d mounts remain under %s after unmounting", len(rest), strings.Join(dirs, ", ")))
	}
	return leaks
}

// nodeCgroups lists the cgroup directories podnet made for the node whose data dir is dataDir,
// in every hierarchy: /podnet/<node>-<first 4 bytes of sha256(abs data dir)>/… (podnet's
// cgroupParent). They must be gone once the node's pods are.
func nodeCgroups(dataDir string) []string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256([]byte(abs))
	scope := "*-" + hex.EncodeToString(sum[:4])
	v1, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", "podnet", scope))
	v2, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "podnet", scope))
	return append(v1, v2...)
}

// removeCgroups removes cgroup trees (leaves first); their processes were killed already.
func removeCgroups(roots []string) []string {
	var errs []string
	for _, root := range roots {
		var dirs []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) {
				errs = append(errs, fmt.Sprintf("removing cgroup %s: %v", dirs[i], err))
			}
		}
	}
	return errs
}
