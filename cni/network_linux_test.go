package cni

import (
	"context"
	"errors"
	"fmt"
	"github.com/podnet/podnet/internal/roottest"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
)

const refBinDir = "/usr/lib/cni"

// requireRoot: root and Debian's reference plugins (roottest's skip-or-fail rule).
func requireRoot(t *testing.T) {
	t.Helper()
	roottest.NeedRoot(t)
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		_, err := os.Stat(filepath.Join(refBinDir, p))
		roottest.Need(t, err == nil, "reference plugin "+p+" (Debian containernetworking-plugins)")
	}
}

// refConflist is a network of Debian's reference plugins: bridge + host-local + portmap. Their
// highest spec version is 1.0.0.
func refConflist(bridge, subnet, ipamDir string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "reftest",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": %q}},
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
  ]
}`, bridge, subnet, ipamDir)
}

type refEnv struct {
	node    ns.NetNS
	net     *Network
	ipamDir string
	cache   string
}

func newRefEnv(t *testing.T) *refEnv {
	requireRoot(t)
	root := t.TempDir()
	confDir := filepath.Join(root, "net.d")
	ipamDir := filepath.Join(root, "ipam")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(confDir, "10-ref.conflist"),
		[]byte(refConflist("pntest0", "10.99.0.0/24", ipamDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := New(Config{ConfDir: confDir, BinDirs: []string{refBinDir}, CacheDir: filepath.Join(root, "cache"), Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if n.Name() != "reftest" {
		t.Fatalf("loaded network %s, want reftest", n.Name())
	}
	node := roottest.NewNS(t)
	return &refEnv{node: node, net: n, ipamDir: filepath.Join(ipamDir, "reftest"), cache: filepath.Join(root, "cache")}
}

// inNode runs f on a thread inside the node namespace, so that the plugins libcni spawns run there.
func (e *refEnv) inNode(t *testing.T, f func() error) error {
	t.Helper()
	return e.node.Do(func(ns.NetNS) error { return f() })
}

func (e *refEnv) add(t *testing.T, a Attachment) *Result {
	t.Helper()
	var res *Result
	if err := e.inNode(t, func() (err error) { res, err = e.net.Add(context.Background(), a); return err }); err != nil {
		t.Fatalf("Add %s: %v", a.ContainerID, err)
	}
	return res
}

func (e *refEnv) del(t *testing.T, a Attachment) {
	t.Helper()
	if err := e.inNode(t, func() error { return e.net.Del(context.Background(), a) }); err != nil {
		t.Fatalf("Del %s: %v", a.ContainerID, err)
	}
}

func (e *refEnv) reserved(t *testing.T, ip netip.Addr) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(e.ipamDir, ip.String()))
	return err == nil
}

func (e *refEnv) cached(a Attachment) bool {
	_, err := os.Stat(filepath.Join(e.cache, "results", fmt.Sprintf("reftest-%s-%s", a.ContainerID, a.ifName())))
	return err == nil
}

func attachment(id string, n ns.NetNS) Attachment {
	return Attachment{ContainerID: id, NetNS: n.Path(), PodNamespace: "default", PodName: "pod-" + id}
}

// serve listens on addr inside n and answers each connection with "hello".
func serve(t *testing.T, n ns.NetNS, addr string) {
	t.Helper()
	var l net.Listener
	if err := n.Do(func(ns.NetNS) (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hello"))
			c.Close()
		}
	}()
}

// dial connects from inside n to addr and expects "hello".
func dial(n ns.NetNS, addr string) error {
	return n.Do(func(ns.NetNS) error {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		if string(b) != "hello" {
			return fmt.Errorf("read %q", b)
		}
		return nil
	})
}

func linkExists(t *testing.T, n ns.NetNS, name string) bool {
	t.Helper()
	var found bool
	if err := n.Do(func(ns.NetNS) error {
		_, err := netlink.LinkByName(name)
		found = err == nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

func TestReferencePluginsLifecycle(t *testing.T) {
	e := newRefEnv(t)
	podA, podB := roottest.NewNS(t), roottest.NewNS(t)
	a, b := attachment("sandbox-a", podA), attachment("sandbox-b", podB)

	if err := e.inNode(t, func() error { return e.net.Status(context.Background()) }); err != nil {
		t.Fatalf("Status: %v", err)
	}

	ra, rb := e.add(t, a), e.add(t, b)
	ipA, ipB := ra.PodIPs()[0], rb.PodIPs()[0]
	subnet := netip.MustParsePrefix("10.99.0.0/24")
	if ipA == ipB || !subnet.Contains(ipA) || !subnet.Contains(ipB) {
		t.Fatalf("pod IPs %s and %s: want two distinct addresses in %s", ipA, ipB, subnet)
	}
	gw := netip.MustParseAddr("10.99.0.1")
	for _, r := range []*Result{ra, rb} {
		if len(r.Gateways) != 1 || r.Gateways[0] != gw {
			t.Errorf("gateways = %v, want [%s]", r.Gateways, gw)
		}
	}
	if !e.reserved(t, ipA) || !e.reserved(t, ipB) {
		t.Fatalf("host-local holds no reservation for %s or %s", ipA, ipB)
	}

	// The pods reach each other and the gateway on the node.
	serve(t, podA, net.JoinHostPort(ipA.String(), "8080"))
	serve(t, e.node, net.JoinHostPort(gw.String(), "8081"))
	if err := dial(podB, net.JoinHostPort(ipA.String(), "8080")); err != nil {
		t.Errorf("pod B to pod A: %v", err)
	}
	if err := dial(podA, net.JoinHostPort(gw.String(), "8081")); err != nil {
		t.Errorf("pod A to the gateway: %v", err)
	}

	if err := e.inNode(t, func() error { return e.net.Check(context.Background(), a) }); err != nil {
		t.Errorf("Check: %v", err)
	}

	// DEL twice: the second finds nothing and succeeds.
	e.del(t, b)
	e.del(t, b)
	if e.reserved(t, ipB) || e.cached(b) || linkExists(t, podB, "eth0") {
		t.Errorf("after DEL: reservation %v, cache entry %v, eth0 %v; want none", e.reserved(t, ipB), e.cached(b), linkExists(t, podB, "eth0"))
	}
	if err := e.inNode(t, func() error { return e.net.Check(context.Background(), b) }); err == nil {
		t.Errorf("Check of a deleted attachment succeeded")
	}

	// DEL with the netns gone.
	podD := roottest.NewNS(t)
	d := attachment("sandbox-d", podD)
	ipD := e.add(t, d).PodIPs()[0]
	podD.Close()
	if err := testutils.UnmountNS(podD); err != nil {
		t.Fatal(err)
	}
	e.del(t, d)
	if e.reserved(t, ipD) || e.cached(d) {
		t.Errorf("after DEL without netns: reservation %v, cache entry %v; want none", e.reserved(t, ipD), e.cached(d))
	}

	e.del(t, a)
	if e.reserved(t, ipA) || e.cached(a) {
		t.Errorf("after DEL of A: reservation or cache entry left")
	}
}

// TestReferencePluginsGC: at cniVersion 1.0.0 libcni sends no GC to the plugins, but still DELs
// every attachment of its cache that is not in the valid list.
func TestReferencePluginsGC(t *testing.T) {
	e := newRefEnv(t)
	podA, podC := roottest.NewNS(t), roottest.NewNS(t)
	a, c := attachment("sandbox-a", podA), attachment("sandbox-c", podC)
	ipA, ipC := e.add(t, a).PodIPs()[0], e.add(t, c).PodIPs()[0]

	// GC keeping both changes nothing.
	if err := e.inNode(t, func() error { return e.net.GC(context.Background(), []Attachment{a, c}) }); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if !e.cached(c) || !e.reserved(t, ipC) || !linkExists(t, podC, "eth0") {
		t.Fatalf("GC with C live removed part of C")
	}

	// GC with only A live drops C: cache entry, reservation, interface.
	if err := e.inNode(t, func() error { return e.net.GC(context.Background(), []Attachment{a}) }); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if e.cached(c) || e.reserved(t, ipC) || linkExists(t, podC, "eth0") {
		t.Errorf("after GC: C cache entry %v, reservation %v, eth0 %v; want none", e.cached(c), e.reserved(t, ipC), linkExists(t, podC, "eth0"))
	}
	if !e.cached(a) || !e.reserved(t, ipA) || !linkExists(t, podA, "eth0") {
		t.Errorf("GC removed part of the live attachment A")
	}
	if err := e.inNode(t, func() error { return e.net.Check(context.Background(), a) }); err != nil {
		t.Errorf("Check of A after GC: %v", err)
	}
	e.del(t, a)
}

// TestReferencePluginsHostPort: the portMappings capability reaches portmap, which DNATs the node's
// address to the pod.
func TestReferencePluginsHostPort(t *testing.T) {
	e := newRefEnv(t)
	podA := roottest.NewNS(t)
	a := attachment("sandbox-hp", podA)
	a.PortMappings = []PortMapping{{HostPort: 30080, ContainerPort: 80, Protocol: "tcp"}}
	ipA := e.add(t, a).PodIPs()[0]
	serve(t, podA, net.JoinHostPort(ipA.String(), "80"))
	if err := dial(e.node, "10.99.0.1:30080"); err != nil {
		t.Errorf("node to hostPort: %v", err)
	}
	// DEL as after a restart: the runtime knows the sandbox but no longer its port mappings; the
	// ones cached at ADD are used, so the DNAT rules go.
	a.PortMappings = nil
	e.del(t, a)
	if err := dial(e.node, "10.99.0.1:30080"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("hostPort after DEL: %v, want connection refused", err)
	}
}
