package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{name: "defaults", mutate: func(*Config) {}, want: ""},
		{name: "completed and customised", mutate: func(c *Config) {
			c.NodeName, c.NodeIP = "node-1.example.com", "192.0.2.10"
			c.Network.ServiceCIDR, c.Network.ClusterDNS = "10.96.1.0/24", "10.96.1.53"
			c.Runtime.Executor, c.Log.Level, c.Log.Format = "runc", "debug", "json"
		}, want: ""},
		{name: "every problem at once", mutate: func(c *Config) {
			c.DataDir, c.RunDir = "", "run"
			c.NodeName, c.NodeIP = "Node_1", "fe80::1"
			c.API.Port = 70000
			c.Network = Network{ClusterCIDR: "10.244.0.0/16", ServiceCIDR: "10.96.0.0/33", ClusterDNS: "10.96.0.300",
				NodePortRange: "32767-30000", ClusterDomain: "Cluster..local", Bridge: "a-very-long-bridge", NFTablesTable: "1table",
				DNSPort: 70000, DNSResolvConf: "resolv.conf"}
			c.CNI = CNI{BinDirs: []string{"/opt/cni/bin", "lib/cni"}, ConfDir: "net.d"}
			c.Runtime.Executor, c.Log.Level, c.Log.Format = "docker", "trace", "xml"
		}, want: `dataDir: must not be empty
runDir: must be an absolute path, not "run"
cni.binDirs[1]: must be an absolute path, not "lib/cni"
cni.confDir: must be an absolute path, not "net.d"
nodeName: invalid value "Node_1": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')
nodeIP: must be an IPv4 address, not "fe80::1"
api.port: must be between 1 and 65535, not 70000
network.serviceCIDR: invalid CIDR "10.96.0.0/33"
network.clusterDNS: invalid IP address "10.96.0.300"
network.nodePortRange: invalid port range "32767-30000": end is before start
network.clusterDomain: invalid value "Cluster..local": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')
network.bridge: interface name "a-very-long-bridge" is longer than 15 characters
network.dnsPort: must be between 1 and 65535, not 70000
network.dnsResolvConf: "resolv.conf" is not an absolute path
network.nftablesTable: invalid table name "1table": must start with a letter and hold only letters, digits, '_' and '-' (at most 64)
runtime.executor: unsupported value "docker": must be one of builtin, runc, crun
log.level: unsupported value "trace": must be one of debug, info, warn, error
log.format: unsupported value "xml": must be one of text, json`},
		{name: "address plan conflicts", mutate: func(c *Config) {
			c.NodeIP = "10.244.3.4"
			c.Network.ClusterCIDR, c.Network.ServiceCIDR = "10.0.0.0/8", "10.96.0.0/12"
		}, want: `network.serviceCIDR: 10.96.0.0/12 overlaps network.clusterCIDR 10.0.0.0/8
nodeIP: 10.244.3.4 lies inside network.clusterCIDR 10.0.0.0/8`},
		{name: "load balancer pools of both families", mutate: func(c *Config) {
			c.NodeIP = "192.168.1.2"
			c.Network.LoadBalancerPools = []string{"192.168.100.0/28", "192.168.100.240-192.168.100.250", "fd00:100::/120"}
		}, want: ""},
		{name: "load balancer pools that are bad or overlap", mutate: func(c *Config) {
			c.NodeIP = "192.168.1.2"
			c.Network.LoadBalancerPools = []string{"192.168.100.0/28", "192.168.100.8-192.168.100.20", "10.244.255.0/24",
				"10.100.0.1-10.100.0.9", "192.168.1.0/24", "127.0.0.1-127.0.0.2", "fe80::/64", "192.168.100.300/28",
				"10.0.0.9-10.0.0.1", "10.0.0.1-fd00::1", "10.0.0.1", "a-b"}
		}, want: `network.loadBalancerPools[1]: 192.168.100.8-192.168.100.20 overlaps network.loadBalancerPools[0] 192.168.100.0/28
network.loadBalancerPools[2]: 10.244.255.0/24 overlaps network.clusterCIDR 10.244.0.0/16
network.loadBalancerPools[3]: 10.100.0.1-10.100.0.9 overlaps network.serviceCIDR 10.96.0.0/12
network.loadBalancerPools[4]: 192.168.1.0/24 includes the node IP 192.168.1.2
network.loadBalancerPools[5]: 127.0.0.1-127.0.0.2 includes loopback addresses
network.loadBalancerPools[6]: fe80::/64 includes link-local addresses
network.loadBalancerPools[7]: invalid CIDR "192.168.100.300/28"
network.loadBalancerPools[8]: invalid range "10.0.0.9-10.0.0.1": end is before start
network.loadBalancerPools[9]: invalid range "10.0.0.1-fd00::1": both ends must be of one family
network.loadBalancerPools[10]: invalid pool "10.0.0.1": must be a CIDR (192.168.100.0/28) or a range (192.168.100.240-192.168.100.250)
network.loadBalancerPools[11]: invalid range "a-b": both ends must be IP addresses`},
		{name: "node IP inside the service CIDR", mutate: func(c *Config) {
			c.NodeIP = "10.96.5.5"
		}, want: `nodeIP: 10.96.5.5 lies inside network.serviceCIDR 10.96.0.0/12`},
		{name: "cluster DNS outside the service CIDR", mutate: func(c *Config) {
			c.Network.ServiceCIDR = "10.100.0.0/16"
		}, want: `network.clusterDNS: 10.96.0.10 is not inside network.serviceCIDR 10.100.0.0/16`},
		{name: "cluster DNS on the kubernetes service address", mutate: func(c *Config) {
			c.Network.ClusterDNS = "10.96.0.1"
		}, want: `network.clusterDNS: 10.96.0.1 is reserved for the kubernetes service`},
		{name: "cluster DNS on the broadcast address", mutate: func(c *Config) {
			c.Network.ClusterDNS = "10.111.255.255"
		}, want: `network.clusterDNS: 10.111.255.255 is the network or broadcast address of network.serviceCIDR 10.96.0.0/12`},
		{name: "sizes and families", mutate: func(c *Config) {
			c.NodeIP = "0.0.0.0"
			c.Network.ClusterCIDR, c.Network.ServiceCIDR = "fd00::/64", "10.0.0.0/8"
			c.Network.NodePortRange = "30000-70000"
			c.Network.Bridge = "br/0"
			c.CNI.BinDirs = nil
		}, want: `cni.binDirs: must list at least one directory
nodeIP: must not be the unspecified address 0.0.0.0
network.clusterCIDR: must be an IPv4 CIDR, not "fd00::/64"
network.serviceCIDR: 10.0.0.0/8 is too large: the prefix length must be at least 12
network.nodePortRange: invalid port range "30000-70000": "70000" is not a port number (1-65535)
network.bridge: interface name "br/0" must not contain '/', ':' or whitespace`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			got := ""
			if err := c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate():\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestValidateErrorsAreSeparate(t *testing.T) {
	c := Default()
	c.Log.Level, c.Log.Format = "loud", "xml"
	err := c.Validate()
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 2 {
		t.Fatalf("Validate() = %v, want two joined errors", err)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{name: "defaults", mutate: func(*Config) {},
			want: "nodeIP=invalid IP cluster=10.244.0.0/16 service=10.96.0.0/12 dns=10.96.0.10 nodePorts=30000-32767 (base 30000, size 2768) level=INFO"},
		{name: "host bits dropped, single port", mutate: func(c *Config) {
			c.NodeIP = "192.0.2.10"
			c.Network.ClusterCIDR, c.Network.ServiceCIDR, c.Network.ClusterDNS = "10.244.7.1/16", "10.96.3.3/24", "10.96.3.10"
			c.Network.NodePortRange, c.Log.Level = "30080", "warn"
		}, want: "nodeIP=192.0.2.10 cluster=10.244.0.0/16 service=10.96.3.0/24 dns=10.96.3.10 nodePorts=30080-30080 (base 30080, size 1) level=WARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			v, err := c.Parse()
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprintf("nodeIP=%s cluster=%s service=%s dns=%s nodePorts=%s (base %d, size %d) level=%s",
				v.NodeIP, v.ClusterCIDR, v.ServiceCIDR, v.ClusterDNS, v.NodePortRange, v.NodePortRange.Base, v.NodePortRange.Size, v.LogLevel)
			if got != tt.want {
				t.Errorf("Parse():\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestParseLoadBalancerPools(t *testing.T) {
	c := Default()
	c.Network.LoadBalancerPools = []string{"192.168.100.5/28", " 192.168.100.240 - 192.168.100.250 ", "fd00:100::/120", "203.0.113.7/32"}
	v, err := c.Parse()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range v.LoadBalancerPools {
		got = append(got, r.String())
	}
	want := "192.168.100.0-192.168.100.15 192.168.100.240-192.168.100.250 fd00:100::-fd00:100::ff 203.0.113.7-203.0.113.7"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("pools: %s\nwant:  %s", g, want)
	}
	if def, _ := Default().Parse(); def.LoadBalancerPools != nil {
		t.Errorf("default pools = %v, want none", def.LoadBalancerPools)
	}
}

func TestAddressRange(t *testing.T) {
	r := AddressRange{First: netip.MustParseAddr("10.0.0.8"), Last: netip.MustParseAddr("10.0.0.12")}
	tests := []struct {
		other string
		want  string
	}{
		{"10.0.0.0/29", "contains first:false overlaps:false"},
		{"10.0.0.12/30", "contains first:true overlaps:true"},
		{"10.0.0.8/32", "contains first:true overlaps:true"},
		{"10.0.0.13-10.0.0.20", "contains first:false overlaps:false"},
		{"::a00:8/125", "contains first:false overlaps:false"},
	}
	for _, tt := range tests {
		o, err := ParseAddressRange(tt.other)
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprintf("contains first:%t overlaps:%t", r.Contains(o.First), r.Overlaps(o))
		if got != tt.want || o.Overlaps(r) != r.Overlaps(o) {
			t.Errorf("%s vs %s: %s, want %s", r, o, got, tt.want)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct{ in, want string }{
		{"30000-32767", "30000-32767 contains 30000:true 32767:true 32768:false"},
		{" 80 ", "80-80 contains 30000:false 32767:false 32768:false"},
		{"0-10", `error: invalid port range "0-10": "0" is not a port number (1-65535)`},
		{"a-b", `error: invalid port range "a-b": "a" is not a port number (1-65535)` + "\n" + `"b" is not a port number (1-65535)`},
		{"", `error: invalid port range "": "" is not a port number (1-65535)` + "\n" + `"" is not a port number (1-65535)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParsePortRange(tt.in)
			got := ""
			if err != nil {
				got = "error: " + err.Error()
			} else {
				got = fmt.Sprintf("%s contains 30000:%t 32767:%t 32768:%t", r, r.Contains(30000), r.Contains(32767), r.Contains(32768))
			}
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestComplete(t *testing.T) {
	detected := NodeIPFunc(func() (netip.Addr, error) { return netip.MustParseAddr("192.0.2.7"), nil })
	failing := NodeIPFunc(func() (netip.Addr, error) { return netip.Addr{}, errors.New("no IPv4 default route") })
	tests := []struct {
		name     string
		nodeName string
		nodeIP   string
		detect   NodeIPDetector
		want     string
	}{
		{name: "both detected", detect: detected, want: "node-1.example.com 192.0.2.7"},
		{name: "configured values kept", nodeName: "Custom", nodeIP: "198.51.100.1", detect: failing, want: "Custom 198.51.100.1"},
		{name: "detection fails", nodeName: "n", detect: failing,
			want: "error: node IP: detecting (set nodeIP or --node-ip to skip): no IPv4 default route"},
		{name: "no detector", nodeName: "n", want: "error: node IP: not configured and no detector given"},
	}
	old := hostname
	hostname = func() (string, error) { return "Node-1.Example.COM.", nil }
	defer func() { hostname = old }()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.NodeName, c.NodeIP = tt.nodeName, tt.nodeIP
			got := ""
			if err := c.Complete(tt.detect); err != nil {
				got = "error: " + err.Error()
			} else {
				got = c.NodeName + " " + c.NodeIP
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLogger(t *testing.T) {
	tests := []struct {
		level, format string
		want          string
	}{
		{"info", "text", "level=INFO msg=shown k=v\nlevel=WARN msg=warned k=v"},
		{"debug", "text", "level=DEBUG msg=hidden k=v\nlevel=INFO msg=shown k=v\nlevel=WARN msg=warned k=v"},
		{"error", "json", ``},
		{"warn", "json", `"level":"WARN","msg":"warned","k":"v"}`},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			var buf strings.Builder
			c := Default()
			c.Log.Level, c.Log.Format = tt.level, tt.format
			l := c.Logger(&buf)
			l.Debug("hidden", "k", "v")
			l.Info("shown", "k", "v")
			l.Warn("warned", "k", "v")
			if got := dropTime(buf.String()); got != tt.want {
				t.Errorf("log:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// dropTime removes the timestamp each record starts with.
func dropTime(s string) string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		if _, rest, ok := strings.Cut(line, " level="); ok {
			line = "level=" + rest
		} else if _, rest, ok := strings.Cut(line, `,"level"`); ok {
			line = `"level"` + rest
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
