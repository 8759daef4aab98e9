package registry

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podnet/podnet/api/resource"
)

// Finalizers the garbage collector acts on (metav1.FinalizerOrphanDependents, FinalizerDeleteDependents).
const (
	finalizerOrphan     = metav1.FinalizerOrphanDependents
	finalizerForeground = metav1.FinalizerDeleteDependents
)

// Delete deletes an object as kube-apiserver does: preconditions first; a Namespace, or an object
// with finalizers (including those the propagation policy adds), only gets a deletionTimestamp and
// goes once its finalizers are done; anything else goes at once. gone says which happened.
func (r *Registry) Delete(ctx context.Context, info *resource.Info, ns, name string, opts metav1.DeleteOptions) (obj runtime.Object, gone bool, err error) {
	cur, err := r.store.Get(info, ns, name)
	if err != nil {
		return nil, false, err
	}
	if err := checkPreconditions(info, cur, opts.Preconditions); err != nil {
		return nil, false, err
	}
	if len(opts.DryRun) > 0 {
		return cur, true, nil
	}
	add := propagationFinalizer(opts)
	m := accessor(cur)
	if info == resource.Namespaces || len(m.GetFinalizers()) > 0 || add != "" {
		out, err := r.markDeleting(info, cur, add, opts.Preconditions)
		return out, false, err
	}
	out, err := r.remove(info, cur)
	return out, err == nil, err
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

// markDeleting sets deletionTimestamp (once) and adds finalizer add; a Namespace also turns
// Terminating. The controllers in this package finish the job.
func (r *Registry) markDeleting(info *resource.Info, cur runtime.Object, add string, pre *metav1.Preconditions) (runtime.Object, error) {
	m := accessor(cur)
	var out runtime.Object
	_, err := r.store.Update(info, m.GetNamespace(), m.GetName(), func(obj runtime.Object) (runtime.Object, error) {
		if err := checkPreconditions(info, obj, pre); err != nil {
			return nil, err
		}
		om := accessor(obj)
		if om.GetDeletionTimestamp() == nil {
			now := metav1.NewTime(r.now())
			om.SetDeletionTimestamp(&now)
			var zero int64
			om.SetDeletionGracePeriodSeconds(&zero)
		}
		if add != "" && !slices.Contains(om.GetFinalizers(), add) {
			om.SetFinalizers(append(om.GetFinalizers(), add))
		}
		if n, ok := obj.(*corev1.Namespace); ok {
			n.Status.Phase = corev1.NamespaceTerminating
		}
		out = obj
		return obj, nil
	})
	return out, err
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
