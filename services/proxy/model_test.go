package proxy

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

var web = []discoveryv1.EndpointPort{sport("http", corev1.ProtocolTCP, 8080)}

func modelCases() []struct {
	name   string
	svc    *corev1.Service
	slices []*discoveryv1.EndpointSlice
} {
	http := []corev1.ServicePort{tcp("http", 80, 8080)}
	two := slice("web", "web-1", web, ep("10.244.0.5"), ep("10.244.0.6,other"))
	return []struct {
		name   string
		svc    *corev1.Service
		slices []*discoveryv1.EndpointSlice
	}{
		{"clusterip-2-endpoints", service("web", "10.96.0.20", http), []*discoveryv1.EndpointSlice{two}},
		{"no-endpoints", service("web", "10.96.0.20", http), []*discoveryv1.EndpointSlice{slice("web", "web-1", web, ep("10.244.0.5,notready"))}},
		{"nodeport", service("web", "10.96.0.20", []corev1.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, NodePort: 32000}},
			func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }), []*discoveryv1.EndpointSlice{two}},
		{"loadbalancer-source-ranges", service("web", "10.96.0.20", []corev1.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, NodePort: 32000}},
			func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeLoadBalancer
				s.Spec.LoadBalancerSourceRanges = []string{"203.0.113.0/24", "2001:db8::/32"}
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.1.200"}}
			}), []*discoveryv1.EndpointSlice{two}},
		{"external-ips", service("web", "10.96.0.20", http, func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"198.51.100.7"} }),
			[]*discoveryv1.EndpointSlice{two}},
		{"external-traffic-policy-local", service("web", "10.96.0.20", []corev1.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, NodePort: 32000}},
			func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			}), []*discoveryv1.EndpointSlice{two}},
		{"internal-traffic-policy-local", service("web", "10.96.0.20", http, func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
		}), []*discoveryv1.EndpointSlice{two}},
		{"internal-traffic-policy-local-none-here", service("web", "10.96.0.20", http, func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
		}), []*discoveryv1.EndpointSlice{slice("web", "web-1", web, ep("10.244.0.6,other"))}},
		{"client-ip-affinity", service("web", "10.96.0.20", http, func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
		}), []*discoveryv1.EndpointSlice{two}},
		{"terminating-fallback", service("web", "10.96.0.20", http), []*discoveryv1.EndpointSlice{
			slice("web", "web-1", web, ep("10.244.0.5,terminating"), ep("10.244.0.6,notready"))}},
		// A writer that left serving out: kube-proxy reads it as true.
		{"terminating-fallback-serving-unset", service("web", "10.96.0.20", http), []*discoveryv1.EndpointSlice{
			slice("web", "web-1", web, ep("10.244.0.5,terminating,unsetserving"), ep("10.244.0.6,notready"))}},
		{"source-ranges-other-family", service("web", "10.96.0.20", []corev1.ServicePort{{Name: "http", Protocol: "TCP", Port: 80, NodePort: 32000}},
			func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeLoadBalancer
				s.Spec.LoadBalancerSourceRanges = []string{"2001:db8::/32"}
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.1.200"}}
			}), []*discoveryv1.EndpointSlice{two}},
		{"udp", service("dns", "10.96.0.10", []corev1.ServicePort{udp("dns", 53, 53)}), []*discoveryv1.EndpointSlice{
			slice("dns", "dns-1", []discoveryv1.EndpointPort{sport("dns", corev1.ProtocolUDP, 53)}, ep("10.244.0.7"))}},
		{"external-name", &corev1.Service{}, nil},
	}
}

func TestSkeleton(t *testing.T) {
	if got := strings.TrimSpace(emptyDump(t, nil)); got != wantSkeleton {
		t.Errorf("skeleton:\n%s\nwant:\n%s", got, wantSkeleton)
	}
}

// TestModel programs one service per case into a Fake and compares what it added to the
// table, as nft text, with the literal expectation.
func TestModel(t *testing.T) {
	base := emptyDump(t, nil)
	for _, tc := range modelCases() {
		t.Run(tc.name, func(t *testing.T) {
			p, fake, _ := newTestProxy(t, nil)
			if tc.name == "external-name" {
				tc.svc = service("ext", "", nil, func(s *corev1.Service) {
					s.Spec.Type = corev1.ServiceTypeExternalName
					s.Spec.ExternalName = "example.com"
				})
			}
			p.SetService(tc.svc)
			for _, s := range tc.slices {
				p.SetSlice(s)
			}
			mustSync(t, p)
			got := strings.TrimSpace(serviceLines(t, fake, base))
			if want := wantModel[tc.name]; got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
