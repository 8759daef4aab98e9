package registry

import (
	"context"
	"errors"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
)

// RunControllers runs the namespace lifecycle controller and the garbage collector until ctx
// ends. Both work from a full pass over the store, started by any change and at least every
// resync; a pass that fails is retried on the next one. Passes are cheap next to the writes that
// start them, and a single pass cannot miss what an event-by-event controller could.
func (r *Registry) RunControllers(ctx context.Context, resync time.Duration) {
	kick := make(chan struct{}, 1)
	go r.watchAll(ctx, kick)
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		if err := r.sweep(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("controller pass failed; will retry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
			// Let a burst of writes (a namespace's contents going) settle into one pass.
			time.Sleep(50 * time.Millisecond)
		case <-t.C:
		}
	}
}

// watchAll turns every deletion or deletionTimestamp into a kick.
func (r *Registry) watchAll(ctx context.Context, kick chan<- struct{}) {
	for ctx.Err() == nil {
		w, err := r.store.Watch(nil, "", r.store.ResourceVersion())
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		r.forwardKicks(ctx, w, kick)
		w.Stop()
	}
}

func (r *Registry) forwardKicks(ctx context.Context, w *store.Watcher, kick chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Events():
			if !ok {
				return
			}
			if e.Type == "DELETED" || accessor(e.Object).GetDeletionTimestamp() != nil {
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		}
	}
}

// sweep is one pass of both controllers.
func (r *Registry) sweep(ctx context.Context) error {
	return errors.Join(r.finishNamespaces(ctx), r.collectGarbage(ctx))
}

// finishNamespaces empties terminating namespaces and removes them once empty.
func (r *Registry) finishNamespaces(ctx context.Context) error {
	nss, _, err := r.store.List(resource.Namespaces, "", func(o runtime.Object) bool {
		return accessor(o).GetDeletionTimestamp() != nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range nss {
		errs = append(errs, r.finishNamespace(ctx, o.(*corev1.Namespace)))
	}
	return errors.Join(errs...)
}

func (r *Registry) finishNamespace(ctx context.Context, ns *corev1.Namespace) error {
	left := 0
	background := metav1.DeletePropagationBackground
	for _, info := range resource.All() {
		if !info.Namespaced {
			continue
		}
		objs, _, err := r.store.List(info, ns.Name, nil)
		if err != nil {
			return err
		}
		for _, o := range objs {
			left++
			m := accessor(o)
			if m.GetDeletionTimestamp() != nil {
				continue // waiting for its own finalizers
			}
			_, _, err := r.Delete(ctx, info, ns.Name, m.GetName(), metav1.DeleteOptions{PropagationPolicy: &background})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	if left > 0 {
		return nil // the deletions above kick the next pass
	}
	_, err := r.Update(ctx, resource.Namespaces, "", ns.Name, "", func(cur runtime.Object) (runtime.Object, error) {
		n := cur.(*corev1.Namespace)
		n.Spec.Finalizers = nil
		return n, nil
	}, WriteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

type objRef struct {
	info *resource.Info
	obj  runtime.Object
}

// collectGarbage deletes dependents whose owners are all gone, and completes the orphan and
// foreground finalizers of owners being deleted.
func (r *Registry) collectGarbage(ctx context.Context) error {
	live := map[types.UID]objRef{}
	var all []objRef
	for _, info := range resource.All() {
		objs, _, err := r.store.List(info, "", nil)
		if err != nil {
			return err
		}
		for _, o := range objs {
			ref := objRef{info, o}
			live[accessor(o).GetUID()] = ref
			all = append(all, ref)
		}
	}
	dependents := map[types.UID][]objRef{}
	var errs []error
	for _, d := range all {
		m := accessor(d.obj)
		refs := m.GetOwnerReferences()
		if len(refs) == 0 {
			continue
		}
		alive := false
		for _, ref := range refs {
			if _, ok := live[ref.UID]; ok {
				alive = true
				dependents[ref.UID] = append(dependents[ref.UID], d)
			}
		}
		if !alive && m.GetDeletionTimestamp() == nil {
			_, _, err := r.Delete(ctx, d.info, m.GetNamespace(), m.GetName(), metav1.DeleteOptions{
				Preconditions: &metav1.Preconditions{UID: ptr(m.GetUID())}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				errs = append(errs, err)
			}
		}
	}
	for _, o := range all {
		m := accessor(o.obj)
		if m.GetDeletionTimestamp() == nil {
			continue
		}
		fins := m.GetFinalizers()
		if slices.Contains(fins, finalizerOrphan) {
			errs = append(errs, r.orphan(ctx, o, dependents[m.GetUID()]))
		}
		if slices.Contains(fins, finalizerForeground) {
			errs = append(errs, r.foreground(ctx, o, dependents[m.GetUID()]))
		}
	}
	return errors.Join(errs...)
}

func ptr[T any](v T) *T { return &v }

// orphan drops the owner's references from its dependents, then its orphan finalizer.
func (r *Registry) orphan(ctx context.Context, owner objRef, deps []objRef) error {
	uid := accessor(owner.obj).GetUID()
	for _, d := range deps {
		m := accessor(d.obj)
		_, err := r.Update(ctx, d.info, m.GetNamespace(), m.GetName(), "", func(cur runtime.Object) (runtime.Object, error) {
			cm := accessor(cur)
			cm.SetOwnerReferences(slices.DeleteFunc(cm.GetOwnerReferences(), func(ref metav1.OwnerReference) bool { return ref.UID == uid }))
			return cur, nil
		}, WriteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	om := accessor(owner.obj)
	return ignoreNotFound(r.Finalize(ctx, owner.info, om.GetNamespace(), om.GetName(), finalizerOrphan))
}

// foreground deletes the owner's dependents (foreground too), and drops its finalizer once none
// is left.
func (r *Registry) foreground(ctx context.Context, owner objRef, deps []objRef) error {
	fg := metav1.DeletePropagationForeground
	for _, d := range deps {
		m := accessor(d.obj)
		if m.GetDeletionTimestamp() != nil {
			continue
		}
		_, _, err := r.Delete(ctx, d.info, m.GetNamespace(), m.GetName(), metav1.DeleteOptions{PropagationPolicy: &fg})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if len(deps) > 0 {
		return nil
	}
	om := accessor(owner.obj)
	return ignoreNotFound(r.Finalize(ctx, owner.info, om.GetNamespace(), om.GetName(), finalizerForeground))
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
