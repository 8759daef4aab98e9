package endpoints

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
)

// service reads a Service; nil when it is gone.
func (c *Controllers) service(ns, name string) (*corev1.Service, error) {
	obj, err := c.reg.Get(resource.Services, ns, name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(err, "get service %s/%s", ns, name)
	}
	return obj.(*corev1.Service), nil
}

// selectedPods lists the pods of the service's namespace its selector matches (an empty
// selector matches them all, as upstream).
func (c *Controllers) selectedPods(svc *corev1.Service) ([]*corev1.Pod, error) {
	objs, _, err := c.reg.List(resource.Pods, svc.Namespace, registry.ListOptions{Labels: labels.SelectorFromSet(svc.Spec.Selector)})
	if err != nil {
		return nil, wrap(err, "list pods of service %s/%s", svc.Namespace, svc.Name)
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*corev1.Pod))
	}
	return out, nil
}

// syncSlices brings the managed slices of one service in line with its pods.
func (c *Controllers) syncSlices(ctx context.Context, ns, name string) error {
	svc, err := c.service(ns, name)
	if err != nil {
		return err
	}
	var pods []*corev1.Pod
	if managed(svc) {
		if pods, err = c.selectedPods(svc); err != nil {
			return err
		}
	}
	plan := planSlices(svc, pods, c.cache.get(key(ns, name)), c.maxPerSlice)
	return c.applySlices(ctx, ns, plan)
}

// applySlices writes a plan: creates, then updates, then deletes, so that an endpoint moving
// between slices is never absent from all of them.
func (c *Controllers) applySlices(ctx context.Context, ns string, plan slicePlan) error {
	for _, s := range plan.Create {
		out, err := c.reg.Create(ctx, resource.EndpointSlices, ns, s, registry.WriteOptions{})
		if terminatingNamespace(err) {
			return nil
		}
		if err != nil {
			return wrap(err, "create endpointslice for service %s/%s", ns, s.Labels[discoveryv1.LabelServiceName])
		}
		c.cache.observe(out.(*discoveryv1.EndpointSlice))
	}
	for _, s := range plan.Update {
		out, err := c.reg.Update(ctx, resource.EndpointSlices, ns, s.Name, "", replaceWith(s), registry.WriteOptions{})
		if apierrors.IsNotFound(err) {
			c.cache.deleted(ns, s.Name, true)
		}
		if err != nil {
			return wrap(err, "update endpointslice %s/%s", ns, s.Name)
		}
		c.cache.observe(out.(*discoveryv1.EndpointSlice))
	}
	var errs []error
	for _, s := range plan.Delete {
		_, _, err := c.reg.Delete(ctx, resource.EndpointSlices, ns, s.Name,
			metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, wrap(err, "delete endpointslice %s/%s", ns, s.Name))
			continue
		}
		c.cache.deleted(ns, s.Name, true)
	}
	return errors.Join(errs...)
}

// replaceWith stores obj as it is; its resourceVersion (that of the copy it was planned from)
// makes the write fail with a conflict if the object changed since.
func replaceWith(obj runtime.Object) registry.MutateFunc {
	return func(runtime.Object) (runtime.Object, error) { return obj.DeepCopyObject(), nil }
}

func terminatingNamespace(err error) bool {
	return apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}

// syncEndpoints brings the Endpoints object of one service in line with its pods; the
// Endpoints of a service that is gone go too.
func (c *Controllers) syncEndpoints(ctx context.Context, ns, name string) error {
	svc, err := c.service(ns, name)
	if err != nil {
		return err
	}
	if svc == nil {
		_, _, err := c.reg.Delete(ctx, resource.Endpoints, ns, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return wrap(err, "delete endpoints %s/%s", ns, name)
		}
		return nil
	}
	if !managed(svc) {
		return nil
	}
	pods, err := c.selectedPods(svc)
	if err != nil {
		return err
	}
	cur, err := c.currentEndpoints(ns, name)
	if err != nil {
		return err
	}
	next := planEndpoints(svc, pods, cur)
	switch {
	case next == nil:
		return nil
	case cur == nil:
		_, err = c.reg.Create(ctx, resource.Endpoints, ns, next, registry.WriteOptions{})
		if terminatingNamespace(err) {
			return nil
		}
	default:
		_, err = c.reg.Update(ctx, resource.Endpoints, ns, name, "", replaceWith(next), registry.WriteOptions{})
	}
	return wrap(err, "write endpoints %s/%s", ns, name)
}

func (c *Controllers) currentEndpoints(ns, name string) (*corev1.Endpoints, error) {
	obj, err := c.reg.Get(resource.Endpoints, ns, name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap(err, "get endpoints %s/%s", ns, name)
	}
	return obj.(*corev1.Endpoints), nil
}
