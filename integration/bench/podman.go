package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// podman is Debian's podman with every piece of its state in the bench's temporary directory:
// storage (--root, --runroot), its tmpdir and network configuration, and cgroups under a parent
// of the bench's own. What podman keeps at fixed host paths is covered by tmpfs in the bench's
// private mount namespace (privateState).
type podman struct {
	dir    string
	global []string
	cgroup string // cgroup parent, relative to each hierarchy
	limits [2]string
}

func newPodman(dir string) (*podman, error) {
	if _, err := exec.LookPath("podman"); err != nil {
		return nil, fmt.Errorf("podman not installed (hack/deps.sh --bench installs it): %w", err)
	}
	// podman's default limits (RLIMIT_NOFILE 1048576, a large RLIMIT_NPROC) are above the hard
	// limits some machines give root (this VM: nofile 20000), and runc then fails; the bench's
	// own nofile fits (podman 4.3 has no --ulimit host). RLIMIT_NPROC at the bench's hard limit
	// still failed (EPERM in runc's prlimit, on this VM whose root lacks CAP_SYS_RESOURCE), 32768
	// works.
	var nofile, nproc unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &nofile); err != nil {
		return nil, err
	}
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &nproc); err != nil {
		return nil, err
	}
	return &podman{
		limits: [2]string{fmt.Sprintf("nofile=%d:%d", nofile.Cur, nofile.Max), fmt.Sprintf("nproc=%d:%d", min(nproc.Cur, 32768), min(nproc.Max, 32768))},
		dir:    dir,
		global: []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
			"--tmpdir", filepath.Join(dir, "tmp"), "--network-config-dir", filepath.Join(dir, "net"),
			"--cgroup-manager", "cgroupfs", "--events-backend", "file", "--log-level", "error"},
		cgroup: fmt.Sprintf("pnbench-%d", os.Getpid()),
	}, nil
}

func (m *podman) cmd(ctx context.Context, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, "podman", append(append([]string{}, m.global...), args...)...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// start times one container from the start of `podman run -d` to the moment podman says it is
// running: run -d returns once the container has started, which `podman inspect` then confirms
// (were it not running yet, inspect is asked again and the time is when it first says so).
func (m *podman) start(ctx context.Context, name string, timeout time.Duration) (time.Duration, error) {
	begin := time.Now()
	if _, err := m.cmd(ctx, "run", "-d", "--name", name, "--network", "bridge", "--cgroup-parent", "/"+m.cgroup,
		"--ulimit", m.limits[0], "--ulimit", m.limits[1], "busybox:latest", "sleep", "3600"); err != nil {
		return 0, err
	}
	returned := time.Since(begin)
	for first := true; ; first = false {
		out, err := m.cmd(ctx, "inspect", "-f", "{{.State.Running}}", name)
		if err != nil {
			return 0, err
		}
		if strings.TrimSpace(string(out)) == "true" {
			if first {
				return returned, nil
			}
			return time.Since(begin), nil
		}
		if time.Since(begin) > timeout {
			return 0, fmt.Errorf("%s not running after %s", name, timeout)
		}
	}
}

// benchPodman measures podman's side of the pod table: the same counts as podnet's, conmon's
// RSS while the sequential containers run. Every container, the storage and the cgroups it made
// are removed at the end.
func benchPodman(ctx context.Context, dir, image string, o podOptions) (f podFigures, err error) {
	m, err := newPodman(dir)
	if err != nil {
		return f, err
	}
	undo, err := privateState()
	if err != nil {
		return f, err
	}
	defer undo()
	defer func() {
		if cerr := m.cleanup(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up podman: %w", cerr))
		}
	}()
	if _, err := m.cmd(ctx, "load", "-i", image); err != nil {
		return f, err
	}
	next := 0
	name := func() string { next++; return fmt.Sprintf("bench-%03d", next) }
	var seq []time.Duration
	for i := 0; i < o.seq; i++ {
		d, err := m.start(ctx, name(), o.timeout)
		if err != nil {
			return f, err
		}
		seq = append(seq, d)
	}
	f.seq = percentiles(seq)
	time.Sleep(time.Second)
	f.rssMean, f.rssMax, f.rssCount = procsRSS("conmon", dir)
	burst := make([]time.Duration, o.burst)
	errs := make([]error, o.burst)
	var wg sync.WaitGroup
	for i := range burst {
		n := name()
		wg.Add(1)
		go func() {
			defer wg.Done()
			burst[i], errs[i] = m.start(ctx, n, o.timeout)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return f, err
	}
	f.burst = percentiles(burst)
	return f, nil
}

// cleanup removes every container and image, the storage and the cgroups, and checks that no
// conmon and no mount of the bench's podman is left.
func (m *podman) cleanup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var errs []error
	if _, err := m.cmd(ctx, "rm", "-a", "-f", "-t", "0"); err != nil {
		errs = append(errs, err)
	}
	if _, err := m.cmd(ctx, "system", "reset", "-f"); err != nil {
		errs = append(errs, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, conmons := procsRSS("conmon", m.dir)
		mounts := mountsUnder(m.dir)
		if conmons == 0 && mounts == 0 {
			break
		}
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("left behind: %d conmon processes, %d mounts under %s", conmons, mounts, m.dir))
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := os.RemoveAll(m.dir); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroups(m.cgroup); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeCgroups removes the (empty) cgroup directories named rel in every hierarchy, deepest first.
func removeCgroups(rel string) error {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	var errs []error
	for _, root := range roots {
		top := filepath.Join(root, rel)
		var dirs []string
		filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := unix.Rmdir(dirs[i]); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// privateState covers the host paths rootful podman writes whatever its flags say (netavark's
// IPAM database in /run/containers/networks, the blob-info cache in /var/lib/containers/cache,
// conmon's cgroup parent libpod_parent) so that the host's podman state is neither read nor
// changed: tmpfs over the directories, in the bench's private mount namespace. Directories it
// had to create are removed again by the returned function.
func privateState() (func(), error) {
	var created, mounted []string
	undo := func() {
		for i := len(mounted) - 1; i >= 0; i-- {
			run("umount", mounted[i])
		}
		for i := len(created) - 1; i >= 0; i-- {
			os.Remove(created[i])
		}
		// conmon's own cgroup goes under libpod_parent whatever the container's parent is.
		if !libpodParentBefore {
			removeCgroups("libpod_parent")
		}
	}
	libpodParentBefore = false
	if m, _ := filepath.Glob("/sys/fs/cgroup/*/libpod_parent"); len(m) > 0 {
		libpodParentBefore = true
	}
	if _, err := os.Stat("/sys/fs/cgroup/libpod_parent"); err == nil {
		libpodParentBefore = true
	}
	for _, dir := range []string{"/run/containers", "/var/lib/containers"} {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			if err := os.Mkdir(dir, 0o700); err != nil {
				undo()
				return nil, err
			}
			created = append(created, dir)
		}
		if err := run("mount", "-t", "tmpfs", "-o", "mode=0700", "pnbench", dir); err != nil {
			undo()
			return nil, err
		}
		mounted = append(mounted, dir)
	}
	return undo, nil
}

// libpodParentBefore: whether some hierarchy had podman's libpod_parent cgroup before the bench
// (then it is the host's, and left alone).
var libpodParentBefore bool
