package netplug

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, in      string
		wantCode      uint
		wantDetails   string
		bridge, dir   string
		ranges        string // "prefix gw start-end; ..."
		grace         time.Duration
		hairpin, masq bool
	}{
		{name: "defaults", in: `{"name":"n","type":"netplug","subnet":"10.244.0.7/24"}`,
			bridge: "podnet0", dir: "/var/lib/cni/netplug", ranges: "10.244.0.0/24 10.244.0.1 10.244.0.1-10.244.0.254", grace: time.Minute, hairpin: true, masq: true},
		{name: "explicit", in: `{"name":"n","subnet":"10.1.0.0/16","gateway":"10.1.0.254","bridge":"br9","dataDir":"/d","hairpinMode":false,"ipMasq":false,"mtu":1400,"gcGracePeriod":"0s"}`,
			bridge: "br9", dir: "/d", ranges: "10.1.0.0/16 10.1.0.254 10.1.0.1-10.1.255.254"},
		{name: "ipv6 subnet", in: `{"name":"n","subnet":"fd00:1::/64"}`,
			bridge: "podnet0", dir: "/var/lib/cni/netplug", ranges: "fd00:1::/64 fd00:1::1 fd00:1::1-fd00:1::ffff:ffff:ffff:ffff", grace: time.Minute, hairpin: true, masq: true},
		{name: "dual-stack ranges, v6 first", in: `{"name":"n","gcGracePeriod":"90s","ranges":[[{"subnet":"fd00::/120","rangeStart":"fd00::10","rangeEnd":"fd00::20"}],[{"subnet":"10.2.0.0/24","gateway":"10.2.0.254","rangeStart":"10.2.0.100"}]]}`,
			bridge: "podnet0", dir: "/var/lib/cni/netplug", ranges: "10.2.0.0/24 10.2.0.254 10.2.0.100-10.2.0.254; fd00::/120 fd00::1 fd00::10-fd00::20", grace: 90 * time.Second, hairpin: true, masq: true},
		{name: "no name", in: `{"subnet":"10.0.0.0/24"}`, wantCode: 7, wantDetails: "name is required"},
		{name: "bad json", in: `{`, wantCode: 6, wantDetails: "unexpected end of JSON input"},
		{name: "no subnet", in: `{"name":"n"}`, wantCode: 7, wantDetails: "subnet or ranges is required"},
		{name: "bad subnet", in: `{"name":"n","subnet":"10.0.0.0"}`, wantCode: 7, wantDetails: `subnet "10.0.0.0": netip.ParsePrefix("10.0.0.0"): no '/'`},
		{name: "tiny", in: `{"name":"n","subnet":"10.0.0.0/31"}`, wantCode: 7, wantDetails: `subnet "10.0.0.0/31" is too small (at most /30)`},
		{name: "tiny v6", in: `{"name":"n","subnet":"fd00::/127"}`, wantCode: 7, wantDetails: `subnet "fd00::/127" is too small (at most /126)`},
		{name: "gw outside", in: `{"name":"n","subnet":"10.0.0.0/24","gateway":"10.0.1.1"}`, wantCode: 7, wantDetails: "gateway 10.0.1.1 is not a host address of 10.0.0.0/24"},
		{name: "gw broadcast", in: `{"name":"n","subnet":"10.0.0.0/24","gateway":"10.0.0.255"}`, wantCode: 7, wantDetails: "gateway 10.0.0.255 is not a host address of 10.0.0.0/24"},
		{name: "subnet and ranges", in: `{"name":"n","subnet":"10.0.0.0/24","ranges":[[{"subnet":"fd00::/64"}]]}`, wantCode: 7, wantDetails: "subnet and ranges are exclusive"},
		{name: "two v4 sets", in: `{"name":"n","ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"10.1.0.0/24"}]]}`, wantCode: 7,
			wantDetails: "ranges[1][0]: a second IPv4 range (10.1.0.0/24 after 10.0.0.0/24): at most one range per IP family"},
		{name: "two ranges in a set", in: `{"name":"n","ranges":[[{"subnet":"10.0.0.0/24"},{"subnet":"10.1.0.0/24"}]]}`, wantCode: 7,
			wantDetails: "ranges[0]: netplug takes exactly one range per range set, not 2"},
		{name: "start outside", in: `{"name":"n","ranges":[[{"subnet":"fd00::/64","rangeStart":"fd01::1"}]]}`, wantCode: 7,
			wantDetails: "ranges[0][0]: rangeStart fd01::1 is not a host address of fd00::/64"},
		{name: "end before start", in: `{"name":"n","ranges":[[{"subnet":"10.0.0.0/24","rangeStart":"10.0.0.9","rangeEnd":"10.0.0.8"}]]}`, wantCode: 7,
			wantDetails: "ranges[0][0]: rangeEnd 10.0.0.8 is before rangeStart 10.0.0.9"},
		{name: "bad grace", in: `{"name":"n","subnet":"10.0.0.0/24","gcGracePeriod":"soon"}`, wantCode: 7, wantDetails: `gcGracePeriod "soon": want a duration such as "1m" or "0s"`},
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
			var rs []string
			for _, r := range c.IPRanges {
				rs = append(rs, fmt.Sprintf("%s %s %s-%s", r.Prefix, r.Gateway, r.Start, r.End))
			}
			if got := strings.Join(rs, "; "); got != tc.ranges {
				t.Errorf("ranges %s\nwant   %s", got, tc.ranges)
			}
			if c.Bridge != tc.bridge || c.DataDir != tc.dir || c.GCGrace != tc.grace || c.Hairpin() != tc.hairpin || c.Masquerade() != tc.masq {
				t.Fatalf("got bridge=%s dir=%s grace=%s hairpin=%v masq=%v", c.Bridge, c.DataDir, c.GCGrace, c.Hairpin(), c.Masquerade())
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
// other sysctl failures are internal errors. IPv6 ranges add the IPv6 ones.
func TestNodeSysctls(t *testing.T) {
	missing := &fs.PathError{Op: "open", Path: "/proc/sys/net/bridge/bridge-nf-call-iptables", Err: fs.ErrNotExist}
	v4 := `{"name":"n","subnet":"10.0.0.0/24"}`
	dual := `{"name":"n","ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"fd00::/64"}]]}`
	for _, tc := range []struct {
		name, conf string
		fail       map[string]error
		want, set  string
	}{
		{"all set", v4, nil, "<nil>", "[net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1]"},
		{"dual-stack", dual, nil, "<nil>",
			"[net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1]"},
		{"ipv6 only", `{"name":"n","subnet":"fd00::/64"}`, nil, "<nil>",
			"[net.ipv6.conf.all.forwarding=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1]"},
		{"no br_netfilter", v4, map[string]error{"net.bridge.bridge-nf-call-iptables": missing},
			"code 50: the br_netfilter kernel module is not loaded (load it with: modprobe br_netfilter): open /proc/sys/net/bridge/bridge-nf-call-iptables: file does not exist",
			"[net.ipv4.ip_forward=1]"},
		{"read-only /proc", v4, map[string]error{"net.ipv4.ip_forward": fs.ErrPermission},
			"code 999: cannot set node sysctls: permission denied", "[]"},
	} {
		set := []string{}
		p := &Plugin{Sysctl: func(name, value string) error {
			if err := tc.fail[name]; err != nil {
				return err
			}
			set = append(set, name+"="+value)
			return nil
		}}
		cfg, err := ParseConfig([]byte(tc.conf))
		if err != nil {
			t.Fatal(err)
		}
		got := "<nil>"
		if err := p.nodeSysctls(cfg); err != nil {
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
		if fmt.Sprint(set) != tc.set {
			t.Errorf("%s: set %v\nwant %s", tc.name, set, tc.set)
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
