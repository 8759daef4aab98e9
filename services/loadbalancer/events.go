package loadbalancer

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

// Event reasons, MetalLB's.
const (
	ReasonAllocationFailed = "AllocationFailed"
	ReasonIPAllocated      = "IPAllocated"
)

// component names the controller in events' source.
const component = "podnet-loadbalancer"

// recorder writes core/v1 Events about Services. Events are best effort: a failure is logged,
// never returned, as client-go's recorder does.
type recorder struct {
	reg *registry.Registry
	now func() time.Time
	log *slog.Logger
}

func (r *recorder) event(svc *corev1.Service, typ, reason, format string, args ...any) {
	now := metav1.NewTime(r.now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", svc.Name, now.UnixNano()), Namespace: svc.Namespace},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Service",
			Namespace: svc.Namespace, Name: svc.Name, UID: svc.UID, ResourceVersion: svc.ResourceVersion},
		Reason: reason, Message: fmt.Sprintf(format, args...), Type: typ,
		Source:         corev1.EventSource{Component: component},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	if _, err := r.reg.Create(context.Background(), resource.Events, ev.Namespace, ev, registry.WriteOptions{}); err != nil {
		r.log.Debug("event not recorded", "reason", reason, "service", svc.Name, "err", err)
	}
}
