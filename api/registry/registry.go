package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podnet/podnet/api/defaults"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/api/validation"
)

// Txn is the resource-specific work of one write (such as reserved IPs): committed when the
// store write succeeded, rolled back when it did not.
type Txn interface {
	Commit()
	Rollback()
}

// Hook adds resource-specific admission to writes. PrepareUpdate runs before defaulting and
// validation (to carry over what the server filled in and the client left out); the Admit
// methods run after validation, may change obj and return the work to commit or roll back.
// Errors are returned to the client as they are.
type Hook interface {
	PrepareUpdate(obj, old runtime.Object)
	AdmitCreate(obj runtime.Object) (Txn, error)
	AdmitUpdate(obj, old runtime.Object) (Txn, error)
	AdmitDelete(old runtime.Object) (Txn, error)
}

// Config wires a Registry.
type Config struct {
	Store *store.Store
	// Hooks by resource (e.g. services → the allocator).
	Hooks  map[schema.GroupVersionResource]Hook
	Logger *slog.Logger
	// Now is the clock (tests pin it); defaults to time.Now.
	Now func() time.Time
}

// Registry applies Kubernetes' semantics to reads and writes of the store.
type Registry struct {
	store *store.Store
	hooks map[schema.GroupVersionResource]Hook
	log   *slog.Logger
	now   func() time.Time
}

// New makes a Registry.
func New(cfg Config) *Registry {
	r := &Registry{store: cfg.Store, hooks: cfg.Hooks, log: cfg.Logger, now: cfg.Now}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r
}

// Store is the underlying store (for watches).
func (r *Registry) Store() *store.Store { return r.store }

// ListOptions select objects.
type ListOptions struct {
	Labels labels.Selector
	Fields fields.Selector
}

// Matches reports whether obj of resource info is selected.
func (o ListOptions) Matches(info *resource.Info, obj runtime.Object) bool {
	if o.Labels != nil && !o.Labels.Empty() {
		m, err := meta.Accessor(obj)
		if err != nil || !o.Labels.Matches(labels.Set(m.GetLabels())) {
			return false
		}
	}
	if o.Fields != nil && !o.Fields.Empty() && !o.Fields.Matches(info.FieldSet(obj)) {
		return false
	}
	return true
}

// Get returns one object.
func (r *Registry) Get(info *resource.Info, ns, name string) (runtime.Object, error) {
	return r.store.Get(info, ns, name)
}

// List returns the selected objects and the resourceVersion of the list.
func (r *Registry) List(info *resource.Info, ns string, opts ListOptions) ([]runtime.Object, uint64, error) {
	return r.store.List(info, ns, func(obj runtime.Object) bool { return opts.Matches(info, obj) })
}

// WriteOptions are the query options of create, update and patch.
type WriteOptions struct {
	DryRun bool
}

func accessor(obj runtime.Object) metav1.Object {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(fmt.Sprintf("registry: %T has no metadata: %v", obj, err))
	}
	return m
}

func setTypeMeta(info *resource.Info, obj runtime.Object) {
	obj.GetObjectKind().SetGroupVersionKind(info.GVK())
}

func invalid(info *resource.Info, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(schema.GroupKind{Group: info.GVR.Group, Kind: info.Kind}, name, errs)
}

// Create admits and stores a new object in namespace ns.
func (r *Registry) Create(ctx context.Context, info *resource.Info, ns string, obj runtime.Object, opts WriteOptions) (runtime.Object, error) {
	m := accessor(obj)
	if err := r.prepareCreate(info, ns, obj, m); err != nil {
		return nil, err
	}
	if info.Namespaced {
		if err := r.checkNamespaceOpen(info, ns, m.GetName()); err != nil {
			return nil, err
		}
	}
	var txn Txn
	if h := r.hooks[info.GVR]; h != nil {
		var err error
		if txn, err = h.AdmitCreate(obj); err != nil {
			return nil, err
		}
	}
	// Validation follows allocation, as upstream: a Service's clusterIPs must be filled by then.
	if errs := validation.ValidateCreate(obj); len(errs) > 0 {
		finish(txn, false)
		return nil, invalid(info, m.GetName(), errs)
	}
	if opts.DryRun {
		finish(txn, false)
		return obj, nil
	}
	out, err := r.store.Create(info, obj)
	finish(txn, err == nil)
	return out, err
}

func finish(txn Txn, ok bool) {
	if txn == nil {
		return
	}
	if ok {
		txn.Commit()
	} else {
		txn.Rollback()
	}
}

func (r *Registry) prepareCreate(info *resource.Info, ns string, obj runtime.Object, m metav1.Object) error {
	setTypeMeta(info, obj)
	if m.GetResourceVersion() != "" {
		return apierrors.NewBadRequest("resourceVersion should not be set on objects to be created")
	}
	if info.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(ns)
		} else if m.GetNamespace() != ns {
			return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(generateName(m.GetGenerateName()))
	}
	if m.GetName() == "" {
		return invalid(info, "", field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	prepareForCreate(info, obj)
	normalize(obj)
	// Defaults come before the server's metadata: the Namespace default finalizer is only added
	// to objects that have no creationTimestamp yet.
	defaults.Default(obj)
	m.SetUID(newUID())
	m.SetCreationTimestamp(metav1.NewTime(r.now().Truncate(time.Second)))
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetSelfLink("")
	m.SetManagedFields(nil)
	if usesGeneration(info) {
		m.SetGeneration(1)
	}
	return nil
}

// checkNamespaceOpen refuses new objects in a namespace that is missing or terminating.
func (r *Registry) checkNamespaceOpen(info *resource.Info, ns, name string) error {
	obj, err := r.store.Get(resource.Namespaces, "", ns)
	if err != nil {
		return err
	}
	if n := obj.(*corev1.Namespace); n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating {
		se := apierrors.NewForbidden(info.GroupResource(), name,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
		se.ErrStatus.Details.Causes = append(se.ErrStatus.Details.Causes, metav1.StatusCause{
			Type: corev1.NamespaceTerminatingCause, Message: fmt.Sprintf("namespace %s is being terminated", ns),
			Field: "metadata.namespace"})
		return se
	}
	return nil
}

// MutateFunc turns the current object into the one the client wants stored.
type MutateFunc func(cur runtime.Object) (runtime.Object, error)

// Update replaces the object (or its status, with subresource "status") with what mutate makes
// of the current one. A resourceVersion set in the result must match the stored one. A result
// equal to what is stored writes nothing.
func (r *Registry) Update(ctx context.Context, info *resource.Info, ns, name, subresource string, mutate MutateFunc, opts WriteOptions) (runtime.Object, error) {
	var txn Txn
	out, err := r.store.Update(info, ns, name, func(cur runtime.Object) (runtime.Object, error) {
		old := cur.DeepCopyObject()
		next, err := mutate(cur)
		if err != nil {
			return nil, err
		}
		if next, txn, err = r.admitUpdate(info, ns, name, subresource, next, old); err != nil {
			return nil, err
		}
		if finalized(next) {
			// The last finalizer of an object being deleted is gone: it goes now, in this same
			// transaction, releasing what it held instead of what the update reserved.
			finish(txn, false)
			txn = nil
			if opts.DryRun {
				return nil, errDryRun{next}
			}
			if txn, err = r.admitDelete(info, old); err != nil {
				return nil, err
			}
			return next, store.ErrDelete
		}
		if same(next, old) {
			finish(txn, false)
			txn = nil
			return nil, store.ErrNoChange
		}
		if opts.DryRun {
			return nil, errDryRun{next}
		}
		return next, nil
	})
	if dr, ok := err.(errDryRun); ok {
		finish(txn, false)
		return dr.obj, nil
	}
	finish(txn, err == nil)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// finalized: an object being deleted whose finalizers are all done (a Namespace also waits for
// its spec.finalizers, the namespace controller's).
// finalized: an update leaves an object being deleted without finalizers, so it goes now. A
// pod in its grace period (deletionGracePeriodSeconds > 0) is not: it is the kubelet's to
// delete with grace 0 once its containers stopped, and its status writes until then must not
// remove it (kube-apiserver's ShouldDeleteDuringUpdate).
func finalized(obj runtime.Object) bool {
	m := accessor(obj)
	if g := m.GetDeletionGracePeriodSeconds(); g != nil && *g > 0 {
		return false
	}
	return m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 && !namespaceFinalizing(obj)
}

func (r *Registry) admitDelete(info *resource.Info, old runtime.Object) (Txn, error) {
	if h := r.hooks[info.GVR]; h != nil {
		return h.AdmitDelete(old)
	}
	return nil, nil
}

type errDryRun struct{ obj runtime.Object }

func (errDryRun) Error() string { return "dry run" }

// same reports whether two versions of an object are equal but for resourceVersion.
func same(a, b runtime.Object) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// admitUpdate turns what the client sent into the object to store, and reserves what it needs
// (the returned Txn, which the caller finishes).
func (r *Registry) admitUpdate(info *resource.Info, ns, name, subresource string, next, old runtime.Object) (runtime.Object, Txn, error) {
	setTypeMeta(info, next)
	m, om := accessor(next), accessor(old)
	if m.GetName() == "" {
		m.SetName(name)
	}
	if m.GetName() != name {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), name))
	}
	if info.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(ns)
		} else if m.GetNamespace() != ns {
			return nil, nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	}
	if rv := m.GetResourceVersion(); rv != "" && rv != om.GetResourceVersion() {
		return nil, nil, Conflict(info, name)
	}
	m.SetResourceVersion(om.GetResourceVersion())
	// Fields the server owns.
	m.SetUID(om.GetUID())
	m.SetCreationTimestamp(om.GetCreationTimestamp())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	m.SetSelfLink("")
	m.SetManagedFields(om.GetManagedFields())
	var err error
	switch {
	case subresource == "status":
		if next, err = keepAllButStatus(info, next, old); err != nil {
			return nil, nil, err
		}
	case info.HasStatus():
		if next, err = keepStatus(info, next, old); err != nil {
			return nil, nil, err
		}
	}
	if om.GetDeletionTimestamp() != nil && len(newFinalizers(accessor(next).GetFinalizers(), om.GetFinalizers())) > 0 {
		return nil, nil, invalid(info, name, field.ErrorList{field.Forbidden(field.NewPath("metadata", "finalizers"),
			"no new finalizers can be added if the object is being deleted")})
	}
	if h := r.hooks[info.GVR]; h != nil && subresource != "status" {
		h.PrepareUpdate(next, old)
	}
	normalize(next)
	defaults.Default(next)
	// After defaulting: a spec sent without the server's defaults is not a changed spec.
	if subresource != "status" && usesGeneration(info) {
		bumpGeneration(next, old)
	}
	var txn Txn
	if h := r.hooks[info.GVR]; h != nil {
		var err error
		if txn, err = h.AdmitUpdate(next, old); err != nil {
			return nil, nil, err
		}
	}
	var errs field.ErrorList
	if subresource == "status" {
		errs = validation.ValidateStatusUpdate(next, old)
	} else {
		errs = validation.ValidateUpdate(next, old)
	}
	if len(errs) > 0 {
		finish(txn, false)
		return nil, nil, invalid(info, name, errs)
	}
	return next, txn, nil
}

func newFinalizers(next, old []string) []string {
	had := map[string]bool{}
	for _, f := range old {
		had[f] = true
	}
	var added []string
	for _, f := range next {
		if !had[f] {
			added = append(added, f)
		}
	}
	return added
}

// Conflict is the 409 for a write based on a stale resourceVersion.
func Conflict(info *resource.Info, name string) error {
	return apierrors.NewConflict(info.GroupResource(), name,
		fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
}

// namespaceFinalizing: a Namespace with spec.finalizers left.
func namespaceFinalizing(obj runtime.Object) bool {
	n, ok := obj.(*corev1.Namespace)
	return ok && len(n.Spec.Finalizers) > 0
}
