package workload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
)

// burstReplicas caps the pods one sync creates or deletes, as upstream's --replicaset burst.
const burstReplicas = 500

// syncReplicaSet brings the pods of one ReplicaSet to spec.replicas and writes its status.
// It reads the store directly (no cache), so a pod it created is seen by the next sync and no
// creation expectations are needed.
func (c *Controllers) syncReplicaSet(ctx context.Context, ns, name string) error {
	obj, err := c.reg.Get(resource.ReplicaSets, ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return wrap("get replicaset", err)
	}
	rs := obj.(*appsv1.ReplicaSet)
	pods, err := c.claimPods(ctx, rs)
	if err != nil {
		return err
	}
	active := slices.DeleteFunc(pods, func(p *corev1.Pod) bool { return !isPodActive(p) })
	var manageErr error
	if rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, rs, active)
	}
	updated, err := c.updateReplicaSetStatus(ctx, rs, calculateReplicaSetStatus(rs, active, manageErr, c.now()))
	if err != nil {
		return errs(manageErr, err)
	}
	c.requeueForAvailability(updated)
	return manageErr
}

// requeueForAvailability: a pod that is ready but not yet minReadySeconds old becomes available
// by the clock alone, with no event to wake the controller.
func (c *Controllers) requeueForAvailability(rs *appsv1.ReplicaSet) {
	if rs.Spec.MinReadySeconds > 0 && rs.Status.ReadyReplicas == replicasOf(rs.Spec.Replicas) &&
		rs.Status.AvailableReplicas != replicasOf(rs.Spec.Replicas) {
		c.replicaSets.AddAfter(key(rs.Namespace, rs.Name), time.Duration(rs.Spec.MinReadySeconds)*time.Second)
	}
}

func isPodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// claimPods returns the pods rs controls after adopting the orphans its selector matches and
// releasing the pods it owns that the selector no longer matches.
func (c *Controllers) claimPods(ctx context.Context, rs *appsv1.ReplicaSet) ([]*corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("replicaset %s/%s: invalid selector: %w", rs.Namespace, rs.Name, err)
	}
	objs, _, err := c.reg.List(resource.Pods, rs.Namespace, registry.ListOptions{})
	if err != nil {
		return nil, wrap("list pods", err)
	}
	ref := controllerRef(resource.ReplicaSets, &rs.ObjectMeta)
	var owned []*corev1.Pod
	var errList []error
	for _, o := range objs {
		p := o.(*corev1.Pod)
		pod, err := c.claim(ctx, resource.Pods, p, sel, ref, rs.DeletionTimestamp != nil)
		errList = append(errList, err)
		if pod != nil {
			owned = append(owned, pod.(*corev1.Pod))
		}
	}
	return owned, errors.Join(errList...)
}

// claimable is an object a controller can own (a Pod or a ReplicaSet).
type claimable interface {
	runtime.Object
	metav1.Object
}

// claim decides whether obj belongs to the owner ref: it returns obj (possibly just adopted)
// when it does, nil otherwise, releasing it when it no longer matches sel. A controller being
// deleted adopts nothing.
func (c *Controllers) claim(ctx context.Context, info *resource.Info, obj claimable, sel labels.Selector, ref metav1.OwnerReference, deleting bool) (claimable, error) {
	matches := sel.Matches(labels.Set(obj.GetLabels()))
	if cur := metav1.GetControllerOfNoCopy(obj); cur != nil {
		switch {
		case cur.UID != ref.UID:
			return nil, nil
		case matches:
			return obj, nil
		case obj.GetDeletionTimestamp() != nil || deleting:
			return nil, nil
		}
		return nil, c.setOwner(ctx, info, obj, ref, false)
	}
	if !matches || deleting || obj.GetDeletionTimestamp() != nil {
		return nil, nil
	}
	if err := c.setOwner(ctx, info, obj, ref, true); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return obj, nil
}

// setOwner adopts (adds ref) or releases (drops it) obj, based on the version read: a concurrent
// change is a conflict and the sync starts over.
func (c *Controllers) setOwner(ctx context.Context, info *resource.Info, obj claimable, ref metav1.OwnerReference, adopt bool) error {
	rv := obj.GetResourceVersion()
	_, err := c.reg.Update(ctx, info, obj.GetNamespace(), obj.GetName(), "", func(cur runtime.Object) (runtime.Object, error) {
		m := accessor(cur)
		m.SetResourceVersion(rv)
		refs := slices.DeleteFunc(m.GetOwnerReferences(), func(o metav1.OwnerReference) bool { return o.UID == ref.UID })
		if adopt {
			refs = append(refs, ref)
		}
		m.SetOwnerReferences(refs)
		return cur, nil
	}, registry.WriteOptions{})
	if apierrors.IsNotFound(err) && !adopt {
		return nil
	}
	if err == nil && adopt {
		obj.SetOwnerReferences(append(obj.GetOwnerReferences(), ref))
	}
	return wrap(fmt.Sprintf("set owner of %s %s/%s", info.Kind, obj.GetNamespace(), obj.GetName()), err)
}

func controllerRef(info *resource.Info, owner *metav1.ObjectMeta) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{APIVersion: info.GVK().GroupVersion().String(), Kind: info.Kind,
		Name: owner.Name, UID: owner.UID, Controller: &t, BlockOwnerDeletion: &t}
}

// manageReplicas creates or deletes pods so that len(active) reaches spec.replicas.
func (c *Controllers) manageReplicas(ctx context.Context, rs *appsv1.ReplicaSet, active []*corev1.Pod) error {
	diff := len(active) - int(replicasOf(rs.Spec.Replicas))
	switch {
	case diff < 0:
		return c.createPods(ctx, rs, min(-diff, burstReplicas))
	case diff > 0:
		return c.deletePods(ctx, rs, podsToDelete(active, min(diff, burstReplicas), c.now()))
	}
	return nil
}

// createPods creates n pods in batches that double (1, 2, 4…) as upstream's slow start does:
// when the template cannot be admitted, one failed write is spent instead of n.
func (c *Controllers) createPods(ctx context.Context, rs *appsv1.ReplicaSet, n int) error {
	for batch := 1; n > 0; batch *= 2 {
		size := min(batch, n)
		for i := 0; i < size; i++ {
			if err := c.createPod(ctx, rs); err != nil {
				return err
			}
		}
		n -= size
	}
	return nil
}

func (c *Controllers) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod := podFromTemplate(rs)
	out, err := c.reg.Create(ctx, resource.Pods, rs.Namespace, pod, registry.WriteOptions{})
	if err != nil {
		if hasNamespaceTerminatingCause(err) {
			return nil
		}
		c.events.event(replicaSetComponent, resource.ReplicaSets, rs, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return err
	}
	c.events.event(replicaSetComponent, resource.ReplicaSets, rs, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", accessor(out).GetName())
	return nil
}

func hasNamespaceTerminatingCause(err error) bool {
	var se apierrors.APIStatus
	if !errors.As(err, &se) || se.Status().Details == nil {
		return false
	}
	for _, cause := range se.Status().Details.Causes {
		if cause.Type == corev1.NamespaceTerminatingCause {
			return true
		}
	}
	return false
}

// podFromTemplate is a new pod of rs: the template's labels, annotations, finalizers and spec,
// named by the API server from the "<rs>-" prefix, controlled by rs.
func podFromTemplate(rs *appsv1.ReplicaSet) *corev1.Pod {
	t := rs.Spec.Template.DeepCopy()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: rs.Name + "-", Namespace: rs.Namespace,
			Labels: t.Labels, Annotations: t.Annotations, Finalizers: t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{controllerRef(resource.ReplicaSets, &rs.ObjectMeta)},
		},
		Spec: t.Spec,
	}
}

func (c *Controllers) deletePods(ctx context.Context, rs *appsv1.ReplicaSet, pods []*corev1.Pod) error {
	var errList []error
	for _, p := range pods {
		_, _, err := c.reg.Delete(ctx, resource.Pods, p.Namespace, p.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			c.events.event(replicaSetComponent, resource.ReplicaSets, rs, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
			errList = append(errList, err)
			continue
		}
		c.events.event(replicaSetComponent, resource.ReplicaSets, rs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
	}
	return errors.Join(errList...)
}

// calculateReplicaSetStatus counts the active pods; a create or delete failure is reported as
// the ReplicaFailure condition until a sync manages the replicas without one.
func calculateReplicaSetStatus(rs *appsv1.ReplicaSet, active []*corev1.Pod, manageErr error, now time.Time) appsv1.ReplicaSetStatus {
	st := *rs.Status.DeepCopy()
	templateLabels := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	var fully, ready, available int32
	for _, p := range active {
		if templateLabels.Matches(labels.Set(p.Labels)) {
			fully++
		}
		if isPodReady(p) {
			ready++
			if isPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				available++
			}
		}
	}
	failure := replicaSetCondition(&st, appsv1.ReplicaSetReplicaFailure)
	switch {
	case manageErr != nil && failure == nil:
		reason := "FailedCreate"
		if len(active) > int(replicasOf(rs.Spec.Replicas)) {
			reason = "FailedDelete"
		}
		st.Conditions = append(st.Conditions, appsv1.ReplicaSetCondition{Type: appsv1.ReplicaSetReplicaFailure,
			Status: corev1.ConditionTrue, Reason: reason, Message: manageErr.Error(), LastTransitionTime: metav1.NewTime(now)})
	case manageErr == nil && failure != nil:
		st.Conditions = slices.DeleteFunc(st.Conditions, func(c appsv1.ReplicaSetCondition) bool {
			return c.Type == appsv1.ReplicaSetReplicaFailure
		})
	}
	st.Replicas, st.FullyLabeledReplicas, st.ReadyReplicas, st.AvailableReplicas = int32(len(active)), fully, ready, available
	st.ObservedGeneration = rs.Generation
	return st
}

func replicaSetCondition(st *appsv1.ReplicaSetStatus, t appsv1.ReplicaSetConditionType) *appsv1.ReplicaSetCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// updateReplicaSetStatus writes st unless it is what is stored.
func (c *Controllers) updateReplicaSetStatus(ctx context.Context, rs *appsv1.ReplicaSet, st appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	if equality.Semantic.DeepEqual(rs.Status, st) {
		return rs, nil
	}
	out, err := c.reg.Update(ctx, resource.ReplicaSets, rs.Namespace, rs.Name, "status", func(cur runtime.Object) (runtime.Object, error) {
		cur.(*appsv1.ReplicaSet).Status = st
		return cur, nil
	}, registry.WriteOptions{})
	if err != nil {
		return nil, wrap(fmt.Sprintf("update status of replicaset %s/%s", rs.Namespace, rs.Name), err)
	}
	return out.(*appsv1.ReplicaSet), nil
}
