package registry

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
)

// Finalizers the garbage collector acts on (metav1.FinalizerOrphanDependents, FinalizerDeleteDependents).
const (
	finalizerOrphan     = metav1.FinalizerOrphanDependents
	finalizerForeground = metav1.FinalizerDeleteDependents
)

// protectedNamespaces cannot be deleted, as in kube-apiserver.
var protectedNamespaces = map[string]bool{"default": true, "kube-system": true, "kube-public": true}

// Delete deletes an object as kube-apiserver does: preconditions first; a Namespace, or an object
// with finalizers (including the one the propagation policy adds), only gets a deletionTimestamp
// and goes once its finalizers are done; anything else goes at once. gone says which happened.
// The decision and the write are one transaction, so a finalizer or a change that lands
// meanwhile is never overlooked.
func (r *Registry) Delete(ctx context.Context, info *resource.Info, ns, name string, opts metav1.DeleteOptions) (obj runtime.Object, gone bool, err error) {
	if info == resource.Namespaces && protectedNamespaces[name] {
		return nil, false, apierrors.NewForbidden(info.GroupResource(), name, fmt.Errorf("this namespace may not be deleted"))
	}
	dryRun, err := deleteDryRun(opts.DryRun)
	if err != nil {
		return nil, false, err
	}
	add := propagationFinalizer(opts)
	var txn Txn
	out, err := r.store.Update(info, ns, name, func(cur runtime.Object) (runtime.Object, error) {
		if err := checkPreconditions(info, cur, opts.Preconditions); err != nil {
			return nil, err
		}
		m := accessor(cur)
		if pod, ok := cur.(*corev1.Pod); ok {
			if grace := podGracePeriod(pod, opts); grace > 0 {
				gone = false
				return r.markPodTerminating(pod, grace, add, dryRun)
			}
		}
		if info == resource.Namespaces || len(m.GetFinalizers()) > 0 || add != "" {
			gone = false
			return r.markDeleting(info, cur, add, dryRun)
		}
		gone = true
		if dryRun {
			return nil, errDryRun{cur}
		}
		var err error
		if txn, err = r.admitDelete(info, cur); err != nil {
			return nil, err
		}
		return cur, store.ErrDelete
	})
	if dr, ok := err.(errDryRun); ok {
		return dr.obj, gone, nil
	}
	finish(txn, err == nil)
	if err != nil {
		return nil, false, err
	}
	return out, gone, nil
}

func deleteDryRun(values []string) (bool, error) {
	switch {
	case len(values) == 0:
		return false, nil
	case len(values) == 1 && values[0] == metav1.DryRunAll:
		return true, nil
	}
	return false, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %v", values))
}

func propagationFinalizer(opts metav1.DeleteOptions) string {
	policy := opts.PropagationPolicy
	//lint:ignore SA1019 deprecated but still part of the API: older clients send it.
	if policy == nil && opts.OrphanDependents != nil && *opts.OrphanDependents {
		p := metav1.DeletePropagationOrphan
		policy = &p
	}
	if policy == nil {
		return ""
	}
	switch *policy {
	case metav1.DeletePropagationOrphan:
		return finalizerOrphan
	case metav1.DeletePropagationForeground:
		return finalizerForeground
	}
	return ""
}

func checkPreconditions(info *resource.Info, cur runtime.Object, pre *metav1.Preconditions) error {
	if pre == nil {
		return nil
	}
	m := accessor(cur)
	// kube-apiserver names the kind, not the resource, in these two messages.
	gk := schema.GroupResource{Group: info.GVR.Group, Resource: info.Kind}
	if pre.UID != nil && *pre.UID != m.GetUID() {
		return apierrors.NewConflict(gk, m.GetName(), fmt.Errorf(
			"the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated",
			*pre.UID, m.GetUID()))
	}
	if pre.ResourceVersion != nil && *pre.ResourceVersion != m.GetResourceVersion() {
		return apierrors.NewConflict(gk, m.GetName(), fmt.Errorf(
			"the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified",
			*pre.ResourceVersion, m.GetResourceVersion()))
	}
	return nil
}

// defaultPodGracePeriod is what a pod gets when neither the request nor its spec says
// (corev1.DefaultTerminationGracePeriodSeconds).
const defaultPodGracePeriod = corev1.DefaultTerminationGracePeriodSeconds

// podGracePeriod is the grace period a pod deletion gets, as kube-apiserver's pod strategy decides:
// the request's, else the pod's terminationGracePeriodSeconds; 0 (delete at once) for a pod no
// kubelet runs: unscheduled or already finished.
func podGracePeriod(pod *corev1.Pod, opts metav1.DeleteOptions) int64 {
	grace := int64(defaultPodGracePeriod)
	if s := pod.Spec.TerminationGracePeriodSeconds; s != nil {
		grace = *s
	}
	if opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	if grace < 0 {
		return 0
	}
	return grace
}

// markPodTerminating starts a graceful pod deletion: deletionTimestamp is when the grace period
// ends, and the kubelet deletes the pod for good (grace 0) once its containers are gone. A second
// delete may shorten the period, never lengthen it.
func (r *Registry) markPodTerminating(pod *corev1.Pod, grace int64, add string, dryRun bool) (runtime.Object, error) {
	changed := false
	deadline := metav1.NewTime(r.now().Add(time.Duration(grace) * time.Second))
	cur := pod.DeletionGracePeriodSeconds
	if pod.DeletionTimestamp == nil || cur == nil || grace < *cur {
		if pod.DeletionTimestamp == nil || deadline.Before(pod.DeletionTimestamp) {
			pod.DeletionTimestamp = &deadline
		}
		pod.DeletionGracePeriodSeconds = &grace
		changed = true
	}
	if add != "" && !slices.Contains(pod.Finalizers, add) {
		pod.Finalizers = append(pod.Finalizers, add)
		changed = true
	}
	switch {
	case !changed:
		return nil, store.ErrNoChange
	case dryRun:
		return nil, errDryRun{pod}
	}
	return pod, nil
}

// markDeleting sets deletionTimestamp (once) and adds finalizer add; a Namespace also turns
// Terminating. The controllers in this package finish the job. Deleting again what is already
// being deleted writes nothing; for a Namespace it is a conflict, as upstream.
func (r *Registry) markDeleting(info *resource.Info, obj runtime.Object, add string, dryRun bool) (runtime.Object, error) {
	om := accessor(obj)
	changed := false
	var zero int64
	if om.GetDeletionTimestamp() == nil {
		now := metav1.NewTime(r.now())
		om.SetDeletionTimestamp(&now)
		om.SetDeletionGracePeriodSeconds(&zero)
		changed = true
	} else if g := om.GetDeletionGracePeriodSeconds(); g != nil && *g > 0 {
		// A pod in its grace period deleted at once (the kubelet's grace-0 delete) while
		// finalizers hold it: it goes when the last one does.
		om.SetDeletionGracePeriodSeconds(&zero)
		changed = true
	} else if info == resource.Namespaces {
		return nil, apierrors.NewConflict(info.GroupResource(), om.GetName(), fmt.Errorf(
			"The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system."))
	}
	if add != "" && !slices.Contains(om.GetFinalizers(), add) {
		om.SetFinalizers(append(om.GetFinalizers(), add))
		changed = true
	}
	if n, ok := obj.(*corev1.Namespace); ok {
		n.Status.Phase = corev1.NamespaceTerminating
	}
	switch {
	case !changed:
		return nil, store.ErrNoChange
	case dryRun:
		return nil, errDryRun{obj}
	}
	return obj, nil
}

// Finalize removes finalizer f from an object; the object goes when it was the last one on an
// object being deleted.
func (r *Registry) Finalize(ctx context.Context, info *resource.Info, ns, name, f string) error {
	_, err := r.Update(ctx, info, ns, name, "", func(cur runtime.Object) (runtime.Object, error) {
		m := accessor(cur)
		m.SetFinalizers(slices.DeleteFunc(m.GetFinalizers(), func(s string) bool { return s == f }))
		return cur, nil
	}, WriteOptions{})
	return err
}
