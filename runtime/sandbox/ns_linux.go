package sandbox

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// HostNamespaces pins namespaces with the kernel: a locked OS thread unshares them and their
// /proc/thread-self/ns files are bind-mounted to the sandbox's paths. The mounts keep the
// namespaces alive with no process in them (no pause container).
type HostNamespaces struct{}

// Pin implements Namespaces.
func (HostNamespaces) Pin(paths map[string]string, hostname string) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: once it has left the daemon's namespaces, it must die with
		// this goroutine rather than go back to the scheduler's pool.
		runtime.LockOSThread()
		errc <- pinOnThread(paths, hostname)
	}()
	return <-errc
}

func pinOnThread(paths map[string]string, hostname string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	if hostname != "" {
		if err := unix.Sethostname([]byte(hostname)); err != nil {
			return fmt.Errorf("sethostname %q: %w", hostname, err)
		}
	}
	// The netlink handle opens its socket on this thread, hence in the new network namespace.
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	tid := unix.Gettid()
	for _, kind := range nsKinds {
		target, ok := paths[kind]
		if !ok {
			continue
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
		if err != nil {
			return fmt.Errorf("pin file: %w", err)
		}
		f.Close()
		src := fmt.Sprintf("/proc/%d/task/%d/ns/%s", os.Getpid(), tid, kind)
		if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("pinning %s namespace: %w", kind, err)
		}
	}
	return nil
}

// Unpin implements Namespaces. MNT_DETACH: a namespace still held by a process (a container not
// yet reaped) must not make teardown fail; the kernel frees it when the last user goes.
func (HostNamespaces) Unpin(paths map[string]string) error {
	var errs []error
	for _, kind := range nsKinds {
		p, ok := paths[kind]
		if !ok {
			continue
		}
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s namespace: %w", kind, err))
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
