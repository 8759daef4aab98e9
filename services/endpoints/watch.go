package endpoints

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/internal/storewatch"
)

// leaderAnnotation marks the leader-election records that live as Endpoints without a
// service; upstream never deletes those as leftovers.
const leaderAnnotation = "control-plane.alpha.kubernetes.io/leader"

// watch feeds the queues from one store watch. Each (re)start rebuilds the caches from fresh
// lists and queues every service (what happened before is read fresh by the syncs), then
// follows the watch.
func (c *Controllers) watch(ctx context.Context) {
	storewatch.Run(ctx, storewatch.Config{Store: c.reg.Store(), Logger: c.log,
		Handler: storewatch.Funcs{OnResync: c.relist, OnEvent: c.dispatch}})
}

// relist rebuilds the slice cache and the selector index and queues every service and every
// service that still has slices. The first one also queues every Endpoints object, so that
// those whose service is gone are deleted, as upstream's check for leftovers at start; later
// ones (after a watch was cut off) do not, since an Endpoints object written before its
// service is the user's to keep.
func (c *Controllers) relist() error {
	objs, _, err := c.reg.List(resource.EndpointSlices, "", registry.ListOptions{})
	if err != nil {
		return wrap(err, "list endpointslices")
	}
	var list []*discoveryv1.EndpointSlice
	for _, o := range objs {
		list = append(list, o.(*discoveryv1.EndpointSlice))
	}
	c.cache.reset(list)
	c.selectors.reset()
	if err := c.enqueueServices(); err != nil {
		return err
	}
	if c.leftoversQueued {
		return nil
	}
	if err := c.enqueueLeftoverEndpoints(); err != nil {
		return err
	}
	c.leftoversQueued = true
	return nil
}

// enqueueLeftoverEndpoints queues every Endpoints object but leader-election records.
func (c *Controllers) enqueueLeftoverEndpoints() error {
	eps, _, err := c.reg.List(resource.Endpoints, "", registry.ListOptions{})
	if err != nil {
		return wrap(err, "list endpoints")
	}
	for _, o := range eps {
		ep := o.(*corev1.Endpoints)
		if _, ok := ep.Annotations[leaderAnnotation]; !ok {
			c.endpoints.Add(key(ep.Namespace, ep.Name))
		}
	}
	return nil
}

// enqueueServices queues every service (refreshing its selector) and every service that
// has slices, in case it is gone.
func (c *Controllers) enqueueServices() error {
	objs, _, err := c.reg.List(resource.Services, "", registry.ListOptions{})
	if err != nil {
		return wrap(err, "list services")
	}
	for _, o := range objs {
		svc := o.(*corev1.Service)
		c.selectors.set(svc.Namespace, svc.Name, svc.Spec.Selector)
		c.slices.Add(key(svc.Namespace, svc.Name))
		c.endpoints.Add(key(svc.Namespace, svc.Name))
	}
	for _, k := range c.cache.services() {
		c.slices.Add(k)
	}
	return nil
}

func (c *Controllers) dispatch(e *store.Event) {
	switch e.Resource {
	case resource.Services:
		c.onService(e)
	case resource.Pods:
		c.onPod(e)
	case resource.EndpointSlices:
		c.onSlice(e)
	case resource.Endpoints:
		c.onEndpoints(e)
	}
}

// onEndpoints queues the service of an Endpoints object that was deleted (to write it again)
// or changed while a service with a selector owns it (to undo the edit). Others are left
// alone: upstream lets users write Endpoints before their Service.
func (c *Controllers) onEndpoints(e *store.Event) {
	if e.Type == watch.Deleted || c.selectors.has(e.Namespace, e.Name) {
		c.endpoints.Add(key(e.Namespace, e.Name))
	}
}

func (c *Controllers) onService(e *store.Event) {
	if e.Type == watch.Deleted {
		c.selectors.remove(e.Namespace, e.Name)
	} else {
		c.selectors.set(e.Namespace, e.Name, e.Object.(*corev1.Service).Spec.Selector)
	}
	c.slices.Add(key(e.Namespace, e.Name))
	c.endpoints.Add(key(e.Namespace, e.Name))
}

// onPod queues the services that select the pod now or did before, when the change can
// matter to an endpoint (most pod updates are status details that cannot).
func (c *Controllers) onPod(e *store.Event) {
	pod, _ := e.Object.(*corev1.Pod)
	prev, _ := e.Prev.(*corev1.Pod)
	if e.Type == watch.Modified && pod != nil && prev != nil && !podChanged(prev, pod) {
		return
	}
	var sets []labels.Set
	for _, p := range []*corev1.Pod{pod, prev} {
		if p != nil {
			sets = append(sets, labels.Set(p.Labels))
		}
	}
	for _, name := range c.selectors.matching(e.Namespace, sets...) {
		c.slices.Add(key(e.Namespace, name))
		c.endpoints.Add(key(e.Namespace, name))
	}
}

// podChanged: the update can change an endpoint or which services select the pod.
func podChanged(a, b *corev1.Pod) bool {
	return !labels.Equals(a.Labels, b.Labels) || a.Spec.Hostname != b.Spec.Hostname ||
		a.Spec.Subdomain != b.Spec.Subdomain || a.Spec.NodeName != b.Spec.NodeName ||
		(a.DeletionTimestamp == nil) != (b.DeletionTimestamp == nil) || podReady(a) != podReady(b) ||
		a.Status.Phase != b.Status.Phase || a.Status.PodIP != b.Status.PodIP ||
		!equalPodIPs(a.Status.PodIPs, b.Status.PodIPs) || a.UID != b.UID
}

func equalPodIPs(a, b []corev1.PodIP) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].IP != b[i].IP {
			return false
		}
	}
	return true
}

// onSlice keeps the cache current and queues the services whose managed slices changed, so
// a slice someone edited or deleted is put back.
func (c *Controllers) onSlice(e *store.Event) {
	var keys []string
	if e.Type == watch.Deleted {
		if k := c.cache.deleted(e.Namespace, e.Name, false); k != "" {
			keys = append(keys, k)
		}
	} else {
		keys = c.cache.observe(e.Object.(*discoveryv1.EndpointSlice))
	}
	for _, o := range []runtime.Object{e.Object, e.Prev} {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok && ours(s) {
			keys = append(keys, key(s.Namespace, s.Labels[discoveryv1.LabelServiceName]))
		}
	}
	for _, k := range keys {
		c.slices.Add(k)
	}
}
