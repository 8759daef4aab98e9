package allocator

import (
	"errors"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podnet/podnet/api/registry"
)

// Admission plugs the Allocator into the registry's writes of Services, as kube-apiserver
// allocates at admission: requests at fault become 422 Invalid, anything else a 500.
type Admission struct{ A *Allocator }

var _ registry.Hook = Admission{}

var serviceKind = schema.GroupKind{Kind: "Service"}

func asAPIError(svc *corev1.Service, err error) error {
	var inv *InvalidError
	if errors.As(err, &inv) {
		return apierrors.NewInvalid(serviceKind, svc.Name, inv.Errors)
	}
	return apierrors.NewInternalError(err)
}

// PrepareUpdate carries allocated values over to an update that left them out.
func (h Admission) PrepareUpdate(obj, old runtime.Object) {
	PrepareUpdate(obj.(*corev1.Service), old.(*corev1.Service))
}

// AdmitCreate allocates for a new Service.
func (h Admission) AdmitCreate(obj runtime.Object) (registry.Txn, error) {
	svc := obj.(*corev1.Service)
	txn, err := h.A.Create(svc)
	if err != nil {
		return nil, asAPIError(svc, err)
	}
	return txn, nil
}

// AdmitUpdate allocates and releases what a changed Service needs.
func (h Admission) AdmitUpdate(obj, old runtime.Object) (registry.Txn, error) {
	svc := obj.(*corev1.Service)
	txn, err := h.A.Update(svc, old.(*corev1.Service))
	if err != nil {
		return nil, asAPIError(svc, err)
	}
	return txn, nil
}

// AdmitDelete releases what a deleted Service held.
func (h Admission) AdmitDelete(old runtime.Object) (registry.Txn, error) {
	return h.A.Delete(old.(*corev1.Service)), nil
}
