package netplug

import (
	"context"
	"fmt"
	"github.com/podnet/podnet/internal/roottest"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// pluginDir holds the netplug binary built once by TestMain for root tests.
var pluginDir string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() == 0 {
			dir, err := os.MkdirTemp("", "netplug-bin-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "netplug"), "github.com/podnet/podnet/cmd/netplug").CombinedOutput()
			if err != nil {
				fmt.Fprintf(os.Stderr, "build netplug: %v\n%s", err, out)
				return 1
			}
			pluginDir = dir
		}
		return m.Run()
	}()
	os.Exit(code)
}

// requireRoot skips (or fails under PODNET_INTEGRATION=1) without root.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 && pluginDir != "" {
		if _, err := exec.LookPath("nft"); err == nil {
			return
		}
	}
	roottest.Need(t, false, "root and the nft binary")
}

const (
	uplinkMTUValue = 1400
	nodeIP         = "192.168.77.1"
	clientIP       = "192.168.77.2"
)

// testNode is a node netns (where netplug runs) with an uplink veth to a
// client netns standing for the world outside the node.
type testNode struct {
	t                 testing.TB
	ns, client        ns.NetNS
	dataDir, cacheDir string
	conf              string
	list              *libcni.NetworkConfigList
}

func newNS(t testing.TB) ns.NetNS { return roottest.NewNS(t) }

func mustAddr(l netlink.Link, cidr string) error {
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return err
	}
	if err := netlink.AddrAdd(l, a); err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

// newNode makes the namespaces and a conflist; pluginExtra is spliced into
// netplug's plugin object. GC drops at once ("gcGracePeriod":"0s"), as the
// tests of GC expect; TestGCGracePeriod covers the default.
func newNode(t testing.TB, pluginExtra string) *testNode {
	requireRoot(t)
	n := &testNode{t: t, ns: newNS(t), client: newNS(t), dataDir: t.TempDir(), cacheDir: t.TempDir()}
	err := n.ns.Do(func(ns.NetNS) error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = "uplink", uplinkMTUValue
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(n.client.Fd()))}); err != nil {
			return err
		}
		up, err := netlinksafe.LinkByName("uplink")
		if err != nil {
			return err
		}
		if err := mustAddr(up, nodeIP+"/24"); err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{Gw: net.ParseIP(clientIP), LinkIndex: up.Attrs().Index})
	})
	if err != nil {
		t.Fatal("node setup:", err)
	}
	if err := n.client.Do(func(ns.NetNS) error {
		l, err := netlinksafe.LinkByName("eth0")
		if err != nil {
			return err
		}
		return mustAddr(l, clientIP+"/24")
	}); err != nil {
		t.Fatal("client setup:", err)
	}
	if pluginExtra != "" {
		pluginExtra = "," + pluginExtra
	}
	n.conf = fmt.Sprintf(`{"cniVersion":"1.1.0","name":"podnet","plugins":[{"type":"netplug","subnet":"10.244.0.0/24","dataDir":%q,"gcGracePeriod":"0s","capabilities":{"portMappings":true}%s}]}`, n.dataDir, pluginExtra)
	if n.list, err = libcni.ConfListFromBytes([]byte(n.conf)); err != nil {
		t.Fatal(err)
	}
	return n
}

// cniIn runs fn with a libcni client from a thread inside the node netns,
// so that the plugin processes it starts run there too.
func (n *testNode) cniIn(cacheDir string, fn func(c *libcni.CNIConfig, ctx context.Context) error) error {
	return n.cniInDirs([]string{pluginDir}, cacheDir, fn)
}

func (n *testNode) cniInDirs(binDirs []string, cacheDir string, fn func(c *libcni.CNIConfig, ctx context.Context) error) error {
	c := libcni.NewCNIConfigWithCacheDir(binDirs, cacheDir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return n.ns.Do(func(ns.NetNS) error { return fn(c, ctx) })
}

func rt(id, netns string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: "eth0",
		Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_NAMESPACE", "default"}, {"K8S_POD_NAME", id}}}
}

func (n *testNode) add(id string, pod ns.NetNS) (*current.Result, error) {
	return n.addWith([]string{pluginDir}, id, pod)
}

func (n *testNode) addWith(binDirs []string, id string, pod ns.NetNS) (*current.Result, error) {
	var res types.Result
	err := n.cniInDirs(binDirs, n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) (err error) {
		res, err = c.AddNetworkList(ctx, n.list, rt(id, pod.Path()))
		return err
	})
	if err != nil {
		return nil, err
	}
	return current.NewResultFromResult(res)
}

func (n *testNode) mustAdd(id string, pod ns.NetNS) *current.Result {
	n.t.Helper()
	r, err := n.add(id, pod)
	if err != nil {
		n.t.Fatalf("ADD %s: %v", id, err)
	}
	return r
}

func (n *testNode) del(id, netnsPath string) error {
	return n.delWith([]string{pluginDir}, id, netnsPath)
}

func (n *testNode) delWith(binDirs []string, id, netnsPath string) error {
	return n.cniInDirs(binDirs, n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error {
		return c.DelNetworkList(ctx, n.list, rt(id, netnsPath))
	})
}

func (n *testNode) gc(cacheDir string, valid ...string) error {
	args := &libcni.GCArgs{}
	for _, id := range valid {
		args.ValidAttachments = append(args.ValidAttachments, types.GCAttachment{ContainerID: id, IfName: "eth0"})
	}
	return n.cniIn(cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error {
		return c.GCNetworkList(ctx, n.list, args)
	})
}

// veths lists the pn* links in the node netns.
func (n *testNode) veths() []string {
	n.t.Helper()
	var names []string
	if err := n.ns.Do(func(ns.NetNS) (err error) { names, err = ourVeths(""); return err }); err != nil {
		n.t.Fatal(err)
	}
	return names
}

// reservations lists the IPAM store as "ip id/ifname" strings.
func (n *testNode) reservations() []string {
	n.t.Helper()
	s, err := OpenStore(n.dataDir, "podnet")
	if err != nil {
		n.t.Fatal(err)
	}
	rs, err := s.List()
	if err != nil {
		n.t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s %s/%s", r.IP, r.Owner.ContainerID, r.Owner.IfName))
	}
	return out
}

// nftRuleset is `nft list ruleset` inside the node netns.
func (n *testNode) nftRuleset() string {
	n.t.Helper()
	var out []byte
	if err := n.ns.Do(func(ns.NetNS) (err error) {
		out, err = exec.Command("nft", "list", "ruleset").CombinedOutput()
		return err
	}); err != nil {
		n.t.Fatalf("nft list ruleset: %v: %s", err, out)
	}
	return string(out)
}

// listen starts a TCP server in netns at addr that answers each connection
// with the remote address it saw.
func listen(t testing.TB, in ns.NetNS, addr string) {
	t.Helper()
	var l net.Listener
	if err := in.Do(func(ns.NetNS) (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			_, _ = io.WriteString(c, host)
			c.Close()
		}
	}()
}

// dial connects from netns to addr and returns what the server saw as our address.
func dial(from ns.NetNS, addr string) (string, error) {
	var seen string
	err := from.Do(func(ns.NetNS) error {
		c, err := net.DialTimeout("tcp", addr, 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		b, err := io.ReadAll(c)
		seen = strings.TrimSpace(string(b))
		return err
	})
	return seen, err
}
