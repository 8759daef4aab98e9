package netplug

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, in            string
		wantCode            uint
		wantDetails         string
		bridge, dir, prefix string
		gw                  string
		hairpin, masq       bool
	}{
		{name: "defaults", in: `{"name":"n","type":"netplug","subnet":"10.244.0.7/24"}`,
			bridge: "podnet0", dir: "/var/lib/cni/netplug", prefix: "10.244.0.0/24", gw: "10.244.0.1", hairpin: true, masq: true},
		{name: "explicit", in: `{"name":"n","subnet":"10.1.0.0/16","gateway":"10.1.0.254","bridge":"br9","dataDir":"/d","hairpinMode":false,"ipMasq":false,"mtu":1400}`,
			bridge: "br9", dir: "/d", prefix: "10.1.0.0/16", gw: "10.1.0.254"},
		{name: "no name", in: `{"subnet":"10.0.0.0/24"}`, wantCode: 7, wantDetails: "name is required"},
		{name: "bad json", in: `{`, wantCode: 6, wantDetails: "unexpected end of JSON input"},
		{name: "no subnet", in: `{"name":"n"}`, wantCode: 7, wantDetails: "subnet is required"},
		{name: "bad subnet", in: `{"name":"n","subnet":"10.0.0.0"}`, wantCode: 7, wantDetails: `subnet "10.0.0.0": netip.ParsePrefix("10.0.0.0"): no '/'`},
		{name: "ipv6", in: `{"name":"n","subnet":"fd00::/64"}`, wantCode: 7, wantDetails: `subnet "fd00::/64": only IPv4 ranges are supported`},
		{name: "tiny", in: `{"name":"n","subnet":"10.0.0.0/31"}`, wantCode: 7, wantDetails: `subnet "10.0.0.0/31" is too small (at most /30)`},
		{name: "gw outside", in: `{"name":"n","subnet":"10.0.0.0/24","gateway":"10.0.1.1"}`, wantCode: 7, wantDetails: "gateway 10.0.1.1 is not a host address of 10.0.0.0/24"},
		{name: "gw broadcast", in: `{"name":"n","subnet":"10.0.0.0/24","gateway":"10.0.0.255"}`, wantCode: 7, wantDetails: "gateway 10.0.0.255 is not a host address of 10.0.0.0/24"},
		{name: "long bridge", in: `{"name":"n","subnet":"10.0.0.0/24","bridge":"abcdefghijklmnop"}`, wantCode: 7, wantDetails: `bridge name "abcdefghijklmnop" is longer than 15 characters`},
		{name: "bad mtu", in: `{"name":"n","subnet":"10.0.0.0/24","mtu":100}`, wantCode: 7, wantDetails: "mtu 100 out of range (0 or 576..65535)"},
		{name: "bad name", in: `{"name":"../x","subnet":"10.0.0.0/24"}`, wantCode: 7, wantDetails: `name "../x" must not contain "/"`},
		{name: "bad port", in: `{"name":"n","subnet":"10.0.0.0/24","runtimeConfig":{"portMappings":[{"hostPort":0,"containerPort":80}]}}`, wantCode: 7, wantDetails: "port mapping 0->80: ports must be 1..65535"},
		{name: "bad proto", in: `{"name":"n","subnet":"10.0.0.0/24","runtimeConfig":{"portMappings":[{"hostPort":80,"containerPort":80,"protocol":"icmp"}]}}`, wantCode: 7, wantDetails: `port mapping 80: unknown protocol "icmp"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.in))
			if tc.wantCode != 0 {
				te, ok := err.(*types.Error)
				if !ok {
					t.Fatalf("err = %v (%T), want *types.Error", err, err)
				}
				if te.Code != tc.wantCode || te.Details != tc.wantDetails {
					t.Fatalf("err = %d %q, want %d %q", te.Code, te.Details, tc.wantCode, tc.wantDetails)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Bridge != tc.bridge || c.DataDir != tc.dir || c.Prefix != netip.MustParsePrefix(tc.prefix) ||
				c.GatewayIP != netip.MustParseAddr(tc.gw) || c.Hairpin() != tc.hairpin || c.Masquerade() != tc.masq {
				t.Fatalf("got bridge=%s dir=%s prefix=%s gw=%s hairpin=%v masq=%v", c.Bridge, c.DataDir, c.Prefix, c.GatewayIP, c.Hairpin(), c.Masquerade())
			}
		})
	}
}

func TestHostVethName(t *testing.T) {
	for _, tc := range []struct{ id, ifname, want string }{
		{"abc", "eth0", "pn538f587a23655"},
	} {
		got := HostVethName(tc.id, tc.ifname)
		if got != tc.want || !isVethName(got) {
			t.Fatalf("HostVethName(%q,%q) = %q", tc.id, tc.ifname, got)
		}
	}
	if HostVethName("a", "eth0") == HostVethName("a", "eth1") {
		t.Fatal("ifname does not change the name")
	}
	for _, n := range []string{"pn", "podnet0", "pnzzzzzzzzzzzzz", "pn0123456789abcd"} {
		if isVethName(n) {
			t.Fatalf("isVethName(%q) = true", n)
		}
	}
}

// Without br_netfilter the plugin is not available (STATUS and ADD say so, with what to do);
// other sysctl failures are internal errors.
func TestNodeSysctls(t *testing.T) {
	missing := &fs.PathError{Op: "open", Path: "/proc/sys/net/bridge/bridge-nf-call-iptables", Err: fs.ErrNotExist}
	for _, tc := range []struct {
		name string
		fail map[string]error
		want string
	}{
		{"all set", nil, "<nil>"},
		{"no br_netfilter", map[string]error{"net.bridge.bridge-nf-call-iptables": missing},
			"code 50: the br_netfilter kernel module is not loaded (load it with: modprobe br_netfilter): open /proc/sys/net/bridge/bridge-nf-call-iptables: file does not exist"},
		{"read-only /proc", map[string]error{"net.ipv4.ip_forward": fs.ErrPermission},
			"code 999: cannot set node sysctls: permission denied"},
	} {
		var set []string
		p := &Plugin{Sysctl: func(name, value string) error {
			if err := tc.fail[name]; err != nil {
				return err
			}
			set = append(set, name+"="+value)
			return nil
		}}
		got := "<nil>"
		if err := p.nodeSysctls(); err != nil {
			var ce *types.Error
			if errors.As(err, &ce) {
				got = fmt.Sprintf("code %d: %s: %s", ce.Code, ce.Msg, ce.Details)
			} else {
				got = err.Error()
			}
		}
		if got != tc.want {
			t.Errorf("%s: %s\nwant %s", tc.name, got, tc.want)
		}
		if tc.fail == nil && fmt.Sprint(set) != "[net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1]" {
			t.Errorf("%s: set %v", tc.name, set)
		}
	}
}

func TestTableFor(t *testing.T) {
	for _, tc := range []struct{ network, want string }{
		{"podnet", "netplug-podnet"},
		{"k8s-pod-network", "netplug-k8s-pod-network"},
		{"my.net", "netplug-my_net-21e804751d4624c3"},
		{"my_net", "netplug-my_net"},
	} {
		if got := TableFor(tc.network); got != tc.want {
			t.Errorf("TableFor(%q) = %q, want %q", tc.network, got, tc.want)
		}
	}
}
