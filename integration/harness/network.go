package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const netnsDir = "/run/netns"

// networkSeq makes namespace names and subnets unique within a test binary; the pid in the name
// keeps concurrent test binaries apart.
var networkSeq atomic.Uint32

// Network is a node namespace and a client namespace joined by a veth pair ("eth0" on both sides).
type Network struct {
	t        testing.TB
	nodeNS   string
	clientNS string
	prefix   netip.Prefix
	nodeIP   netip.Addr
	clientIP netip.Addr

	releaseOnce sync.Once
}

// NewNetwork makes the two namespaces and removes them, reporting leftovers, at test cleanup.
func NewNetwork(t testing.TB) *Network {
	t.Helper()
	requireRoot(t)
	requireTools(t, "ip", "nsenter")
	nw := newNetwork(t)
	t.Cleanup(nw.Close)
	nw.build()
	return nw
}

// newNetwork names a network without creating anything, so that callers can register their
// cleanup before the first resource exists.
func newNetwork(t testing.TB) *Network {
	seq := networkSeq.Add(1)
	base := fmt.Sprintf("pnt-%s-%d-%d", shortName(t.Name()), os.Getpid(), seq)
	third := byte((uint32(os.Getpid()) + seq) % 256)
	return &Network{
		t:        t,
		nodeNS:   base + "-node",
		clientNS: base + "-client",
		prefix:   netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 199, third, 0}), 24),
		nodeIP:   netip.AddrFrom4([4]byte{10, 199, third, 2}),
		clientIP: netip.AddrFrom4([4]byte{10, 199, third, 1}),
	}
}

// shortName keeps namespace names readable in `ip netns list` yet short and shell-safe.
func shortName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 24 {
			break
		}
	}
	return b.String()
}

// build creates the namespaces and the link. The veth is created inside the node namespace with
// its peer placed straight into the client's, so the host's namespace never sees it.
func (nw *Network) build() {
	nw.t.Helper()
	node, client := nw.nodeNS, nw.clientNS
	steps := [][]string{
		{"netns", "add", node},
		{"netns", "add", client},
		{"-n", node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", client},
		{"-n", node, "addr", "add", nw.nodeIP.String() + "/24", "dev", "eth0"},
		{"-n", client, "addr", "add", nw.clientIP.String() + "/24", "dev", "eth0"},
		{"-n", node, "link", "set", "lo", "up"},
		{"-n", client, "link", "set", "lo", "up"},
		{"-n", node, "link", "set", "eth0", "up"},
		{"-n", client, "link", "set", "eth0", "up"},
		{"-n", node, "route", "add", "default", "via", nw.clientIP.String()},
	}
	for _, args := range steps {
		if err := ip(args...); err != nil {
			nw.t.Fatalf("making test network: %v", err)
		}
	}
	for _, ns := range []string{node, client} {
		if err := waitLinkUp(ns, "eth0"); err != nil {
			nw.t.Fatalf("making test network: %v", err)
		}
	}
}

// waitLinkUp waits for the kernel to report the link's operational state UP: carrier reaches a
// veth end only once both ends are up, and the state change is applied asynchronously, so tests
// would otherwise start on a link that still reads DOWN.
func waitLinkUp(ns, link string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := exec.Command("ip", "-n", ns, "-o", "link", "show", "dev", link).CombinedOutput()
		if err == nil && strings.Contains(string(out), " state UP ") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s in %s not up after 5s: %s", link, ns, bytes.TrimSpace(out))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// NodeNS is the name of the node's namespace (see `ip netns list`).
func (nw *Network) NodeNS() string { return nw.nodeNS }

// ClientNS is the name of the client's namespace.
func (nw *Network) ClientNS() string { return nw.clientNS }

// NodeIP is the node's address on the link, which holds its default route.
func (nw *Network) NodeIP() netip.Addr { return nw.nodeIP }

// ClientIP is the client's address, the node's default gateway.
func (nw *Network) ClientIP() netip.Addr { return nw.clientIP }

// Prefix is the link's subnet.
func (nw *Network) Prefix() netip.Prefix { return nw.prefix }

// NodeNSPath is the namespace file of the node, for nsenter --net= or setns.
func (nw *Network) NodeNSPath() string { return filepath.Join(netnsDir, nw.nodeNS) }

// ClientNSPath is the namespace file of the client.
func (nw *Network) ClientNSPath() string { return filepath.Join(netnsDir, nw.clientNS) }

// InNodeNS runs fn on an OS thread inside the node's namespace. Sockets fn opens stay in that
// namespace; goroutines fn starts do not run there.
func (nw *Network) InNodeNS(fn func() error) error { return inNetns(nw.NodeNSPath(), fn) }

// InClientNS runs fn on an OS thread inside the client's namespace.
func (nw *Network) InClientNS(fn func() error) error { return inNetns(nw.ClientNSPath(), fn) }

// inNetns runs fn on a goroutine locked to its thread and never unlocked, so that the thread,
// whose namespace no longer matches the rest of the process, dies with the goroutine instead of
// going back to the scheduler.
func inNetns(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := os.Open(path)
		if err != nil {
			errc <- fmt.Errorf("entering network namespace: %w", err)
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering network namespace %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// DialNode connects from inside the node's namespace (e.g. to 127.0.0.1 or a ClusterIP).
func (nw *Network) DialNode(network, address string) (net.Conn, error) {
	return dialIn(nw.NodeNSPath(), network, address)
}

// DialClient connects from inside the client's namespace (e.g. to NodeIP:nodePort).
func (nw *Network) DialClient(network, address string) (net.Conn, error) {
	return dialIn(nw.ClientNSPath(), network, address)
}

func dialIn(nsPath, network, address string) (net.Conn, error) {
	var conn net.Conn
	err := inNetns(nsPath, func() error {
		var err error
		conn, err = net.DialTimeout(network, address, 5*time.Second)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dialing %s %s in %s: %w", network, address, filepath.Base(nsPath), err)
	}
	return conn, nil
}

// RunNode runs a command inside the node's namespace (host mount namespace, host filesystem).
func (nw *Network) RunNode(name string, args ...string) (stdout, stderr string, err error) {
	return runIn(context.Background(), nw.NodeNSPath(), "", nil, name, args...)
}

// RunClient runs a command inside the client's namespace.
func (nw *Network) RunClient(name string, args ...string) (stdout, stderr string, err error) {
	return runIn(context.Background(), nw.ClientNSPath(), "", nil, name, args...)
}

// runIn runs name inside a network namespace through nsenter, which execs it (same PID).
func runIn(ctx context.Context, nsPath, stdin string, env []string, name string, args ...string) (string, string, error) {
	argv := append([]string{"--net=" + nsPath, "--", name}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", argv...)
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", filepath.Base(name), strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), err
}

// Close removes the namespaces and reports as test errors whatever was left in them.
func (nw *Network) Close() {
	for _, leak := range nw.release() {
		nw.t.Error("leak: " + leak)
	}
}

// release kills what is left in the namespaces (and in namespaces pinned under dirs), unmounts
// what is left under dirs, deletes the namespaces, and returns a description of every leftover.
// Only the first call does anything.
func (nw *Network) release(dirs ...string) []string {
	var leaks []string
	nw.releaseOnce.Do(func() {
		leaks = nw.releaseNow(dirs)
	})
	return leaks
}

func (nw *Network) releaseNow(dirs []string) []string {
	nsPaths := []string{nw.NodeNSPath(), nw.ClientNSPath()}
	inodes := netnsInodes(nsPaths, dirs)
	leaks := killProcessesIn(inodes)
	leaks = append(leaks, unmountUnder(dirs)...)
	for _, p := range nsPaths {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := ip("netns", "del", filepath.Base(p)); err != nil {
			leaks = append(leaks, err.Error())
		}
	}
	return append(leaks, checkGone(nsPaths, inodes)...)
}

// checkGone verifies that the namespace files are gone and no process holds the namespaces.
func checkGone(nsPaths []string, inodes map[uint64]string) []string {
	var leaks []string
	for _, p := range nsPaths {
		if _, err := os.Stat(p); err == nil {
			leaks = append(leaks, fmt.Sprintf("network namespace %s still exists", filepath.Base(p)))
		}
	}
	for _, pr := range processesIn(inodes) {
		leaks = append(leaks, fmt.Sprintf("process %d (%s) survived SIGKILL in %s", pr.pid, pr.comm, pr.ns))
	}
	return leaks
}
