package workload

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
)

// rolloutRecreate scales every old ReplicaSet to zero, waits until none of their pods runs,
// then creates (or scales up) the new one.
func (c *Controllers) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, sel labels.Selector) error {
	newRS, old, err := c.splitReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	scaledDown := false
	for _, rs := range activeReplicaSets(old) {
		scaled, err := c.scaleToIfNeeded(ctx, rs, 0, d)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	running, err := c.oldPodsRunning(d, newRS, old, rsList, sel)
	if err != nil {
		return err
	}
	if running {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if newRS == nil {
		if newRS, old, err = c.splitReplicaSets(ctx, d, rsList, true); err != nil {
			return err
		}
		all = append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	}
	if _, err := c.scaleToIfNeeded(ctx, newRS, replicasOf(d.Spec.Replicas), d); err != nil {
		return err
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanupDeployment(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, all, newRS, d)
}

// oldPodsRunning: an old ReplicaSet still reports pods, or a pod of one has not finished
// (pending, running or unknown).
func (c *Controllers) oldPodsRunning(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old, rsList []*appsv1.ReplicaSet, sel labels.Selector) (bool, error) {
	if sumStatus(old, statusReplicas) > 0 {
		return true, nil
	}
	owners := map[types.UID]bool{}
	for _, rs := range rsList {
		if newRS == nil || rs.UID != newRS.UID {
			owners[rs.UID] = true
		}
	}
	objs, _, err := c.reg.List(resource.Pods, d.Namespace, registry.ListOptions{Labels: sel})
	if err != nil {
		return false, wrap("list pods", err)
	}
	for _, o := range objs {
		p := o.(*corev1.Pod)
		ref := metav1.GetControllerOfNoCopy(p)
		if ref == nil || !owners[ref.UID] {
			continue
		}
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			return true, nil
		}
	}
	return false, nil
}
