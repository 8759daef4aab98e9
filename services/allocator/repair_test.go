package allocator

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRepair(t *testing.T) {
	tests := []struct {
		name         string
		svcs         []*corev1.Service
		wantProblems string
		wantHeld     string
	}{{
		name: "valid services are marked used",
		svcs: []*corev1.Service{
			svc("kubernetes", corev1.ServiceTypeClusterIP, withIPs("10.96.0.1")),
			svc("web", corev1.ServiceTypeLoadBalancer, withIPs("10.100.0.5"), withNodePort(31000), withLocal(31001)),
			svc("dns", corev1.ServiceTypeNodePort, withIP("10.96.0.10"), withPorts(
				corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, NodePort: 30053},
				corev1.ServicePort{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, NodePort: 30053},
			)),
			svc("h", corev1.ServiceTypeClusterIP, withIPs("None")),
			svc("e", corev1.ServiceTypeExternalName, externalName()),
		},
		wantHeld: "ips=[10.96.0.1 10.96.0.10 10.100.0.5] ports=[30053 31000 31001]",
	}, {
		name: "duplicates and strays are reported; the first holder keeps its value",
		svcs: []*corev1.Service{
			svc("first", corev1.ServiceTypeNodePort, withIPs("10.96.0.20"), withNodePort(30080)),
			svc("second", corev1.ServiceTypeNodePort, withIPs("10.96.0.20"), withNodePort(30080)),
			svc("moved", corev1.ServiceTypeNodePort, withIPs("192.168.0.5"), withNodePort(8080)),
			svc("broadcast", corev1.ServiceTypeClusterIP, withIPs("10.111.255.255")),
		},
		wantProblems: strings.Join([]string{
			"the ClusterIP 10.96.0.20 for Service default/second was assigned to multiple services; please recreate",
			"the node port 30080 for Service default/second was assigned to multiple services; please recreate",
			"the ClusterIP 192.168.0.5 for Service default/moved is not within the service CIDR 10.96.0.0/12; please recreate",
			"the node port 8080 for Service default/moved is not within the port range 30000-32767; please recreate",
			"the ClusterIP 10.111.255.255 for Service default/broadcast is not within the service CIDR 10.96.0.0/12; please recreate",
		}, "\n"),
		wantHeld: "ips=[10.96.0.20] ports=[30080]",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newDefault(t)
			mustCreate(t, a, svc("forgotten", corev1.ServiceTypeNodePort, withIP("10.96.0.99"), withNodePort(30099)))
			var problems []string
			for _, err := range a.Repair(tt.svcs) {
				problems = append(problems, err.Error())
			}
			if got := strings.Join(problems, "\n"); got != tt.wantProblems {
				t.Errorf("problems:\n got %s\nwant %s", got, tt.wantProblems)
			}
			if got := held(a); got != tt.wantHeld {
				t.Errorf("held:\n got %s\nwant %s", got, tt.wantHeld)
			}
		})
	}
}

// After Repair the values it marked cannot be handed out again.
func TestRepairedValuesAreTaken(t *testing.T) {
	a := newDefault(t)
	a.Repair([]*corev1.Service{svc("web", corev1.ServiceTypeNodePort, withIPs("10.96.0.20"), withNodePort(30080))})
	_, err := a.Create(svc("again", corev1.ServiceTypeNodePort, withIP("10.96.0.21"), withNodePort(30080)))
	if want := "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"defaults", Config{}, "cidr=10.96.0.0/12 ports=30000-32767 dns=10.96.0.10 free=1048574,2768"},
		{"custom", Config{ServiceCIDR: netip.MustParsePrefix("10.43.0.0/16"), NodePortRange: PortRange{Base: 30000, Size: 100}},
			"cidr=10.43.0.0/16 ports=30000-30099 dns=10.43.0.10 free=65534,100"},
		{"unmasked CIDR", Config{ServiceCIDR: netip.MustParsePrefix("10.43.1.2/16")}, "cidr=10.43.0.0/16 ports=30000-32767 dns=10.43.0.10 free=65534,2768"},
		{"IPv6 capped", Config{ServiceCIDR: netip.MustParsePrefix("fd00::/108")}, "cidr=fd00::/108 ports=30000-32767 dns=fd00::a free=65535,2768"},
		{"too large", Config{ServiceCIDR: netip.MustParsePrefix("10.0.0.0/8")}, "allocator config: service CIDR 10.0.0.0/8 is too large: the mask must be >= 12"},
		{"too small", Config{ServiceCIDR: netip.MustParsePrefix("10.0.0.0/31"), DNSServiceIP: netip.MustParseAddr("10.0.0.1")}, "allocator config: service CIDR 10.0.0.0/31 has no usable addresses"},
		{"DNS outside", Config{DNSServiceIP: netip.MustParseAddr("10.0.0.10")}, "allocator config: DNS service IP 10.0.0.10 is not a usable address of 10.96.0.0/12"},
		{"bad port range", Config{NodePortRange: PortRange{Base: 65000, Size: 1000}}, "allocator config: NodePort range 65000-65999 is not within 1-65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				ips, ports := a.Free()
				got = fmt.Sprintf("cidr=%s ports=%s dns=%s free=%d,%d", a.ips.prefix, a.ports, a.ips.addr(a.dnsOffset), ips, ports)
			}
			if got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParsePortRange(t *testing.T) {
	tests := []struct{ in, want string }{
		{"30000-32767", "30000-32767 size 2768"},
		{" 30080 ", "30080-30080 size 1"},
		{"32767-30000", `port range "32767-30000": end is below start`},
		{"0-10", `port range "0-10": port 0 is outside 1-65535`},
		{"a-b", `port range "a-b": invalid port "a": strconv.Atoi: parsing "a": invalid syntax`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParsePortRange(tt.in)
			got := fmt.Sprintf("%s size %d", r, r.Size)
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}
