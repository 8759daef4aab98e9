package allocator

import (
	"errors"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCreateHonoursRequests(t *testing.T) {
	tests := []struct {
		name     string
		svc      *corev1.Service
		want     string
		wantHeld string
	}{{
		name:     "requested ClusterIP",
		svc:      svc("a", corev1.ServiceTypeClusterIP, withIPs("10.96.0.20")),
		want:     "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:0] hc=0",
		wantHeld: "ips=[10.96.0.20] ports=[]",
	}, {
		name:     "singular clusterIP only, as old clients send it",
		svc:      svc("a", corev1.ServiceTypeClusterIP, withIP("10.96.0.20")),
		want:     "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:0] hc=0",
		wantHeld: "ips=[10.96.0.20] ports=[]",
	}, {
		name:     "kube-dns asks for the DNS address",
		svc:      svc("kube-dns", corev1.ServiceTypeClusterIP, withIP("10.96.0.10")),
		want:     "clusterIP=10.96.0.10 clusterIPs=[10.96.0.10] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:0] hc=0",
		wantHeld: "ips=[10.96.0.10] ports=[]",
	}, {
		name:     "the kubernetes service asks for the first address",
		svc:      svc("kubernetes", corev1.ServiceTypeClusterIP, withIP("10.96.0.1")),
		want:     "clusterIP=10.96.0.1 clusterIPs=[10.96.0.1] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:0] hc=0",
		wantHeld: "ips=[10.96.0.1] ports=[]",
	}, {
		name:     "headless with selector",
		svc:      svc("h", corev1.ServiceTypeClusterIP, withIP("None")),
		want:     "clusterIP=None clusterIPs=[None] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:0] hc=0",
		wantHeld: "ips=[] ports=[]",
	}, {
		name:     "headless selectorless lists both families, as upstream",
		svc:      svc("h", corev1.ServiceTypeClusterIP, withIP("None"), noSelector()),
		want:     "clusterIP=None clusterIPs=[None] ipFamilies=[IPv4 IPv6] ipFamilyPolicy=RequireDualStack ports=[80/TCP:0] hc=0",
		wantHeld: "ips=[] ports=[]",
	}, {
		name:     "PreferDualStack on a single-stack cluster gets one family",
		svc:      svc("p", corev1.ServiceTypeClusterIP, withIP("10.96.0.20"), withPolicy(corev1.IPFamilyPolicyPreferDualStack)),
		want:     "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=PreferDualStack ports=[80/TCP:0] hc=0",
		wantHeld: "ips=[10.96.0.20] ports=[]",
	}, {
		name:     "ExternalName gets nothing",
		svc:      svc("e", corev1.ServiceTypeExternalName, externalName()),
		want:     "clusterIP= clusterIPs=[] ipFamilies=[] ipFamilyPolicy=<nil> ports=[80/TCP:0] hc=0",
		wantHeld: "ips=[] ports=[]",
	}, {
		name:     "requested NodePort",
		svc:      svc("n", corev1.ServiceTypeNodePort, withIP("10.96.0.20"), withNodePort(30080)),
		want:     "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:30080] hc=0",
		wantHeld: "ips=[10.96.0.20] ports=[30080]",
	}, {
		name: "one port number over two protocols shares its nodePort",
		svc: svc("dns", corev1.ServiceTypeNodePort, withIP("10.96.0.20"), withPorts(
			corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
			corev1.ServicePort{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, NodePort: 30053},
		)),
		want:     "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[53/UDP:30053 53/TCP:30053] hc=0",
		wantHeld: "ips=[10.96.0.20] ports=[30053]",
	}, {
		name:     "LoadBalancer without node ports allocates none",
		svc:      svc("lb", corev1.ServiceTypeLoadBalancer, withIP("10.96.0.20"), noLBNodePorts()),
		want:     "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:0] hc=0",
		wantHeld: "ips=[10.96.0.20] ports=[]",
	}, {
		name:     "LoadBalancer without node ports still honours a requested one",
		svc:      svc("lb", corev1.ServiceTypeLoadBalancer, withIP("10.96.0.20"), noLBNodePorts(), withNodePort(30080)),
		want:     "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:30080] hc=0",
		wantHeld: "ips=[10.96.0.20] ports=[30080]",
	}, {
		name:     "LoadBalancer Local gets the requested healthCheckNodePort",
		svc:      svc("lb", corev1.ServiceTypeLoadBalancer, withIP("10.96.0.20"), withNodePort(30080), withLocal(30100)),
		want:     "clusterIP=10.96.0.20 clusterIPs=[10.96.0.20] ipFamilies=[IPv4] ipFamilyPolicy=SingleStack ports=[80/TCP:30080] hc=30100",
		wantHeld: "ips=[10.96.0.20] ports=[30080 30100]",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newDefault(t)
			mustCreate(t, a, tt.svc)
			if got := describe(tt.svc); got != tt.want {
				t.Errorf("service:\n got %s\nwant %s", got, tt.want)
			}
			if got := held(a); got != tt.wantHeld {
				t.Errorf("held:\n got %s\nwant %s", got, tt.wantHeld)
			}
		})
	}
}

func TestCreateErrors(t *testing.T) {
	taken := []*corev1.Service{
		svc("old", corev1.ServiceTypeLoadBalancer, withIP("10.96.0.20"), withNodePort(30080), withLocal(30100)),
	}
	tests := []struct {
		name        string
		svc         *corev1.Service
		want        string
		wantInvalid bool
	}{{
		name:        "requested IP taken",
		svc:         svc("a", corev1.ServiceTypeClusterIP, withIP("10.96.0.20")),
		want:        `spec.clusterIPs: Invalid value: []string{"10.96.0.20"}: failed to allocate IP 10.96.0.20: provided IP is already allocated`,
		wantInvalid: true,
	}, {
		name:        "IP outside the CIDR",
		svc:         svc("a", corev1.ServiceTypeClusterIP, withIP("1.2.3.4")),
		want:        `spec.clusterIPs: Invalid value: []string{"1.2.3.4"}: failed to allocate IP 1.2.3.4: the provided IP (1.2.3.4) is not in the valid range. The range of valid IPs is 10.96.0.0/12`,
		wantInvalid: true,
	}, {
		name:        "network address",
		svc:         svc("a", corev1.ServiceTypeClusterIP, withIP("10.96.0.0")),
		want:        `spec.clusterIPs: Invalid value: []string{"10.96.0.0"}: failed to allocate IP 10.96.0.0: the provided IP (10.96.0.0) is not in the valid range. The range of valid IPs is 10.96.0.0/12`,
		wantInvalid: true,
	}, {
		name:        "broadcast address",
		svc:         svc("a", corev1.ServiceTypeClusterIP, withIP("10.111.255.255")),
		want:        `spec.clusterIPs: Invalid value: []string{"10.111.255.255"}: failed to allocate IP 10.111.255.255: the provided IP (10.111.255.255) is not in the valid range. The range of valid IPs is 10.96.0.0/12`,
		wantInvalid: true,
	}, {
		name:        "not an IP",
		svc:         svc("a", corev1.ServiceTypeClusterIP, withIP("abc")),
		want:        `spec.clusterIPs[0]: Invalid value: "abc": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`,
		wantInvalid: true,
	}, {
		name:        "IPv6 address on an IPv4 cluster",
		svc:         svc("a", corev1.ServiceTypeClusterIP, withIP("fd00::1")),
		want:        `spec.clusterIPs[0]: Invalid value: []string{"fd00::1"}: IPv6 is not configured on this cluster`,
		wantInvalid: true,
	}, {
		name:        "RequireDualStack on a single-stack cluster",
		svc:         svc("a", corev1.ServiceTypeClusterIP, withPolicy(corev1.IPFamilyPolicyRequireDualStack)),
		want:        `spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services`,
		wantInvalid: true,
	}, {
		name:        "nodePort on a ClusterIP service",
		svc:         svc("a", corev1.ServiceTypeClusterIP, withNodePort(30090)),
		want:        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
		wantInvalid: true,
	}, {
		name:        "requested NodePort taken; the free IP it asked for is given back",
		svc:         svc("a", corev1.ServiceTypeNodePort, withIP("10.96.0.21"), withNodePort(30080)),
		want:        `spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated`,
		wantInvalid: true,
	}, {
		name:        "NodePort out of range",
		svc:         svc("a", corev1.ServiceTypeNodePort, withNodePort(80)),
		want:        `spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767`,
		wantInvalid: true,
	}, {
		name: "requested healthCheckNodePort taken is an internal error, as upstream",
		svc:  svc("a", corev1.ServiceTypeLoadBalancer, withNodePort(30081), withLocal(30100)),
		want: `failed to allocate requested HealthCheck NodePort 30100: provided port is already allocated`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newDefault(t)
			for _, s := range taken {
				mustCreate(t, a, s.DeepCopy())
			}
			before := held(a)
			txn, err := a.Create(tt.svc)
			if err == nil {
				t.Fatalf("Create succeeded: %s", describe(tt.svc))
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
			var inv *InvalidError
			if got := errors.As(err, &inv); got != tt.wantInvalid {
				t.Errorf("errors.As(*InvalidError) = %v, want %v", got, tt.wantInvalid)
			}
			if txn != nil {
				t.Errorf("failed Create returned a Txn")
			}
			if after := held(a); after != before {
				t.Errorf("failed Create kept reservations:\n got %s\nwant %s", after, before)
			}
		})
	}
}
