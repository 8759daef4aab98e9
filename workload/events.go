package workload

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
)

// Components named in events' source, as kube-controller-manager's controllers name themselves.
const (
	replicaSetComponent = "replicaset-controller"
	deploymentComponent = "deployment-controller"
)

// recorder writes core/v1 Events about the controllers' objects. Events are best effort: a
// failure is logged, never returned, as client-go's recorder does.
type recorder struct {
	reg *registry.Registry
	now func() time.Time
	log *slog.Logger
}

func (r *recorder) event(component string, info *resource.Info, m metav1.Object, typ, reason, format string, args ...any) {
	gvk := info.GVK()
	now := metav1.NewTime(r.now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", m.GetName(), now.UnixNano()), Namespace: m.GetNamespace()},
		InvolvedObject: corev1.ObjectReference{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
			Namespace: m.GetNamespace(), Name: m.GetName(), UID: m.GetUID(), ResourceVersion: m.GetResourceVersion()},
		Reason: reason, Message: fmt.Sprintf(format, args...), Type: typ,
		Source:         corev1.EventSource{Component: component},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	if _, err := r.reg.Create(context.Background(), resource.Events, ev.Namespace, ev, registry.WriteOptions{}); err != nil {
		r.log.Debug("event not recorded", "reason", reason, "object", m.GetName(), "err", err)
	}
}
