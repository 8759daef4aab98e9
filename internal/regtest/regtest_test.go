package regtest

import (
	"context"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
)

var serviceCIDR = netip.MustParsePrefix("10.96.0.0/12")

func TestNew(t *testing.T) {
	svc := func() *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	}
	tests := []struct {
		name        string
		opts        Options
		inServiceIP bool
	}{
		{"plain registry: no ClusterIP", Options{}, false},
		{"service allocator: a ClusterIP from the default service CIDR", Options{ServiceAllocator: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, st := New(t, tt.opts)
			if _, err := reg.Get(resource.Namespaces, "", "default"); err != nil {
				t.Fatalf("namespace default: %v", err)
			}
			out, err := reg.Create(context.Background(), resource.Services, "default", svc(), registry.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ip := out.(*corev1.Service).Spec.ClusterIP
			a, err := netip.ParseAddr(ip)
			if got := err == nil && serviceCIDR.Contains(a); got != tt.inServiceIP {
				t.Fatalf("ClusterIP %q in %s: %v, want %v", ip, serviceCIDR, got, tt.inServiceIP)
			}
			if st.ResourceVersion() == 0 {
				t.Fatal("store saw no write")
			}
		})
	}
}
