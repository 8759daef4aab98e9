package executor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/runtime/cgroups"
)

// mountFlags are the runtime-spec mount options that are flags (true: set, false: clear).
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"atime": {true, unix.MS_NOATIME}, "noatime": {false, unix.MS_NOATIME},
	"diratime": {true, unix.MS_NODIRATIME}, "nodiratime": {false, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
}

var propagationFlags = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// parseMountOptions splits options into mount flags, propagation flags and the filesystem data.
func parseMountOptions(opts []string) (flags uintptr, prop []uintptr, data string) {
	var extra []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		if p, ok := propagationFlags[o]; ok {
			prop = append(prop, p)
			continue
		}
		extra = append(extra, o)
	}
	return flags, prop, strings.Join(extra, ",")
}

// secureJoin resolves path inside root, following symlinks as if root were "/", so that a
// malicious image cannot point a mount destination outside the rootfs.
func secureJoin(root, path string) (string, error) {
	parts := strings.Split(filepath.Clean("/"+path), "/")
	resolved := "/"
	for links := 0; len(parts) > 0; {
		part := parts[0]
		parts = parts[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved) // never above "/": the root's parent is the root
			continue
		}
		next := filepath.Join(resolved, part)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if links++; links > 255 {
			return "", fmt.Errorf("too many symlinks under %s in %s", root, path)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			resolved = "/"
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	return filepath.Join(root, resolved), nil
}

// setupRootfs prepares everything that happens before pivot_root: propagation, the rootfs as a
// mount point, the spec's mounts, /dev.
func setupRootfs(spec *specs.Spec, root string, cg *cgroups.Cgroup) error {
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if p, ok := propagationFlags[spec.Linux.RootfsPropagation]; ok {
		prop = p
	}
	// Nothing we mount may propagate back to the host.
	if err := unix.Mount("", "/", "", prop, ""); err != nil {
		return fmt.Errorf("make / %s: %w", spec.Linux.RootfsPropagation, err)
	}
	// pivot_root needs the new root's parent mount to be private.
	if err := makeParentPrivate(root); err != nil {
		return err
	}
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs %s: %w", root, err)
	}
	devTmpfs := false
	for _, m := range spec.Mounts {
		if err := mountOne(root, m, cg); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Source, m.Destination, err)
		}
		if filepath.Clean(m.Destination) == "/dev" {
			devTmpfs = true
		}
	}
	if devTmpfs {
		if err := createDevices(root, spec.Linux.Devices); err != nil {
			return err
		}
		if err := devSymlinks(root); err != nil {
			return err
		}
	}
	return pivotRoot(root)
}

// makeParentPrivate makes the mount holding root private (pivot_root refuses shared parents).
func makeParentPrivate(root string) error {
	for dir := root; ; dir = filepath.Dir(dir) {
		err := unix.Mount("", dir, "", unix.MS_PRIVATE, "")
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINVAL) || dir == "/" {
			return fmt.Errorf("make parent mount of %s private: %w", root, err)
		}
	}
}

func mountOne(root string, m specs.Mount, cg *cgroups.Cgroup) error {
	dest, err := secureJoin(root, m.Destination)
	if err != nil {
		return err
	}
	flags, props, data := parseMountOptions(m.Options)
	typ := m.Type
	if flags&unix.MS_BIND != 0 {
		typ = "bind"
	}
	switch typ {
	case "bind":
		fi, err := os.Stat(m.Source)
		if err != nil {
			return err
		}
		if err := mkTarget(dest, fi.IsDir()); err != nil {
			return err
		}
		if err := unix.Mount(m.Source, dest, "", unix.MS_BIND|(flags&unix.MS_REC), ""); err != nil {
			return err
		}
		// A bind mount ignores every other flag: they take effect on a remount.
		if rest := flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 {
			if err := unix.Mount("", dest, "", unix.MS_BIND|unix.MS_REMOUNT|rest|lockedFlags(dest), ""); err != nil {
				return fmt.Errorf("remount: %w", err)
			}
		}
	case "cgroup", "cgroup2":
		if err := mkTarget(dest, true); err != nil {
			return err
		}
		if err := mountCgroup(dest, flags, cg); err != nil {
			return err
		}
	default:
		if err := mkTarget(dest, true); err != nil {
			return err
		}
		src := m.Source
		if src == "" {
			src = typ
		}
		if err := unix.Mount(src, dest, typ, flags, data); err != nil {
			return err
		}
	}
	for _, p := range props {
		if err := unix.Mount("", dest, "", p, ""); err != nil {
			return fmt.Errorf("propagation: %w", err)
		}
	}
	return nil
}

// lockedFlags are the flags of the mount at path that a remount must keep: a bind remount
// replaces all of them, and the kernel refuses to clear flags that are locked on the mount.
func lockedFlags(path string) uintptr {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0
	}
	var out uintptr
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			out |= f.ms
		}
	}
	return out
}

func mkTarget(dest string, dir bool) error {
	if dir {
		return os.MkdirAll(dest, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// mountCgroup gives the container its own cgroup, read-only unless the spec says rw: on v2 a
// cgroup2 mount (rooted at the container's cgroup when it has a cgroup namespace); on v1, as runc
// does without a cgroup namespace, a tmpfs holding a bind mount of the container's directory in
// each hierarchy.
func mountCgroup(dest string, flags uintptr, cg *cgroups.Cgroup) error {
	if cg == nil {
		return errors.New("a cgroup mount needs linux.cgroupsPath")
	}
	if cg.V2() {
		return unix.Mount("cgroup2", dest, "cgroup2", flags, "")
	}
	if err := unix.Mount("tmpfs", dest, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return err
	}
	dirs := cg.Dirs()
	mps := make([]string, 0, len(dirs))
	for mp, ctrls := range cg.Hierarchy().Mounts {
		if len(ctrls) == 1 && ctrls[0] == cgroups.HybridUnified {
			continue // not shown to containers on a hybrid host, as under runc
		}
		mps = append(mps, mp)
	}
	sort.Strings(mps)
	for _, mp := range mps {
		name := filepath.Base(mp)
		target := filepath.Join(dest, name)
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(dirs[mp], target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return err
		}
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC|(flags&unix.MS_RDONLY), ""); err != nil {
			return err
		}
		// cpu,cpuacct mounted together is reachable as cpu and cpuacct too.
		if strings.Contains(name, ",") {
			for _, sub := range strings.Split(name, ",") {
				if err := os.Symlink(name, filepath.Join(dest, sub)); err != nil && !os.IsExist(err) {
					return err
				}
			}
		}
	}
	// The tmpfs itself stays writable, as under runc: only the hierarchies are read-only.
	return nil
}

// defaultDevices are the nodes every container gets, as runc creates them.
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
}

func createDevices(root string, extra []specs.LinuxDevice) error {
	old := unix.Umask(0)
	defer unix.Umask(old)
	seen := map[string]bool{}
	for _, d := range append(append([]specs.LinuxDevice{}, extra...), defaultDevices...) {
		if seen[d.Path] {
			continue
		}
		seen[d.Path] = true
		dest, err := secureJoin(root, d.Path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(*d.FileMode & 0o7777)
		}
		switch d.Type {
		case "c", "u":
			mode |= unix.S_IFCHR
		case "b":
			mode |= unix.S_IFBLK
		case "p":
			mode |= unix.S_IFIFO
		default:
			return fmt.Errorf("device %s: unknown type %q", d.Path, d.Type)
		}
		if err := unix.Mknod(dest, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mknod %s: %w", d.Path, err)
		}
		uid, gid := 0, 0
		if d.UID != nil {
			uid = int(*d.UID)
		}
		if d.GID != nil {
			gid = int(*d.GID)
		}
		if err := unix.Chown(dest, uid, gid); err != nil {
			return fmt.Errorf("chown %s: %w", d.Path, err)
		}
	}
	return nil
}

func devSymlinks(root string) error {
	links := [][2]string{
		{"/proc/self/fd", "/dev/fd"},
		{"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"},
	}
	// Only where the kernel has /proc/kcore, as runc does.
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "/dev/core"})
	}
	if _, err := os.Stat(filepath.Join(root, "dev/pts/ptmx")); err == nil {
		links = append(links, [2]string{"pts/ptmx", "/dev/ptmx"})
	}
	for _, l := range links {
		if err := os.Symlink(l[0], filepath.Join(root, l[1])); err != nil && !os.IsExist(err) {
			return fmt.Errorf("symlink %s: %w", l[1], err)
		}
	}
	return nil
}

// pivotRoot makes root the process's "/" and detaches the old root, without needing a directory
// to put it in (runc's pivot_root(".", ".") trick).
func pivotRoot(root string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(root, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	// The old root is stacked on "."; slave it so the unmount does not reach the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// finishRootfs runs after pivot_root (and sysctls): masked and read-only paths, read-only root.
func finishRootfs(spec *specs.Spec) error {
	// runc's order: read-only paths first, then masks (which may sit inside them).
	for _, p := range spec.Linux.ReadonlyPaths {
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("read-only %s: %w", p, err)
		}
		if err := unix.Mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_REC|lockedFlags(p), ""); err != nil {
			return fmt.Errorf("read-only %s: %w", p, err)
		}
	}
	for _, p := range spec.Linux.MaskedPaths {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
		if fi.IsDir() {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "")
		} else {
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	if spec.Root.Readonly {
		if err := unix.Mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|lockedFlags("/"), ""); err != nil {
			return fmt.Errorf("read-only root: %w", err)
		}
	}
	return nil
}
