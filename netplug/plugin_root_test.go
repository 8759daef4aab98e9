package netplug

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestLifecycle(t *testing.T) {
	n := newNode(t, "")
	p1, p2 := newNS(t), newNS(t)
	r1 := n.mustAdd("c1", p1)
	r2 := n.mustAdd("c2", p2)
	if got := r1.IPs[0].Address.String() + " " + r2.IPs[0].Address.String(); got != "10.244.0.2/24 10.244.0.3/24" {
		t.Fatalf("IPs = %s", got)
	}
	if got := fmt.Sprintf("%s via %s", r1.Routes[0].Dst.String(), r1.Routes[0].GW); len(r1.Routes) != 1 || got != "0.0.0.0/0 via 10.244.0.1" {
		t.Fatalf("routes = %s", got)
	}
	if got := fmt.Sprintf("%s %s %s %s", r1.Interfaces[0].Name, r1.Interfaces[1].Name, r1.Interfaces[2].Name, r1.Interfaces[2].Sandbox); got != "podnet0 "+HostVethName("c1", "eth0")+" eth0 "+p1.Path() {
		t.Fatalf("interfaces = %s", got)
	}

	// CHECK and STATUS.
	if err := n.cniIn(n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error {
		if err := c.CheckNetworkList(ctx, n.list, rt("c1", p1.Path())); err != nil {
			return fmt.Errorf("CHECK: %w", err)
		}
		return c.GetStatusNetworkList(ctx, n.list)
	}); err != nil {
		t.Fatal(err)
	}

	// Pod to pod, pod to gateway, MTU, hairpin, sysctls.
	listen(t, p2, "10.244.0.3:8080")
	if seen, err := dial(p1, "10.244.0.3:8080"); err != nil || seen != "10.244.0.2" {
		t.Fatalf("pod to pod: seen %q, %v", seen, err)
	}
	listen(t, n.ns, "10.244.0.1:8081")
	if seen, err := dial(p2, "10.244.0.1:8081"); err != nil || seen != "10.244.0.3" {
		t.Fatalf("pod to gateway: seen %q, %v", seen, err)
	}
	if err := p1.Do(func(ns.NetNS) error {
		l, err := netlinksafe.LinkByName("eth0")
		if err == nil && l.Attrs().MTU != uplinkMTUValue {
			err = fmt.Errorf("pod MTU %d, want %d", l.Attrs().MTU, uplinkMTUValue)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := n.ns.Do(func(ns.NetNS) error {
		l, err := netlinksafe.LinkByName(HostVethName("c1", "eth0"))
		if err != nil {
			return err
		}
		pi, err := netlinksafe.LinkGetProtinfo(l)
		if err != nil {
			return err
		}
		if !pi.Hairpin {
			return errors.New("hairpin off on bridge port")
		}
		for _, f := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/bridge/bridge-nf-call-iptables"} {
			b, err := os.ReadFile(f)
			if err != nil || string(b) != "1\n" {
				return fmt.Errorf("%s = %q, %v", f, b, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Masquerade: the client outside the node sees the node's IP.
	listen(t, n.client, clientIP+":8082")
	if seen, err := dial(p1, clientIP+":8082"); err != nil || seen != nodeIP {
		t.Fatalf("pod to outside: seen %q, %v; ruleset:\n%s", seen, err, n.nftRuleset())
	}

	// GC keeping both (fresh cache: only the plugin's own GC acts).
	if err := n.gc(t.TempDir(), "c1", "c2"); err != nil {
		t.Fatal("GC:", err)
	}
	if got := fmt.Sprint(n.reservations()); got != "[10.244.0.2 c1/eth0 10.244.0.3 c2/eth0]" {
		t.Fatalf("after GC keeping: %s", got)
	}
	if got := len(n.veths()); got != 2 {
		t.Fatalf("after GC keeping: %d veths", got)
	}
	// GC dropping c2 through the plugin's GC alone.
	if err := n.gc(t.TempDir(), "c1"); err != nil {
		t.Fatal("GC:", err)
	}
	if got := fmt.Sprint(n.reservations(), n.veths()); got != "[10.244.0.2 c1/eth0] ["+HostVethName("c1", "eth0")+"]" {
		t.Fatalf("after GC dropping c2: %s", got)
	}

	// DEL twice, then DEL with the netns gone.
	for i := range 2 {
		if err := n.del("c1", p1.Path()); err != nil {
			t.Fatalf("DEL #%d: %v", i+1, err)
		}
	}
	p3, err := testutils.NewNS()
	if err != nil {
		t.Fatal(err)
	}
	n.mustAdd("c3", p3)
	path := p3.Path()
	p3.Close()
	if err := testutils.UnmountNS(p3); err != nil {
		t.Fatal(err)
	}
	if err := n.del("c3", path); err != nil {
		t.Fatal("DEL with netns gone:", err)
	}
	if err := n.del("c2", p2.Path()); err != nil {
		t.Fatal("DEL after GC:", err)
	}
	if got := fmt.Sprint(n.reservations(), n.veths()); got != "[] []" {
		t.Fatalf("left behind: %s", got)
	}
}

func TestStatusExhausted(t *testing.T) {
	n := newNode(t, "")
	n.conf = fmt.Sprintf(`{"cniVersion":"1.1.0","name":"podnet","plugins":[{"type":"netplug","subnet":"10.244.0.0/30","dataDir":%q,"ipMasq":false}]}`, n.dataDir)
	var err error
	if n.list, err = libcni.ConfListFromBytes([]byte(n.conf)); err != nil {
		t.Fatal(err)
	}
	n.mustAdd("only", newNS(t)) // a /30 has one address besides the gateway
	err = n.cniIn(n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error { return c.GetStatusNetworkList(ctx, n.list) })
	var te *types.Error
	if !errors.As(err, &te) || te.Code != 50 || te.Msg != "IP range exhausted" {
		t.Fatalf("STATUS = %v, want code 50", err)
	}
	if _, err := n.add("second", newNS(t)); !errors.As(err, &te) || te.Code != 11 {
		t.Fatalf("ADD on a full range = %v, want code 11", err)
	}
	if got := fmt.Sprint(n.veths()); got != "["+HostVethName("only", "eth0")+"]" {
		t.Fatalf("failed ADD left %s", got)
	}
}

func TestHostPort(t *testing.T) {
	n := newNode(t, "")
	p := newNS(t)
	res := n.cniIn(n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error {
		r := rt("web", p.Path())
		r.CapabilityArgs = map[string]any{"portMappings": []map[string]any{{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}}}
		_, err := c.AddNetworkList(ctx, n.list, r)
		return err
	})
	if res != nil {
		t.Fatal(res)
	}
	listen(t, p, "10.244.0.2:80")
	if seen, err := dial(n.client, nodeIP+":8080"); err != nil || seen != clientIP {
		t.Fatalf("hostPort from client: seen %q, %v; ruleset:\n%s", seen, err, n.nftRuleset())
	}
	// From the node itself at 127.0.0.1, as portmap allows (route_localnet on the bridge,
	// masqueraded to the bridge's address).
	if seen, err := dial(n.ns, "127.0.0.1:8080"); err != nil || seen != "10.244.0.1" {
		t.Fatalf("hostPort at 127.0.0.1 from the node: seen %q, %v; ruleset:\n%s", seen, err, n.nftRuleset())
	}
	// Hairpin: the pod reaches itself through its own hostPort.
	if seen, err := dial(p, nodeIP+":8080"); err != nil || seen == "" {
		t.Fatalf("hairpin through hostPort: seen %q, %v; ruleset:\n%s", seen, err, n.nftRuleset())
	} else {
		t.Logf("hairpin: pod seen as %s", seen)
	}
	if err := n.cniIn(n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error {
		r := rt("web", p.Path())
		r.CapabilityArgs = map[string]any{"portMappings": []map[string]any{{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}}}
		return c.DelNetworkList(ctx, n.list, r)
	}); err != nil {
		t.Fatal(err)
	}
	if rs := n.nftRuleset(); strings.Contains(rs, "hp-") || strings.Contains(rs, "8080") {
		t.Fatalf("hostPort rules left after DEL:\n%s", rs)
	}
}

func TestParallelAdds(t *testing.T) {
	n := newNode(t, "")
	const count = 50
	pods := make([]ns.NetNS, count)
	for i := range pods {
		pods[i] = newNS(t)
	}
	ips := make([]string, count)
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() {
			r, err := n.add(fmt.Sprint("p", i), pods[i])
			if err != nil {
				t.Error(err)
				return
			}
			ips[i] = r.IPs[0].Address.IP.String()
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, ip := range ips {
		if ip == "" || seen[ip] {
			t.Fatalf("missing or duplicate IP %q in %v", ip, ips)
		}
		seen[ip] = true
	}
	if got := len(n.reservations()); got != count {
		t.Fatalf("%d reservations", got)
	}
	if err := n.gc(n.cacheDir); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(n.reservations(), n.veths()); got != "[] []" {
		t.Fatalf("GC left %s", got)
	}
}

func TestAddDelCycles(t *testing.T) {
	n := newNode(t, "")
	p := newNS(t)
	// The figure: 1,000 cycles leave no veth, reservation or rule (about 25 s here).
	cycles := 1000
	if testing.Short() {
		cycles = 10
	}
	for i := range cycles {
		// Every other cycle with a hostPort, and a DEL without runtimeConfig.
		if err := n.cniIn(n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error {
			r := rt(fmt.Sprint("cycle", i), p.Path())
			if i%2 == 0 {
				r.CapabilityArgs = map[string]any{"portMappings": []map[string]any{{"hostPort": 7000 + i, "containerPort": 80}}}
			}
			if _, err := c.AddNetworkList(ctx, n.list, r); err != nil {
				return fmt.Errorf("ADD %d: %w", i, err)
			}
			if err := c.DelNetworkList(ctx, n.list, rt(r.ContainerID, p.Path())); err != nil {
				return fmt.Errorf("DEL %d: %w", i, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(n.reservations(), n.veths()); got != "[] []" {
		t.Fatalf("left behind: %s", got)
	}
	if rs := n.nftRuleset(); strings.Contains(rs, "hp-") || strings.Contains(rs, "dport") {
		t.Fatalf("hostPort rules left:\n%s", rs)
	}
	if err := p.Do(func(ns.NetNS) error {
		_, err := netlinksafe.LinkByName("eth0")
		if err == nil {
			return errors.New("eth0 left in the pod")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestKillDuringAdd SIGKILLs netplug at random points of ADDs (with a
// hostPort), then runs GC with no valid attachment: nothing may remain.
func TestKillDuringAdd(t *testing.T) {
	n := newNode(t, "")
	conf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"podnet","type":"netplug","subnet":"10.244.0.0/24","dataDir":%q,"gcGracePeriod":"0s","runtimeConfig":{"portMappings":[{"hostPort":9000,"containerPort":80,"protocol":"tcp"}]}}`, n.dataDir)
	killed := 0
	for i := range 30 {
		pod := newNS(t)
		cmd := exec.Command(filepath.Join(pluginDir, "netplug"))
		cmd.Stdin = strings.NewReader(conf)
		cmd.Env = []string{"CNI_COMMAND=ADD", "CNI_CONTAINERID=" + fmt.Sprint("kill", i), "CNI_NETNS=" + pod.Path(), "CNI_IFNAME=eth0", "CNI_PATH=" + pluginDir, "PATH=" + os.Getenv("PATH")}
		if err := n.ns.Do(func(ns.NetNS) error { return cmd.Start() }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(2*i) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++
		}
	}
	t.Logf("%d of 30 ADDs killed (the rest finished first); before GC: %d reservations, %d veths, %d hostPort chains",
		killed, len(n.reservations()), len(n.veths()), strings.Count(n.nftRuleset(), "chain hp-"))
	if killed == 0 {
		t.Fatal("no ADD was interrupted")
	}
	if err := n.gc(t.TempDir()); err != nil {
		t.Fatal("GC:", err)
	}
	if got := fmt.Sprint(n.reservations(), n.veths()); got != "[] []" {
		t.Fatalf("left behind: %s", got)
	}
	if rs := n.nftRuleset(); strings.Contains(rs, "hp-") || strings.Contains(rs, "9000") {
		t.Fatalf("hostPort rules left after GC:\n%s", rs)
	}
}

func TestSpecVersionsAndErrors(t *testing.T) {
	for _, v := range []string{"0.4.0", "1.0.0", "1.1.0"} {
		t.Run(v, func(t *testing.T) {
			n := newNode(t, "")
			var err error
			if n.list, err = libcni.ConfListFromBytes([]byte(strings.Replace(n.conf, `"1.1.0"`, `"`+v+`"`, 1))); err != nil {
				t.Fatal(err)
			}
			p := newNS(t)
			r := n.mustAdd("v", p)
			if r.IPs[0].Address.String() != "10.244.0.2/24" {
				t.Fatalf("IP %s", r.IPs[0].Address.String())
			}
			// mtu on interfaces is a field of spec 1.1.0 only.
			wantMTU := map[string]int{"0.4.0": 0, "1.0.0": 0, "1.1.0": uplinkMTUValue}[v]
			if got := r.Interfaces[2].Mtu; got != wantMTU {
				t.Fatalf("result mtu of %s = %d, want %d", r.Interfaces[2].Name, got, wantMTU)
			}
			if err := n.cniIn(n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error {
				return c.CheckNetworkList(ctx, n.list, rt("v", p.Path()))
			}); err != nil {
				t.Fatal("CHECK:", err)
			}
			if err := n.del("v", p.Path()); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("check fails without the address", func(t *testing.T) {
		n := newNode(t, "")
		p := newNS(t)
		n.mustAdd("c", p)
		if err := p.Do(func(ns.NetNS) error {
			l, err := netlinksafe.LinkByName("eth0")
			if err != nil {
				return err
			}
			a, _ := netlink.ParseAddr("10.244.0.2/24")
			return netlink.AddrDel(l, a)
		}); err != nil {
			t.Fatal(err)
		}
		err := n.cniIn(n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error {
			return c.CheckNetworkList(ctx, n.list, rt("c", p.Path()))
		})
		var te *types.Error
		if !errors.As(err, &te) || te.Code != 999 || te.Details != "address 10.244.0.2/24 missing on eth0" {
			t.Fatalf("CHECK = %#v", err)
		}
	})
	t.Run("invalid config is code 7", func(t *testing.T) {
		n := newNode(t, "")
		var err error
		if n.list, err = libcni.ConfListFromBytes([]byte(`{"cniVersion":"1.1.0","name":"podnet","plugins":[{"type":"netplug"}]}`)); err != nil {
			t.Fatal(err)
		}
		_, err = n.add("x", newNS(t))
		var te *types.Error
		if !errors.As(err, &te) || te.Code != 7 || te.Details != "subnet or ranges is required" {
			t.Fatalf("ADD = %#v", err)
		}
	})
}

// GC removes this network's leftovers only: a veth on no bridge that this network never reserved
// belongs to another network (mid-ADD, or left by its crash) and stays.
func TestGCLeavesOtherNetworksVeths(t *testing.T) {
	n := newNode(t, "")
	p := newNS(t)
	n.mustAdd("mine", p)
	foreign := HostVethName("theirs", "eth0")
	leftover := HostVethName("mine", "eth1") // ours: reserved below, then its ADD "crashed"
	s, err := OpenStore(n.dataDir, "podnet")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Allocate([]Range{mustRange(t, RangeConf{Subnet: "10.244.0.0/24"})}, Owner{ContainerID: "mine", IfName: "eth1"}); err != nil {
		t.Fatal(err)
	}
	if err := n.ns.Do(func(ns.NetNS) error {
		for i, name := range []string{foreign, leftover} {
			attrs := netlink.NewLinkAttrs()
			attrs.Name = name
			if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: fmt.Sprint("peer", i)}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := n.gc(n.cacheDir); err != nil { // nothing is valid any more
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(n.veths()), fmt.Sprintf("[%s]", foreign); got != want {
		t.Errorf("veths after GC: %s, want %s", got, want)
	}
	if got := fmt.Sprint(n.reservations()); got != "[]" {
		t.Errorf("reservations after GC: %s", got)
	}
}

// Two netplug networks on one node each keep their own masquerade rule and hostPort rules: GC of
// one leaves the other's alone (each network has a table of its own).
func TestNetworksKeepTheirOwnRules(t *testing.T) {
	n := newNode(t, "")
	other, err := libcni.ConfListFromBytes([]byte(fmt.Sprintf(`{"cniVersion":"1.1.0","name":"other","plugins":[{"type":"netplug",
		"bridge":"pnother0","subnet":"10.245.0.0/24","dataDir":%q,"gcGracePeriod":"0s","capabilities":{"portMappings":true}}]}`, n.dataDir)))
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := newNS(t), newNS(t)
	withPort := func(id string, pod ns.NetNS, port int) *libcni.RuntimeConf {
		r := rt(id, pod.Path())
		r.CapabilityArgs = map[string]any{"portMappings": []map[string]any{{"hostPort": port, "containerPort": 80, "protocol": "tcp"}}}
		return r
	}
	if err := n.cniIn(n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error {
		if _, err := c.AddNetworkList(ctx, n.list, withPort("a", pa, 8081)); err != nil {
			return err
		}
		if _, err := c.AddNetworkList(ctx, other, withPort("b", pb, 8082)); err != nil {
			return err
		}
		// GC of the first network with nothing valid: only its own attachment goes.
		return c.GCNetworkList(ctx, n.list, &libcni.GCArgs{})
	}); err != nil {
		t.Fatal(err)
	}
	rs := n.nftRuleset()
	for _, want := range []string{"table ip netplug-podnet", "table ip netplug-other", "ip saddr 10.244.0.0/24", "ip saddr 10.245.0.0/24", "dport 8082"} {
		if !strings.Contains(rs, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, rs)
		}
	}
	if strings.Contains(rs, "dport 8081") {
		t.Errorf("GC of network podnet left its hostPort rule:\n%s", rs)
	}
	if err := n.cniIn(n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error {
		return c.DelNetworkList(ctx, other, withPort("b", pb, 8082))
	}); err != nil {
		t.Fatal(err)
	}
}

const (
	nodeIP6   = "fd77::1"
	clientIP6 = "fd77::2"
)

// addrNoDAD adds cidr to the link name in the current netns, usable at once.
func addrNoDAD(name, cidr string) error {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		return err
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return err
	}
	a.Flags = unix.IFA_F_NODAD
	return netlink.AddrAdd(l, a)
}

// newDualStackNode is newNode with IPv6 on the uplink (default route via the client) and a
// dual-stack netplug configuration.
func newDualStackNode(t *testing.T) *testNode {
	n := newNode(t, "")
	if err := n.ns.Do(func(ns.NetNS) error {
		if err := addrNoDAD("uplink", nodeIP6+"/64"); err != nil {
			return err
		}
		up, _ := netlinksafe.LinkByName("uplink")
		return netlink.RouteAdd(&netlink.Route{Gw: net.ParseIP(clientIP6), LinkIndex: up.Attrs().Index})
	}); err != nil {
		t.Fatal("node v6 setup:", err)
	}
	if err := n.client.Do(func(ns.NetNS) error { return addrNoDAD("eth0", clientIP6+"/64") }); err != nil {
		t.Fatal("client v6 setup:", err)
	}
	n.conf = fmt.Sprintf(`{"cniVersion":"1.1.0","name":"podnet","plugins":[{"type":"netplug","dataDir":%q,"gcGracePeriod":"0s",
		"ranges":[[{"subnet":"10.244.0.0/24"}],[{"subnet":"fd00:10:244::/64"}]],"capabilities":{"portMappings":true}}]}`, n.dataDir)
	var err error
	if n.list, err = libcni.ConfListFromBytes([]byte(n.conf)); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDualStack(t *testing.T) {
	n := newDualStackNode(t)
	p1, p2 := newNS(t), newNS(t)
	var r1 string
	if err := n.cniIn(n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error {
		r := rt("web", p1.Path())
		r.CapabilityArgs = map[string]any{"portMappings": []map[string]any{{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}}}
		res, err := c.AddNetworkList(ctx, n.list, r)
		if err != nil {
			return err
		}
		cur, err := resultJSON(res)
		r1 = cur
		return err
	}); err != nil {
		t.Fatal("ADD:", err)
	}
	// Result: both addresses on interface 2 (eth0), a default route per family.
	for _, want := range []string{
		`"ips":[{"address":"10.244.0.2/24","gateway":"10.244.0.1","interface":2},{"address":"fd00:10:244::2/64","gateway":"fd00:10:244::1","interface":2}]`,
		`"routes":[{"dst":"0.0.0.0/0","gw":"10.244.0.1"},{"dst":"::/0","gw":"fd00:10:244::1"}]`,
	} {
		if !strings.Contains(r1, want) {
			t.Errorf("result lacks %s:\n%s", want, r1)
		}
	}
	r2 := n.mustAdd("other", p2)
	if got := fmt.Sprint(r2.IPs[0].Address.String(), " ", r2.IPs[1].Address.String()); got != "10.244.0.3/24 fd00:10:244::3/64" {
		t.Fatalf("second pod IPs = %s", got)
	}
	if err := n.cniIn(n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error {
		if err := c.CheckNetworkList(ctx, n.list, rt("other", p2.Path())); err != nil {
			return fmt.Errorf("CHECK: %w", err)
		}
		return c.GetStatusNetworkList(ctx, n.list)
	}); err != nil {
		t.Fatal(err)
	}
	// Addresses on the pod and the bridge, forwarding on in the node.
	if err := p1.Do(func(ns.NetNS) error { return hasAddrs("eth0", "10.244.0.2/24", "fd00:10:244::2/64") }); err != nil {
		t.Fatal(err)
	}
	if err := n.ns.Do(func(ns.NetNS) error {
		if err := hasAddrs("podnet0", "10.244.0.1/24", "fd00:10:244::1/64"); err != nil {
			return err
		}
		for _, f := range []string{"/proc/sys/net/ipv6/conf/all/forwarding", "/proc/sys/net/ipv4/conf/podnet0/route_localnet"} {
			if b, err := os.ReadFile(f); err != nil || string(b) != "1\n" {
				return fmt.Errorf("%s = %q, %v", f, b, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Over IPv6: pod to pod, pod to gateway, pod to outside (masqueraded), hostPort from outside.
	listen(t, p2, "[fd00:10:244::3]:8080")
	if seen, err := dial(p1, "[fd00:10:244::3]:8080"); err != nil || seen != "fd00:10:244::2" {
		t.Fatalf("pod to pod over v6: seen %q, %v", seen, err)
	}
	listen(t, n.ns, "[fd00:10:244::1]:8081")
	if seen, err := dial(p2, "[fd00:10:244::1]:8081"); err != nil || seen != "fd00:10:244::3" {
		t.Fatalf("pod to v6 gateway: seen %q, %v", seen, err)
	}
	listen(t, n.client, "["+clientIP6+"]:8082")
	if seen, err := dial(p1, "["+clientIP6+"]:8082"); err != nil || seen != nodeIP6 {
		t.Fatalf("pod to outside over v6: seen %q, %v; ruleset:\n%s", seen, err, n.nftRuleset())
	}
	listen(t, p1, "[::]:80")
	if seen, err := dial(n.client, "["+nodeIP6+"]:8080"); err != nil || seen != clientIP6 {
		t.Fatalf("v6 hostPort from client: seen %q, %v; ruleset:\n%s", seen, err, n.nftRuleset())
	}
	if seen, err := dial(n.client, nodeIP+":8080"); err != nil || seen != clientIP {
		t.Fatalf("v4 hostPort from client: seen %q, %v", seen, err)
	}
	rs := n.nftRuleset()
	for _, want := range []string{"table ip6 netplug-podnet", "ip6 saddr fd00:10:244::/64 ip6 daddr != fd00:10:244::/64 masquerade", "dnat to [fd00:10:244::2]:80", "dnat to 10.244.0.2:80"} {
		if !strings.Contains(rs, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, rs)
		}
	}

	// DEL one, GC the other: nothing of either family remains.
	if err := n.del("other", p2.Path()); err != nil {
		t.Fatal("DEL:", err)
	}
	if got := fmt.Sprint(n.reservations()); got != "[10.244.0.2 web/eth0 fd00:10:244::2 web/eth0]" {
		t.Fatalf("after DEL: %s", got)
	}
	if err := n.gc(t.TempDir()); err != nil {
		t.Fatal("GC:", err)
	}
	if got := fmt.Sprint(n.reservations(), n.veths()); got != "[] []" {
		t.Fatalf("after GC: %s", got)
	}
	if rs := n.nftRuleset(); strings.Contains(rs, "hp-") || strings.Contains(rs, "dnat") {
		t.Fatalf("hostPort rules left after GC:\n%s", rs)
	}
}

func resultJSON(r types.Result) (string, error) {
	var b strings.Builder
	if err := r.PrintTo(&b); err != nil {
		return "", err
	}
	return strings.Join(strings.Fields(b.String()), ""), nil
}

// hasAddrs fails unless link name in the current netns holds every cidr.
func hasAddrs(name string, cidrs ...string) error {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		return err
	}
	addrs, err := netlinksafe.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, a := range addrs {
		have[a.IPNet.String()] = true
	}
	for _, c := range cidrs {
		if !have[c] {
			return fmt.Errorf("%s lacks %s (has %v)", name, c, addrs)
		}
	}
	return nil
}

// STATUS only looks: no bridge made, no sysctl set; code 50 when the bridge name is taken by
// another kind of link or br_netfilter is missing.
func TestStatusOnlyChecks(t *testing.T) {
	n := newNode(t, "")
	status := func() error {
		return n.cniIn(n.cacheDir, func(c *libcni.CNIConfig, ctx context.Context) error { return c.GetStatusNetworkList(ctx, n.list) })
	}
	if err := status(); err != nil {
		t.Fatal("STATUS before any ADD:", err)
	}
	if err := n.ns.Do(func(ns.NetNS) error {
		if _, err := netlinksafe.LinkByName("podnet0"); !isNotFound(err) {
			return fmt.Errorf("STATUS made the bridge (lookup: %v)", err)
		}
		if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err != nil || string(b) != "0\n" {
			return fmt.Errorf("STATUS set ip_forward: %q, %v", b, err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "podnet0"
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "notabridge"})
	}); err != nil {
		t.Fatal(err)
	}
	var te *types.Error
	if err := status(); !errors.As(err, &te) || te.Code != 50 || te.Details != "podnet0 exists and is a veth, not a bridge" {
		t.Fatalf("STATUS with a veth named podnet0 = %#v, want code 50", err)
	}
	// br_netfilter missing (faked: the test cannot unload a module).
	p := &Plugin{ReadSysctl: func(name string) (string, error) {
		return "", &fs.PathError{Op: "open", Path: "/proc/sys/" + strings.ReplaceAll(name, ".", "/"), Err: fs.ErrNotExist}
	}}
	conf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"podnet","type":"netplug","bridge":"pnfresh0","subnet":"10.244.0.0/24","dataDir":%q}`, n.dataDir)
	err := n.ns.Do(func(ns.NetNS) error { return p.Status(&skel.CmdArgs{StdinData: []byte(conf)}) })
	if !errors.As(err, &te) || te.Code != 50 || !strings.HasPrefix(te.Msg, "the br_netfilter kernel module is not loaded") {
		t.Fatalf("STATUS without br_netfilter = %v, want code 50", err)
	}
}

// GC spares a reservation younger than gcGracePeriod (default one minute) that the valid list
// lacks, with its veth: its ADD may have begun after the runtime listed the valid attachments.
func TestGCGracePeriod(t *testing.T) {
	n := newNode(t, "")
	conf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"podnet","type":"netplug","subnet":"10.244.0.0/24","dataDir":%q,"cni.dev/valid-attachments":[]}`, n.dataDir)
	n.mustAdd("inflight", newNS(t))
	added := time.Now()
	for _, tc := range []struct {
		after time.Duration
		want  string
	}{
		{30 * time.Second, "[10.244.0.2 inflight/eth0] [" + HostVethName("inflight", "eth0") + "]"},
		{2 * time.Minute, "[] []"},
	} {
		p := &Plugin{Now: func() time.Time { return added.Add(tc.after) }}
		if err := n.ns.Do(func(ns.NetNS) error { return p.GC(&skel.CmdArgs{StdinData: []byte(conf)}) }); err != nil {
			t.Fatal("GC:", err)
		}
		if got := fmt.Sprint(n.reservations(), n.veths()); got != tc.want {
			t.Fatalf("GC %s after ADD left %s, want %s", tc.after, got, tc.want)
		}
	}
}

// TestBridgeMACIsFixed: the bridge keeps BridgeMAC while pods come and go,
// also when it existed before netplug (following its ports' MACs, as the
// kernel does for a bridge whose address nobody set), and the node reaches
// a pod at once after the pod whose port had the lowest MAC left.
func TestBridgeMACIsFixed(t *testing.T) {
	for _, tc := range []struct {
		name      string
		preexists bool
	}{{"made by netplug", false}, {"made before without an address", true}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNode(t, "")
			if tc.preexists {
				if err := n.ns.Do(func(ns.NetNS) error {
					attrs := netlink.NewLinkAttrs()
					attrs.Name = "podnet0"
					return netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs})
				}); err != nil {
					t.Fatal(err)
				}
			}
			bridgeMAC := func() string {
				var mac string
				if err := n.ns.Do(func(ns.NetNS) error {
					l, err := netlinksafe.LinkByName("podnet0")
					if err == nil {
						mac = l.Attrs().HardwareAddr.String()
					}
					return err
				}); err != nil {
					t.Fatal(err)
				}
				return mac
			}
			const want = "0a:58:0a:f4:00:01" // 10.244.0.1
			pods := []ns.NetNS{newNS(t), newNS(t), newNS(t), newNS(t)}
			for i, p := range pods {
				n.mustAdd(fmt.Sprint("c", i), p)
				if got := bridgeMAC(); got != want {
					t.Fatalf("after ADD c%d: bridge MAC %s, want %s", i, got, want)
				}
			}
			last := pods[len(pods)-1]
			listen(t, last, "10.244.0.5:8080")
			if seen, err := dial(n.ns, "10.244.0.5:8080"); err != nil || seen != "10.244.0.1" {
				t.Fatalf("node to pod: seen %q, %v", seen, err)
			}
			for i := range pods[:len(pods)-1] {
				if err := n.del(fmt.Sprint("c", i), pods[i].Path()); err != nil {
					t.Fatal(err)
				}
				if got := bridgeMAC(); got != want {
					t.Fatalf("after DEL c%d: bridge MAC %s, want %s", i, got, want)
				}
			}
			// The pod's neighbour entry for the gateway, learnt above, must still be right.
			if seen, err := dial(n.ns, "10.244.0.5:8080"); err != nil || seen != "10.244.0.1" {
				t.Fatalf("node to pod after the others left: seen %q, %v", seen, err)
			}
		})
	}
}

func TestBridgeMAC(t *testing.T) {
	for _, tc := range []struct {
		gateway string
		want    string
	}{
		{"10.244.0.1", "0a:58:0a:f4:00:01"},
		{"192.168.255.254", "0a:58:c0:a8:ff:fe"},
		{"fd00:10:244::1", "0a:58:00:00:00:01"},
	} {
		if got := BridgeMAC([]Range{{Gateway: netip.MustParseAddr(tc.gateway)}}).String(); got != tc.want {
			t.Errorf("BridgeMAC(%s) = %s, want %s", tc.gateway, got, tc.want)
		}
	}
}
