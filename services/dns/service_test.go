package dns

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/internal/regtest"
)

// describeDNSObjects renders what the keeper owns of the three objects, one line each.
func describeDNSObjects(t *testing.T, reg *registry.Registry) string {
	t.Helper()
	var b strings.Builder
	if o, err := reg.Get(resource.Services, ServiceNamespace, ServiceName); err == nil {
		s := o.(*corev1.Service)
		b.WriteString("service " + s.Spec.ClusterIP)
		for _, p := range s.Spec.Ports {
			b.WriteString(" " + p.Name + ":" + string(p.Protocol) + ":" + p.TargetPort.String())
		}
		b.WriteString(" k8s-app=" + s.Labels["k8s-app"] + "\n")
	}
	if o, err := reg.Get(resource.EndpointSlices, ServiceNamespace, ServiceName); err == nil {
		s := o.(*discoveryv1.EndpointSlice)
		b.WriteString("slice " + strings.Join(s.Endpoints[0].Addresses, ","))
		for _, p := range s.Ports {
			b.WriteString(" " + *p.Name + ":" + string(*p.Protocol))
		}
		b.WriteString("\n")
	}
	if o, err := reg.Get(resource.Endpoints, ServiceNamespace, ServiceName); err == nil {
		e := o.(*corev1.Endpoints)
		b.WriteString("endpoints " + e.Subsets[0].Addresses[0].IP + "\n")
	}
	return b.String()
}

func TestEnsureServiceMakesAndRepairs(t *testing.T) {
	reg, _ := regtest.New(t, regtest.Options{ServiceAllocator: true})
	ctx := context.Background()
	if _, err := reg.Create(ctx, resource.Namespaces, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ServiceNamespace}}, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := ServiceConfig{Registry: reg, ClusterIP: netip.MustParseAddr("10.96.0.10"), Endpoint: netip.MustParseAddrPort("192.168.1.10:53")}
	want := `service 10.96.0.10 dns:UDP:53 dns-tcp:TCP:53 k8s-app=kube-dns
slice 192.168.1.10 dns:UDP dns-tcp:TCP
endpoints 192.168.1.10
`
	tests := []struct {
		name    string
		breakIt func(t *testing.T)
	}{
		{"made at start", func(t *testing.T) {}},
		{"service deleted", func(t *testing.T) {
			if _, _, err := reg.Delete(ctx, resource.Services, ServiceNamespace, ServiceName, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"slice deleted", func(t *testing.T) {
			if _, _, err := reg.Delete(ctx, resource.EndpointSlices, ServiceNamespace, ServiceName, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"endpoints pointed elsewhere", func(t *testing.T) {
			_, err := reg.Update(ctx, resource.Endpoints, ServiceNamespace, ServiceName, "", func(cur runtime.Object) (runtime.Object, error) {
				e := cur.DeepCopyObject().(*corev1.Endpoints)
				e.Subsets[0].Addresses[0].IP = "192.168.1.99"
				return e, nil
			}, registry.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.breakIt(t)
			if err := EnsureService(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			if got := describeDNSObjects(t, reg); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// A node that only has a loopback address gets the Service without endpoints (validation
// forbids loopback endpoints), as the kubernetes Service does.
func TestEnsureServiceLoopbackNode(t *testing.T) {
	reg, _ := regtest.New(t, regtest.Options{ServiceAllocator: true})
	ctx := context.Background()
	if _, err := reg.Create(ctx, resource.Namespaces, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ServiceNamespace}}, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := ServiceConfig{Registry: reg, ClusterIP: netip.MustParseAddr("10.96.0.10"), Endpoint: netip.MustParseAddrPort("127.0.0.1:53")}
	if err := EnsureService(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := describeDNSObjects(t, reg), "service 10.96.0.10 dns:UDP:53 dns-tcp:TCP:53 k8s-app=kube-dns\n"; got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
