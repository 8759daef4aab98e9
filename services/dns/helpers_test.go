package dns

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// render is a compact, literal form of a reply: rcode and flags, then one line per record of
// each section (OPT left out), TTLs included.
func render(m *mdns.Msg) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s", mdns.RcodeToString[m.Rcode])
	if m.Authoritative {
		b.WriteString(" aa")
	}
	if m.Truncated {
		b.WriteString(" tc")
	}
	b.WriteString("\n")
	for _, sec := range []struct {
		tag string
		rrs []mdns.RR
	}{{"an", m.Answer}, {"ns", m.Ns}, {"ex", m.Extra}} {
		for _, rr := range sec.rrs {
			if rr.Header().Rrtype == mdns.TypeOPT {
				continue
			}
			fmt.Fprintf(&b, "%s %s\n", sec.tag, strings.Join(strings.Fields(rr.String()), " "))
		}
	}
	return b.String()
}

func ptr[T any](v T) *T { return &v }

func svc(ns, name string, typ corev1.ServiceType, ips []string, ports ...corev1.ServicePort) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Type: typ, ClusterIPs: ips, Ports: ports}}
	if len(ips) > 0 {
		s.Spec.ClusterIP = ips[0]
	}
	return s
}

func port(name string, proto corev1.Protocol, p int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: proto, Port: p}
}

type ep struct {
	ip, hostname string
	ready        bool
}

func slice(ns, name, service string, ports []discoveryv1.EndpointPort, eps ...ep) *discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
		Labels: map[string]string{discoveryv1.LabelServiceName: service}}, AddressType: discoveryv1.AddressTypeIPv4, Ports: ports}
	for _, e := range eps {
		x := discoveryv1.Endpoint{Addresses: []string{e.ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(e.ready)}}
		if e.hostname != "" {
			x.Hostname = ptr(e.hostname)
		}
		sl.Endpoints = append(sl.Endpoints, x)
	}
	return sl
}

func slport(name string, p int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr(name), Protocol: ptr(corev1.ProtocolTCP), Port: ptr(p)}
}

func pod(ns, name, ip string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Status: corev1.PodStatus{PodIP: ip}}
}

var fixedNow = time.Unix(1700000000, 0)

// newTestServer is a server with no listeners over the fixture cluster, forwarding to ups
// (none: forwarding off).
func newTestServer(t *testing.T, mod func(*Config), ups ...netip.AddrPort) *Server {
	t.Helper()
	cfg := Config{Upstreams: ups, NoForward: len(ups) == 0, LocalIPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")},
		ForwardTimeout: 300 * time.Millisecond, LoopProbes: -1}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	x := s.Index()
	x.now = func() time.Time { return fixedNow }
	for _, ns := range []string{"default", "kube-system"} {
		x.SetNamespace(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	}
	x.SetService(svc("default", "web", corev1.ServiceTypeClusterIP, []string{"10.96.0.20"},
		port("http", corev1.ProtocolTCP, 80), port("dns", corev1.ProtocolUDP, 53)))
	x.SetEndpointSlice(slice("default", "web-1", "web", []discoveryv1.EndpointPort{slport("http", 8080)}, ep{ip: "10.244.0.5", ready: true}))
	x.SetService(svc("default", "db", corev1.ServiceTypeClusterIP, []string{"None"}, port("sql", corev1.ProtocolTCP, 5432)))
	x.SetEndpointSlice(slice("default", "db-1", "db", []discoveryv1.EndpointPort{slport("sql", 5432)},
		ep{ip: "10.244.0.8", hostname: "db-0", ready: true}, ep{ip: "10.244.0.9", ready: true}, ep{ip: "10.244.0.10", ready: false}))
	x.SetService(svc("default", "empty", corev1.ServiceTypeClusterIP, []string{"None"}))
	ext := svc("default", "ext", corev1.ServiceTypeExternalName, nil)
	ext.Spec.ExternalName = "example.org"
	x.SetService(ext)
	alias := svc("default", "alias", corev1.ServiceTypeExternalName, nil)
	alias.Spec.ExternalName = "web.default.svc.cluster.local"
	x.SetService(alias)
	x.SetService(svc("kube-system", "kube-dns", corev1.ServiceTypeClusterIP, []string{"10.96.0.10"},
		port("dns", corev1.ProtocolUDP, 53), port("dns-tcp", corev1.ProtocolTCP, 53)))
	x.SetEndpointSlice(slice("kube-system", "kube-dns-1", "kube-dns", []discoveryv1.EndpointPort{slport("dns-tcp", 53)}, ep{ip: "192.0.2.1", ready: true}))
	x.SetPod(pod("default", "p", "10.244.0.7"))
	return s
}

func query(name string, qtype uint16) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	return m
}
