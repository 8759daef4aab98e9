package api

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
)

// SystemNamespaces are made at first start, as kube-apiserver does.
var SystemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// BootstrapConfig says where the API is reachable, for the `kubernetes` service.
type BootstrapConfig struct {
	// ServiceIP is the `kubernetes` service's ClusterIP (the service CIDR's first address).
	ServiceIP netip.Addr
	// EndpointIP and EndpointPort are where the API listens.
	EndpointIP   netip.Addr
	EndpointPort int32
}

// Bootstrap makes what every cluster has: the system namespaces and the `kubernetes` service
// in default, with Endpoints and an EndpointSlice pointing at this API server. Existing objects
// are left alone, except that the endpoints follow the node IP.
func Bootstrap(ctx context.Context, reg *registry.Registry, cfg BootstrapConfig) error {
	for _, ns := range SystemNamespaces {
		if err := ensure(ctx, reg, resource.Namespaces, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: cfg.ServiceIP.String(), ClusterIPs: []string{cfg.ServiceIP.String()},
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromInt32(cfg.EndpointPort)}},
		},
	}
	if err := ensure(ctx, reg, resource.Services, "default", svc); err != nil {
		return err
	}
	if cfg.EndpointIP.IsLoopback() {
		// Endpoints may not point at loopback (Kubernetes' validation): a node that only listens
		// on 127.0.0.1 has a `kubernetes` service without endpoints, as upstream would.
		return nil
	}
	return errors.Join(
		put(ctx, reg, resource.Endpoints, "default", apiEndpoints(cfg)),
		put(ctx, reg, resource.EndpointSlices, "default", apiEndpointSlice(cfg)),
	)
}

func ensure(ctx context.Context, reg *registry.Registry, info *resource.Info, ns string, obj runtime.Object) error {
	_, err := reg.Get(info, ns, accessor(obj).GetName())
	if !apierrors.IsNotFound(err) {
		return err
	}
	_, err = reg.Create(ctx, info, ns, obj, registry.WriteOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bootstrap %s: %w", info.GVR.Resource, err)
	}
	return nil
}

// put creates obj or replaces the stored object's content with it.
func put(ctx context.Context, reg *registry.Registry, info *resource.Info, ns string, obj runtime.Object) error {
	name := accessor(obj).GetName()
	_, err := reg.Update(ctx, info, ns, name, "", func(cur runtime.Object) (runtime.Object, error) {
		next := obj.DeepCopyObject()
		accessor(next).SetResourceVersion(accessor(cur).GetResourceVersion())
		return next, nil
	}, registry.WriteOptions{})
	if apierrors.IsNotFound(err) {
		_, err = reg.Create(ctx, info, ns, obj.DeepCopyObject(), registry.WriteOptions{})
	}
	if err != nil {
		return fmt.Errorf("bootstrap %s %s: %w", info.GVR.Resource, name, err)
	}
	return nil
}

func apiEndpoints(cfg BootstrapConfig) *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: cfg.EndpointIP.String()}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: cfg.EndpointPort, Protocol: corev1.ProtocolTCP}},
		}},
	}
}

func apiEndpointSlice(cfg BootstrapConfig) *discoveryv1.EndpointSlice {
	name, proto, port, ready := "https", corev1.ProtocolTCP, cfg.EndpointPort, true
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{cfg.EndpointIP.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports: []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
	}
}
