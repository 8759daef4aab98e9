package node

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podnet/podnet/api/registry"
)

// Scheduler binds every new pod to this node at admission: with one node there is nothing to
// choose, and binding at once spares kubectl a Pending phase no scheduler would ever end. A pod
// that names a node keeps it (a pod for another node simply never runs here, as upstream); a pod
// with scheduling gates waits, unbound, until they are removed (not supported yet: it stays Pending).
type Scheduler struct {
	NodeName string
}

var _ registry.Hook = Scheduler{}

// PrepareUpdate implements registry.Hook.
func (Scheduler) PrepareUpdate(obj, old runtime.Object) {}

// AdmitCreate implements registry.Hook.
func (s Scheduler) AdmitCreate(obj runtime.Object) (registry.Txn, error) {
	if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName == "" && len(p.Spec.SchedulingGates) == 0 {
		p.Spec.NodeName = s.NodeName
	}
	return nil, nil
}

// AdmitUpdate implements registry.Hook.
func (Scheduler) AdmitUpdate(obj, old runtime.Object) (registry.Txn, error) { return nil, nil }

// AdmitDelete implements registry.Hook.
func (Scheduler) AdmitDelete(old runtime.Object) (registry.Txn, error) { return nil, nil }
