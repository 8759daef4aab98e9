package loadbalancer

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWantOf(t *testing.T) {
	single, prefer, require := corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack
	tests := []struct {
		name   string
		fams   []corev1.IPFamily
		policy *corev1.IPFamilyPolicy
		lbIP   string
		annots map[string]string
		noV6   bool
		want   string
	}{
		{name: "single stack", fams: v4, policy: &single, want: "families=[IPv4] required=1 requested=[]"},
		{name: "no families: from nothing, IPv4", want: "families=[IPv4] required=1 requested=[]"},
		{name: "require dual", fams: dual, policy: &require, want: "families=[IPv4 IPv6] required=2 requested=[]"},
		{name: "prefer dual with both pools", fams: dual, policy: &prefer, want: "families=[IPv4 IPv6] required=1 requested=[]"},
		{name: "prefer dual without an IPv6 pool", fams: dual, policy: &prefer, noV6: true, want: "families=[IPv4] required=1 requested=[]"},
		{name: "spec.loadBalancerIP", fams: v4, lbIP: "192.168.100.7", want: "families=[IPv4] required=1 requested=[192.168.100.7]"},
		{name: "annotation, both families", fams: dual, policy: &require,
			annots: map[string]string{DeprecatedAnnotationLoadBalancerIPs: "192.168.100.7, fd00::7"},
			want:   "families=[IPv4 IPv6] required=2 requested=[192.168.100.7 fd00::7]"},
		{name: "current annotation wins", fams: v4,
			annots: map[string]string{AnnotationLoadBalancerIPs: "192.168.100.8", DeprecatedAnnotationLoadBalancerIPs: "192.168.100.7"},
			want:   "families=[IPv4] required=1 requested=[192.168.100.8]"},
		{name: "both ways of asking", fams: v4, lbIP: "192.168.100.7",
			annots: map[string]string{DeprecatedAnnotationLoadBalancerIPs: "192.168.100.8"},
			want:   "error: service can not have both metallb.universe.tf/loadBalancerIPs and svc.Spec.LoadBalancerIP"},
		{name: "bad annotation", fams: v4, annots: map[string]string{AnnotationLoadBalancerIPs: "192.168.100.7,nope"},
			want: `error: invalid metallb.io/loadBalancerIPs: "192.168.100.7,nope"`},
		{name: "bad spec.loadBalancerIP", fams: v4, lbIP: "192.168.100", want: `error: invalid spec.loadBalancerIP "192.168.100"`},
		{name: "requested family not the service's", fams: v4, lbIP: "fd00::7",
			want: `error: requested loadBalancer IP(s) ["fd00::7"] does not match the ipFamily of the service`},
		{name: "required family not requested", fams: dual, policy: &require,
			annots: map[string]string{AnnotationLoadBalancerIPs: "192.168.100.7"},
			want:   `error: requested loadBalancer IP(s) ["192.168.100.7"] does not match the ipFamily of the service`},
		{name: "two of one family", fams: v4, annots: map[string]string{AnnotationLoadBalancerIPs: "192.168.100.7,192.168.100.8"},
			want: `error: requested loadBalancer IP(s) ["192.168.100.7" "192.168.100.8"] does not match the ipFamily of the service`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Annotations: tt.annots},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, IPFamilies: tt.fams, IPFamilyPolicy: tt.policy, LoadBalancerIP: tt.lbIP}}
			hasFamily := func(f corev1.IPFamily) bool { return f == corev1.IPv4Protocol || !tt.noV6 }
			w, err := wantOf(svc, hasFamily)
			got := fmt.Sprintf("families=%v required=%d requested=%v", w.families, w.required, w.requested)
			if err != nil {
				got = "error: " + err.Error()
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestManaged(t *testing.T) {
	class := "example.com/other"
	for _, tt := range []struct {
		typ   corev1.ServiceType
		class *string
		want  bool
	}{
		{corev1.ServiceTypeLoadBalancer, nil, true},
		{corev1.ServiceTypeLoadBalancer, &class, false},
		{corev1.ServiceTypeNodePort, nil, false},
		{corev1.ServiceTypeClusterIP, nil, false},
	} {
		svc := &corev1.Service{Spec: corev1.ServiceSpec{Type: tt.typ, LoadBalancerClass: tt.class}}
		if got := managed(svc); got != tt.want {
			t.Errorf("managed(%s, class %v) = %t, want %t", tt.typ, tt.class != nil, got, tt.want)
		}
	}
}
