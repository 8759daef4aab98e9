package workload

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/internal/storewatch"
	"github.com/podnet/podnet/internal/workqueue"
)

func accessor(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(err)
	}
	return m
}

// watch feeds the queues from one store watch over every resource. Each (re)start queues
// every object (what happened before it is read fresh by the syncs) and watches from there.
func (c *Controllers) watch(ctx context.Context) {
	storewatch.Run(ctx, storewatch.Config{Store: c.reg.Store(), Logger: c.log,
		Handler: storewatch.Funcs{OnResync: c.resyncAll, OnEvent: c.dispatch}})
}

func (c *Controllers) resyncAll() error {
	c.enqueueAll()
	return nil
}

func (c *Controllers) dispatch(e *store.Event) {
	switch e.Resource {
	case resource.Deployments:
		c.deployments.Add(key(e.Namespace, e.Name))
	case resource.ReplicaSets:
		c.onReplicaSet(e)
	case resource.Pods:
		c.onPod(e)
	}
}

// onReplicaSet syncs the RS and the deployments that own (or owned) it; an orphan RS goes to
// every deployment of its namespace, one of which may adopt it.
func (c *Controllers) onReplicaSet(e *store.Event) {
	c.replicaSets.Add(key(e.Namespace, e.Name))
	owners := controllersOf("Deployment", e.Object, e.Prev)
	if len(owners) == 0 && e.Type != watch.Deleted {
		c.enqueueNamespace(resource.Deployments, e.Namespace, c.deployments)
	}
	for _, name := range owners {
		c.deployments.Add(key(e.Namespace, name))
	}
}

// onPod syncs the ReplicaSets that own (or owned) the pod; an orphan goes to every ReplicaSet of
// its namespace. A pod that is gone also wakes its deployment: Recreate waits for old pods to end.
func (c *Controllers) onPod(e *store.Event) {
	owners := controllersOf("ReplicaSet", e.Object, e.Prev)
	if len(owners) == 0 && e.Type != watch.Deleted {
		c.enqueueNamespace(resource.ReplicaSets, e.Namespace, c.replicaSets)
	}
	for _, name := range owners {
		c.replicaSets.Add(key(e.Namespace, name))
		if e.Type == watch.Deleted || podFinished(e.Object) {
			c.enqueueOwnerOfReplicaSet(e.Namespace, name)
		}
	}
}

func podFinished(obj runtime.Object) bool {
	p, ok := obj.(*corev1.Pod)
	return ok && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed)
}

func (c *Controllers) enqueueOwnerOfReplicaSet(ns, name string) {
	obj, err := c.reg.Get(resource.ReplicaSets, ns, name)
	if err != nil {
		return
	}
	if ref := metav1.GetControllerOf(obj.(*appsv1.ReplicaSet)); ref != nil && ref.Kind == "Deployment" {
		c.deployments.Add(key(ns, ref.Name))
	}
}

func (c *Controllers) enqueueNamespace(info *resource.Info, ns string, q *workqueue.Queue) {
	objs, _, err := c.reg.List(info, ns, registry.ListOptions{})
	if err != nil {
		return
	}
	for _, o := range objs {
		q.Add(key(ns, accessor(o).GetName()))
	}
}

// controllersOf names the controllers of kind among the objects' controller references.
func controllersOf(kind string, objs ...runtime.Object) []string {
	var out []string
	for _, o := range objs {
		if o == nil {
			continue
		}
		if ref := metav1.GetControllerOfNoCopy(accessor(o)); ref != nil && ref.Kind == kind && ref.APIVersion == "apps/v1" {
			out = append(out, ref.Name)
		}
	}
	return out
}
