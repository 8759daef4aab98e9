package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/internal/workqueue"
)

// The DNS Service as kubeadm names it, so that manifests and tools that look for it find it.
const (
	ServiceNamespace = "kube-system"
	ServiceName      = "kube-dns"
)

// ServiceConfig says where the DNS Service points.
type ServiceConfig struct {
	Registry *registry.Registry
	Logger   *slog.Logger
	// ClusterIP is the Service's address (network.clusterDNS, 10.96.0.10 by default).
	ClusterIP netip.Addr
	// Endpoint is where this server listens: the node IP and the port.
	Endpoint netip.AddrPort
	// Every is how often the objects are checked and repaired (default 1 s).
	Every time.Duration
}

// KeepService makes the kube-dns Service (ports dns 53/UDP and dns-tcp 53/TCP, no selector)
// with an EndpointSlice and Endpoints pointing at this server, and puts them back whenever
// they are deleted or changed, until ctx ends. The endpoint is podnet itself, so the proxy
// carries DNS like any other Service.
func KeepService(ctx context.Context, cfg ServiceConfig) {
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ensure := func() {
		if err := EnsureService(ctx, cfg); err != nil && ctx.Err() == nil {
			cfg.Logger.Warn("dns: keeping the kube-dns service", "err", err)
		}
	}
	ensure()
	workqueue.Every(ctx, cfg.Every, ensure)
}

// EnsureService makes or repairs the kube-dns objects once.
func EnsureService(ctx context.Context, cfg ServiceConfig) error {
	errs := []error{ensureObject(ctx, cfg.Registry, resource.Services, dnsService(cfg), sameServiceSpec)}
	if cfg.Endpoint.Addr().IsLoopback() {
		// Endpoints may not point at loopback (Kubernetes' validation).
		return errors.Join(errs...)
	}
	errs = append(errs,
		ensureObject(ctx, cfg.Registry, resource.EndpointSlices, dnsSlice(cfg), sameSlice),
		ensureObject(ctx, cfg.Registry, resource.Endpoints, dnsEndpoints(cfg), sameEndpoints))
	return errors.Join(errs...)
}

var dnsLabels = map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}

func dnsService(cfg ServiceConfig) *corev1.Service {
	port := int32(cfg.Endpoint.Port())
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ServiceName, Namespace: ServiceNamespace, Labels: dnsLabels},
		Spec: corev1.ServiceSpec{
			ClusterIP: cfg.ClusterIP.String(), ClusterIPs: []string{cfg.ClusterIP.String()},
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(port)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(port)},
			},
		},
	}
}

func dnsSlice(cfg ServiceConfig) *discoveryv1.EndpointSlice {
	udp, tcp, port, ready := corev1.ProtocolUDP, corev1.ProtocolTCP, int32(cfg.Endpoint.Port()), true
	dns, dnsTCP := "dns", "dns-tcp"
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: ServiceName, Namespace: ServiceNamespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: ServiceName}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{cfg.Endpoint.Addr().String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports: []discoveryv1.EndpointPort{{Name: &dns, Protocol: &udp, Port: &port}, {Name: &dnsTCP, Protocol: &tcp, Port: &port}},
	}
}

func dnsEndpoints(cfg ServiceConfig) *corev1.Endpoints {
	port := int32(cfg.Endpoint.Port())
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: ServiceName, Namespace: ServiceNamespace,
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: cfg.Endpoint.Addr().String()}},
			Ports: []corev1.EndpointPort{{Name: "dns", Port: port, Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", Port: port, Protocol: corev1.ProtocolTCP}},
		}},
	}
}

// The parts of each object the keeper owns; the rest (defaults, status) is the API's.
func sameServiceSpec(want, got runtime.Object) bool {
	w, g := want.(*corev1.Service), got.(*corev1.Service)
	if g.Spec.ClusterIP != w.Spec.ClusterIP || len(g.Spec.Selector) != 0 || len(g.Spec.Ports) != len(w.Spec.Ports) {
		return false
	}
	for i, p := range w.Spec.Ports {
		q := g.Spec.Ports[i]
		if q.Name != p.Name || q.Port != p.Port || q.Protocol != p.Protocol || q.TargetPort != p.TargetPort {
			return false
		}
	}
	return true
}

func sameSlice(want, got runtime.Object) bool {
	w, g := want.(*discoveryv1.EndpointSlice), got.(*discoveryv1.EndpointSlice)
	return g.Labels[discoveryv1.LabelServiceName] == ServiceName && len(g.Endpoints) == 1 &&
		len(g.Endpoints[0].Addresses) == 1 && g.Endpoints[0].Addresses[0] == w.Endpoints[0].Addresses[0] &&
		len(g.Ports) == 2 && *g.Ports[0].Port == *w.Ports[0].Port && *g.Ports[1].Port == *w.Ports[1].Port
}

func sameEndpoints(want, got runtime.Object) bool {
	w, g := want.(*corev1.Endpoints), got.(*corev1.Endpoints)
	return len(g.Subsets) == 1 && len(g.Subsets[0].Addresses) == 1 && g.Subsets[0].Addresses[0].IP == w.Subsets[0].Addresses[0].IP &&
		len(g.Subsets[0].Ports) == 2 && g.Subsets[0].Ports[0].Port == w.Subsets[0].Ports[0].Port
}

// ensureObject creates want when it is missing and replaces what the keeper owns when same
// says it drifted. A Service whose ClusterIP changed is deleted and made again (the field is
// immutable).
func ensureObject(ctx context.Context, reg *registry.Registry, info *resource.Info, want runtime.Object, same func(want, got runtime.Object) bool) error {
	m, err := meta(want)
	if err != nil {
		return err
	}
	got, err := reg.Get(info, m.GetNamespace(), m.GetName())
	switch {
	case apierrors.IsNotFound(err):
		_, err = reg.Create(ctx, info, m.GetNamespace(), want.DeepCopyObject(), registry.WriteOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
	case err == nil && !same(want, got):
		if info == resource.Services {
			zero := int64(0)
			if _, _, err = reg.Delete(ctx, info, m.GetNamespace(), m.GetName(), metav1.DeleteOptions{GracePeriodSeconds: &zero}); err == nil {
				_, err = reg.Create(ctx, info, m.GetNamespace(), want.DeepCopyObject(), registry.WriteOptions{})
			}
			break
		}
		_, err = reg.Update(ctx, info, m.GetNamespace(), m.GetName(), "", func(cur runtime.Object) (runtime.Object, error) {
			next := want.DeepCopyObject()
			nm, _ := meta(next)
			cm, _ := meta(cur)
			nm.SetResourceVersion(cm.GetResourceVersion())
			return next, nil
		}, registry.WriteOptions{})
	}
	if err != nil {
		return fmt.Errorf("%s %s/%s: %w", info.GVR.Resource, m.GetNamespace(), m.GetName(), err)
	}
	return nil
}

func meta(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	return m, nil
}
