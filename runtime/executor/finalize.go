package executor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/runtime/oci"
	"github.com/podnet/podnet/runtime/seccomp"
)

func init() { loadSeccomp = seccomp.Load }

// capMask turns capability names into a bit mask; names the running kernel does not know
// (above cap_last_cap) are ignored, as runc does, so one spec works on older kernels.
func capMask(names []string, lastCap int) (uint64, error) {
	var m uint64
	for _, n := range names {
		i := -1
		for j, c := range oci.AllCaps {
			if c == strings.ToUpper(n) {
				i = j
				break
			}
		}
		if i < 0 {
			return 0, fmt.Errorf("unknown capability %q", n)
		}
		if i <= lastCap {
			m |= 1 << uint(i)
		}
	}
	return m, nil
}

type capSets struct{ bounding, effective, permitted, inheritable, ambient uint64 }

func parseCaps(c *specs.LinuxCapabilities, lastCap int) (capSets, error) {
	var s capSets
	if c == nil {
		return s, nil
	}
	var err error
	for _, x := range []struct {
		dst   *uint64
		names []string
	}{{&s.bounding, c.Bounding}, {&s.effective, c.Effective}, {&s.permitted, c.Permitted}, {&s.inheritable, c.Inheritable}, {&s.ambient, c.Ambient}} {
		if *x.dst, err = capMask(x.names, lastCap); err != nil {
			return s, err
		}
	}
	return s, nil
}

// dropBounding removes every capability outside keep from this thread's bounding set.
func dropBounding(keep uint64, lastCap int) error {
	for i := 0; i <= lastCap; i++ {
		if keep&(1<<uint(i)) != 0 {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(i), 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("drop %s from the bounding set: %w", oci.AllCaps[i], err)
		}
	}
	return nil
}

// setCaps sets this thread's effective, permitted, inheritable and ambient sets.
func setCaps(s capSets, lastCap int) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := 0; i < 2; i++ {
		data[i].Effective = uint32(s.effective >> (32 * i))
		data[i].Permitted = uint32(s.permitted >> (32 * i))
		data[i].Inheritable = uint32(s.inheritable >> (32 * i))
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	for i := 0; i <= lastCap; i++ {
		if s.ambient&(1<<uint(i)) == 0 {
			continue
		}
		// Raising needs the capability in permitted and inheritable; runc ignores the failure too.
		_ = unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(i), 0, 0)
	}
	return nil
}

// setUser switches this thread (only: it is the one that will execve) to uid/gid/groups.
func setUser(u specs.User) error {
	groups := make([]uint32, 0, len(u.AdditionalGids))
	groups = append(groups, u.AdditionalGids...)
	var gp unsafe.Pointer
	if len(groups) > 0 {
		gp = unsafe.Pointer(&groups[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(gp), 0); e != 0 {
		return fmt.Errorf("setgroups %v: %w", groups, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("setgid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("setuid %d: %w", u.UID, e)
	}
	return nil
}

// finalize is the end of both the container's init and an exec'd process, in runc's order:
// rlimits, executable lookup, no_new_privs, seccomp early if it must be loaded with
// CAP_SYS_ADMIN (no no_new_privs), bounding set, user (keeping caps across setuid), capability
// sets, cwd, seccomp late otherwise. It returns the executable's path; the caller execs it (or
// forks it, for Exec) straight away: nothing may run in between.
func finalize(p *specs.Process, sc *specs.LinuxSeccomp, lastCap int) (string, error) {
	if err := closeOnExecFrom(3); err != nil {
		return "", setupErr("%w", err)
	}
	for _, r := range p.Rlimits {
		res, ok := rlimitNames[r.Type]
		if !ok {
			return "", setupErr("unknown rlimit %q", r.Type)
		}
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if err := unix.Prlimit(0, res, &lim, nil); err != nil {
			return "", setupErr("setrlimit %s: %w", r.Type, err)
		}
	}
	caps, err := parseCaps(p.Capabilities, lastCap)
	if err != nil {
		return "", setupErr("%w", err)
	}
	env := p.Env
	path, err := lookPath(p.Args[0], env)
	if err != nil {
		return "", err
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "", setupErr("no_new_privs: %w", err)
		}
	}
	if sc != nil && !p.NoNewPrivileges {
		if err := loadSeccomp(sc); err != nil {
			return "", setupErr("seccomp: %w", err)
		}
	}
	if err := dropBounding(caps.bounding, lastCap); err != nil {
		return "", setupErr("%w", err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return "", setupErr("keepcaps: %w", err)
	}
	if err := setUser(p.User); err != nil {
		return "", setupErr("%w", err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return "", setupErr("keepcaps: %w", err)
	}
	if err := setCaps(caps, lastCap); err != nil {
		return "", setupErr("%w", err)
	}
	if p.Cwd != "" {
		if err := unix.Chdir(p.Cwd); err != nil {
			return "", setupErr("chdir %s: %w", p.Cwd, err)
		}
	}
	if sc != nil && p.NoNewPrivileges {
		if err := loadSeccomp(sc); err != nil {
			return "", setupErr("seccomp: %w", err)
		}
	}
	return path, nil
}

// execError maps a failed execve to the exit code a shell would give.
func execError(name string, err error) error {
	code := ExitCannotInvoke
	if errors.Is(err, unix.ENOENT) {
		code = ExitNotFound
	}
	return &initError{code: code, err: fmt.Errorf("exec %q: %w", name, err)}
}

// closeOnExecFrom marks every descriptor from min up close-on-exec, so nothing the runtime held
// open (the bundle, namespace files, the shim's pipes) reaches the container's process.
func closeOnExecFrom(min int) error {
	// close_range (5.11+) needs no /proc, which Exec's helper cannot see itself in: it lives in
	// the host's pid namespace but the container's mounts.
	if err := unix.CloseRange(uint(min), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err == nil {
		return nil
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list fds: %w", err)
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < min {
			continue
		}
		unix.CloseOnExec(fd)
	}
	return nil
}

// lookPath resolves name in the container's PATH (from its env, not ours), with exec.LookPath's
// error text, which runc's users know.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		if err := executable(name); err != nil {
			code := ExitCannotInvoke
			if errors.Is(err, os.ErrNotExist) {
				code = ExitNotFound
			}
			return "", &initError{code: code, err: fmt.Errorf("exec: %q: %w", name, err)}
		}
		return name, nil
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", &initError{code: ExitNotFound, err: fmt.Errorf("exec: %q: executable file not found in $PATH", name)}
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return os.ErrPermission
	}
	return nil
}

var rlimitNames = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}
