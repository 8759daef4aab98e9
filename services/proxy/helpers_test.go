package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/knftables"
)

// fakeConntrack records what it is asked to delete.
type fakeConntrack struct {
	mu    sync.Mutex
	flows []Flow
}

func (f *fakeConntrack) DeleteUDP(_ bool, flows []Flow) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flows = append(f.flows, flows...)
	return nil
}

func (f *fakeConntrack) take() []Flow {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.flows
	f.flows = nil
	return out
}

const testNode = "node1"

func newTestProxy(t testing.TB, mod func(*Config)) (*Proxy, *knftables.Fake, *fakeConntrack) {
	t.Helper()
	fake := knftables.NewFake(knftables.IPv4Family, "podnet")
	ct := &fakeConntrack{}
	cfg := Config{NFT: fake, Conntrack: ct, NodeName: testNode,
		NodePortAddresses: []netip.Addr{netip.MustParseAddr("192.168.1.10")}}
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, fake, ct
}

func mustSync(t testing.TB, p *Proxy) {
	t.Helper()
	if err := p.SyncNow(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// serviceLines is the dump without the skeleton's lines: what the services added.
func serviceLines(t *testing.T, fake *knftables.Fake, skeleton string) string {
	t.Helper()
	base := map[string]bool{}
	for _, l := range strings.Split(skeleton, "\n") {
		base[l] = true
	}
	var out []string
	for _, l := range strings.Split(fake.Dump(), "\n") {
		if !base[l] {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func emptyDump(t *testing.T, mod func(*Config)) string {
	p, fake, _ := newTestProxy(t, mod)
	mustSync(t, p)
	return fake.Dump()
}

type svcOpt func(*corev1.Service)

func service(name, clusterIP string, ports []corev1.ServicePort, opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: clusterIP, ClusterIPs: []string{clusterIP},
			Ports: ports, Selector: map[string]string{"app": name}},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func tcp(name string, port, target int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(target)}
}

func udp(name string, port, target int32) corev1.ServicePort {
	p := tcp(name, port, target)
	p.Protocol = corev1.ProtocolUDP
	return p
}

// ep is a slice endpoint: "ip" ready on testNode, or with flags in cond: "ip,notready",
// "ip,terminating" (serving, not ready), "ip,other" (another node), "ip,unsetserving" (no
// serving condition written).
func ep(spec string) discoveryv1.Endpoint {
	parts := strings.Split(spec, ",")
	ready, serving, term, node := true, true, false, testNode
	for _, f := range parts[1:] {
		switch f {
		case "notready":
			ready, serving = false, false
		case "terminating":
			ready, term = false, true
		case "other":
			node = "node2"
		}
	}
	e := discoveryv1.Endpoint{Addresses: []string{parts[0]}, NodeName: &node,
		Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &term}}
	if slices.Contains(parts[1:], "unsetserving") {
		e.Conditions.Serving = nil
	}
	return e
}

func slice(svc, name string, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default",
			Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4, Ports: ports, Endpoints: eps,
	}
}

func sport(name string, proto corev1.Protocol, port int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &port}
}

func flowsText(fs []Flow) string {
	var s []string
	for _, f := range fs {
		line := fmt.Sprintf("dst=%v dport=%d reply=%v", f.OrigDst, f.OrigDstPort, f.ReplySrc)
		if f.Spare != nil {
			line += fmt.Sprintf(" spare=%v", *f.Spare)
		}
		s = append(s, line)
	}
	slices.Sort(s)
	return strings.Join(s, "\n")
}
