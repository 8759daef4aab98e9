package allocator

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newDefault(t *testing.T) *Allocator {
	t.Helper()
	a, err := New(Config{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// newSmall has a /28: usable 10.96.0.1-10.96.0.14, of which .1 and .10 are kept from dynamic use.
func newSmall(t *testing.T) *Allocator {
	t.Helper()
	a, err := New(Config{ServiceCIDR: netip.MustParsePrefix("10.96.0.0/28"), NodePortRange: PortRange{Base: 30000, Size: 4}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

type svcOpt func(*corev1.Service)

func svc(name string, typ corev1.ServiceType, opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type:     typ,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func withIP(ip string) svcOpt { return func(s *corev1.Service) { s.Spec.ClusterIP = ip } }
func withIPs(ips ...string) svcOpt {
	return func(s *corev1.Service) { s.Spec.ClusterIPs = ips }
}
func withNodePort(np int32) svcOpt { return func(s *corev1.Service) { s.Spec.Ports[0].NodePort = np } }
func withPorts(ports ...corev1.ServicePort) svcOpt {
	return func(s *corev1.Service) { s.Spec.Ports = ports }
}
func withLocal(hc int32) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.HealthCheckNodePort = hc
	}
}
func withPolicy(p corev1.IPFamilyPolicy) svcOpt {
	return func(s *corev1.Service) { s.Spec.IPFamilyPolicy = &p }
}
func noSelector() svcOpt { return func(s *corev1.Service) { s.Spec.Selector = nil } }
func noLBNodePorts() svcOpt {
	return func(s *corev1.Service) { f := false; s.Spec.AllocateLoadBalancerNodePorts = &f }
}
func externalName() svcOpt {
	return func(s *corev1.Service) { s.Spec.ExternalName = "example.com" }
}

// describe prints what the allocator writes into a Service.
func describe(s *corev1.Service) string {
	policy := "<nil>"
	if s.Spec.IPFamilyPolicy != nil {
		policy = string(*s.Spec.IPFamilyPolicy)
	}
	var ports []string
	for _, p := range s.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%d/%s:%d", p.Port, p.Protocol, p.NodePort))
	}
	return fmt.Sprintf("clusterIP=%s clusterIPs=%v ipFamilies=%v ipFamilyPolicy=%s ports=%v hc=%d",
		s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies, policy, ports, s.Spec.HealthCheckNodePort)
}

// held lists every address and port the allocator considers in use.
func held(a *Allocator) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ips, ports []string
	for off := 0; off < a.ipPool.bits.size; off++ {
		if a.ipPool.bits.has(off) {
			ips = append(ips, a.ips.addr(off).String())
		}
	}
	for off := 0; off < a.portPool.bits.size; off++ {
		if a.portPool.bits.has(off) {
			ports = append(ports, fmt.Sprint(a.ports.Base+off))
		}
	}
	return fmt.Sprintf("ips=[%s] ports=[%s]", strings.Join(ips, " "), strings.Join(ports, " "))
}

func mustCreate(t *testing.T, a *Allocator, s *corev1.Service) *corev1.Service {
	t.Helper()
	txn, err := a.Create(s)
	if err != nil {
		t.Fatalf("Create %s: %v", s.Name, err)
	}
	txn.Commit()
	return s
}
