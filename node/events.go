package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podnet/podnet/api/registry"
	apiresource "github.com/podnet/podnet/api/resource"
)

// recorder writes Events about pods as kubelet does (source component "kubelet", the node as
// host), so that `kubectl describe pod` and `kubectl get events` show pulls, starts, kills,
// probe failures and back-offs.
type recorder struct {
	reg  *registry.Registry
	node string
	now  func() time.Time
	log  *slog.Logger
}

// event records one event; fieldPath names the container ("spec.containers{nginx}") or is empty
// for the pod. Failures are logged, never fatal: events are best effort, as in kubelet.
func (r *recorder) event(pod *corev1.Pod, fieldPath, eventType, reason, msg string) {
	now := metav1.NewTime(r.now())
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      fmt.Sprintf("%s.%x", pod.Name, now.UnixNano()),
			Namespace: pod.Namespace,
		},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
			FieldPath: fieldPath,
		},
		Reason: reason, Message: msg, Type: eventType, Count: 1,
		Source:         corev1.EventSource{Component: "kubelet", Host: r.node},
		FirstTimestamp: now, LastTimestamp: now,
		ReportingController: "kubelet", ReportingInstance: r.node,
	}
	if _, err := r.reg.Create(context.Background(), apiresource.Events, pod.Namespace, ev, registry.WriteOptions{}); err != nil {
		r.log.Debug("recording event", "pod", pod.Namespace+"/"+pod.Name, "reason", reason, "err", err)
	}
}

func containerPath(pod *corev1.Pod, name string) string {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return "spec.initContainers{" + name + "}"
		}
	}
	return "spec.containers{" + name + "}"
}
