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
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
)

// RunControllers runs the namespace lifecycle controller and the garbage collector until ctx
// ends. Both work from one pass over the objects' metadata, run at start (to finish what a crash
// interrupted), after any deletion, and every resync for as long as a pass leaves work waiting
// (a namespace still emptying, a finalizer still pending, a failure to retry). A single pass
// over the truth cannot miss what an event-by-event controller could.
func (r *Registry) RunControllers(ctx context.Context, resync time.Duration) {
	kick := make(chan struct{}, 1)
	go r.watchDeletions(ctx, kick)
	t := time.NewTicker(resync)
	defer t.Stop()
	pending := true
	for {
		if pending {
			var err error
			pending, err = r.sweep(ctx)
			if err != nil && ctx.Err() == nil {
				pending = true
				r.log.Warn("controller pass failed; will retry", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
			// Let a burst of writes (a namespace's contents going) settle into one pass.
			time.Sleep(50 * time.Millisecond)
			pending = true
		case <-t.C:
		}
	}
}

// watchDeletions turns every deletion or new deletionTimestamp into a kick.
func (r *Registry) watchDeletions(ctx context.Context, kick chan<- struct{}) {
	for ctx.Err() == nil {
		w, err := r.store.Watch(nil, "", r.store.ResourceVersion())
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		// Deletions between the last watcher's end and this one's start were not seen: a pass
		// looks at everything anyway.
		select {
		case kick <- struct{}{}:
		default:
		}
		forwardKicks(ctx, w, kick)
		w.Stop()
	}
}

func forwardKicks(ctx context.Context, w *store.Watcher, kick chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Events():
			if !ok {
				return
			}
			if e.Type == watch.Deleted || accessor(e.Object).GetDeletionTimestamp() != nil {
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		}
	}
}

// ref is an object known by its metadata.
type ref struct {
	info *resource.Info
	meta store.Meta
}

// sweep is one pass of both controllers; pending says whether work is left waiting.
func (r *Registry) sweep(ctx context.Context) (pending bool, err error) {
	nsPending, nsErr := r.finishNamespaces(ctx)
	gcPending, gcErr := r.collectGarbage(ctx)
	return nsPending || gcPending, errors.Join(nsErr, gcErr)
}

// finishNamespaces empties terminating namespaces and removes them once empty.
func (r *Registry) finishNamespaces(ctx context.Context) (pending bool, err error) {
	nss, err := r.store.ListMeta(resource.Namespaces, "")
	if err != nil {
		return false, err
	}
	var errs []error
	for _, ns := range nss {
		if ns.DeletionTimestamp == nil {
			continue
		}
		pending = true
		errs = append(errs, r.finishNamespace(ctx, ns.Name))
	}
	return pending, errors.Join(errs...)
}

func (r *Registry) finishNamespace(ctx context.Context, ns string) error {
	left := 0
	background := metav1.DeletePropagationBackground
	for _, info := range resource.All() {
		if !info.Namespaced {
			continue
		}
		metas, err := r.store.ListMeta(info, ns)
		if err != nil {
			return err
		}
		for _, m := range metas {
			left++
			if m.DeletionTimestamp != nil {
				continue // waiting for its own finalizers
			}
			_, _, err := r.Delete(ctx, info, ns, m.Name, metav1.DeleteOptions{PropagationPolicy: &background})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	if left > 0 {
		return nil // the deletions above start the next pass
	}
	_, err := r.Update(ctx, resource.Namespaces, "", ns, "", func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.Namespace).Spec.Finalizers = nil
		return cur, nil
	}, WriteOptions{})
	return ignoreNotFound(err)
}

// collectGarbage deletes dependents whose owners are all gone, and completes the orphan and
// foreground finalizers of owners being deleted.
func (r *Registry) collectGarbage(ctx context.Context) (pending bool, err error) {
	live := map[types.UID]bool{}
	var all []ref
	for _, info := range resource.All() {
		metas, err := r.store.ListMeta(info, "")
		if err != nil {
			return false, err
		}
		for _, m := range metas {
			live[m.UID] = true
			if len(m.OwnerReferences) > 0 || m.DeletionTimestamp != nil {
				all = append(all, ref{info, m})
			}
		}
	}
	dependents := map[types.UID][]ref{}
	var errs []error
	for _, d := range all {
		if len(d.meta.OwnerReferences) == 0 {
			continue
		}
		alive := false
		for _, o := range d.meta.OwnerReferences {
			if live[o.UID] {
				alive = true
				dependents[o.UID] = append(dependents[o.UID], d)
			}
		}
		if !alive && d.meta.DeletionTimestamp == nil && r.ownersGone(d) {
			_, _, err := r.Delete(ctx, d.info, d.meta.Namespace, d.meta.Name, metav1.DeleteOptions{
				Preconditions: &metav1.Preconditions{UID: ptr(d.meta.UID)}})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				errs = append(errs, err)
			}
		}
	}
	for _, o := range all {
		if o.meta.DeletionTimestamp == nil {
			continue
		}
		if len(o.meta.Finalizers) == 0 && o.info != resource.Namespaces && !gracefulPod(o) {
			// Finalized but still stored: only data from before deletions were one transaction.
			errs = append(errs, r.purge(ctx, o))
			continue
		}
		if slices.Contains(o.meta.Finalizers, finalizerOrphan) {
			pending = true
			errs = append(errs, r.orphan(ctx, o, dependents[o.meta.UID]))
		}
		if slices.Contains(o.meta.Finalizers, finalizerForeground) {
			pending = true
			errs = append(errs, r.foreground(ctx, o, dependents[o.meta.UID]))
		}
	}
	return pending, errors.Join(errs...)
}

func ptr[T any](v T) *T { return &v }

// gracefulPod: a pod in its grace period is the kubelet's to delete once its containers stop.
func gracefulPod(o ref) bool {
	g := o.meta.DeletionGracePeriodSeconds
	return o.info == resource.Pods && g != nil && *g > 0
}

// ownersGone confirms with fresh reads that none of d's owners exists: the pass's list of live
// objects was read resource by resource, so an owner created during it may be missing from it.
func (r *Registry) ownersGone(d ref) bool {
	for _, o := range d.meta.OwnerReferences {
		gv, err := schema.ParseGroupVersion(o.APIVersion)
		if err != nil {
			continue
		}
		info, ok := resource.ForKind(schema.GroupKind{Group: gv.Group, Kind: o.Kind})
		if !ok {
			continue // a kind podnet does not serve cannot exist here
		}
		ns := d.meta.Namespace
		if !info.Namespaced {
			ns = ""
		}
		obj, err := r.store.Get(info, ns, o.Name)
		if err == nil && accessor(obj).GetUID() == o.UID || err != nil && !apierrors.IsNotFound(err) {
			return false
		}
	}
	return true
}

// purge removes an object whose deletion is complete.
func (r *Registry) purge(ctx context.Context, o ref) error {
	_, err := r.Update(ctx, o.info, o.meta.Namespace, o.meta.Name, "", func(cur runtime.Object) (runtime.Object, error) {
		return cur, nil
	}, WriteOptions{})
	return ignoreNotFound(err)
}

// orphan drops the owner's references from its dependents, then its orphan finalizer.
func (r *Registry) orphan(ctx context.Context, owner ref, deps []ref) error {
	uid := owner.meta.UID
	for _, d := range deps {
		_, err := r.Update(ctx, d.info, d.meta.Namespace, d.meta.Name, "", func(cur runtime.Object) (runtime.Object, error) {
			cm := accessor(cur)
			cm.SetOwnerReferences(slices.DeleteFunc(cm.GetOwnerReferences(), func(o metav1.OwnerReference) bool { return o.UID == uid }))
			return cur, nil
		}, WriteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return ignoreNotFound(r.Finalize(ctx, owner.info, owner.meta.Namespace, owner.meta.Name, finalizerOrphan))
}

// foreground deletes the owner's dependents (foreground too), and drops its finalizer once none
// is left.
func (r *Registry) foreground(ctx context.Context, owner ref, deps []ref) error {
	fg := metav1.DeletePropagationForeground
	for _, d := range deps {
		if d.meta.DeletionTimestamp != nil {
			continue
		}
		_, _, err := r.Delete(ctx, d.info, d.meta.Namespace, d.meta.Name, metav1.DeleteOptions{PropagationPolicy: &fg})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if len(deps) > 0 {
		return nil
	}
	return ignoreNotFound(r.Finalize(ctx, owner.info, owner.meta.Namespace, owner.meta.Name, finalizerForeground))
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
