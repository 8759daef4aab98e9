package netplug

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"github.com/vishvananda/netlink"
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
	conf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"podnet","type":"netplug","subnet":"10.244.0.0/24","dataDir":%q,"runtimeConfig":{"portMappings":[{"hostPort":9000,"containerPort":80,"protocol":"tcp"}]}}`, n.dataDir)
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
		if !errors.As(err, &te) || te.Code != 7 || te.Details != "subnet is required" {
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
	if _, err := s.Allocate(netip.MustParsePrefix("10.244.0.0/24"), netip.MustParseAddr("10.244.0.1"), Owner{ContainerID: "mine", IfName: "eth1"}); err != nil {
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
		"bridge":"pnother0","subnet":"10.245.0.0/24","dataDir":%q,"capabilities":{"portMappings":true}}]}`, n.dataDir)))
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
