package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

const innerEnv = "PODNET_BENCH_INNER"

// outer makes a network namespace of its own and re-runs the bench inside it, so that the
// servers it starts listen only there; the namespace goes when the bench ends. The inner bench
// also gets a private mount namespace: podman keeps state at fixed host paths (its IPAM database
// in /run/containers, a blob cache in /var/lib/containers) that the bench covers with tmpfs there.
func outer() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("must run as root (it makes a network namespace)")
	}
	ns := fmt.Sprintf("pnbench-%d", os.Getpid())
	if err := run("ip", "netns", "add", ns); err != nil {
		return err
	}
	defer run("ip", "netns", "del", ns)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := append([]string{"--net=/run/netns/" + ns, "--", "unshare", "--mount", "--propagation", "private", "--", self}, os.Args[1:]...)
	cmd := exec.Command("nsenter", args...)
	cmd.Env = append(os.Environ(), innerEnv+"=1")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

// dialFunc is how figure (c)'s HTTP clients open their connections.
type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// nsDialer dials from the network namespace at path: the socket is made on a thread moved into
// that namespace for the call (a socket keeps the namespace it was made in), and the thread goes
// back to the bench's own before other goroutines may run on it. close releases the handles.
func nsDialer(path string, d *net.Dialer) (dial dialFunc, close func() error, err error) {
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(target)
		return nil, nil, fmt.Errorf("open the bench's own network namespace: %w", err)
	}
	dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		runtime.LockOSThread()
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			return nil, fmt.Errorf("enter %s: %w", path, err)
		}
		c, err := d.DialContext(ctx, network, addr)
		if serr := unix.Setns(home, unix.CLONE_NEWNET); serr != nil {
			// The thread stays locked and ends with its goroutine: it must not run others.
			if c != nil {
				c.Close()
			}
			return nil, errors.Join(err, fmt.Errorf("leave %s: %w", path, serr))
		}
		runtime.UnlockOSThread()
		return c, err
	}
	close = func() error { return errors.Join(unix.Close(target), unix.Close(home)) }
	return dial, close, nil
}
