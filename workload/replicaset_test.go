package workload

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
)

var podName = regexp.MustCompile(`^web-[bcdfghjklmnpqrstvwxz2456789]{5}$`)

// describePods renders pods as "labels owner" lines, with names checked and left out (random).
func describePods(t *testing.T, pods []*corev1.Pod) string {
	t.Helper()
	var lines []string
	for _, p := range pods {
		if !podName.MatchString(p.Name) {
			t.Errorf("pod name %q is not web-<5 random chars>", p.Name)
		}
		var owners []string
		for _, o := range p.OwnerReferences {
			owners = append(owners, fmt.Sprintf("%s/%s %s controller=%v block=%v", o.APIVersion, o.Kind, o.Name, *o.Controller, *o.BlockOwnerDeletion))
		}
		lines = append(lines, fmt.Sprintf("app=%s ready=%v owners=[%s]", p.Labels["app"], isPodReady(p), strings.Join(owners, ",")))
	}
	return strings.Join(lines, "\n")
}

func rsStatus(rs *appsv1.ReplicaSet) string {
	s := rs.Status
	out := fmt.Sprintf("replicas=%d fullyLabeled=%d ready=%d available=%d observedGeneration=%d",
		s.Replicas, s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas, s.ObservedGeneration)
	for _, c := range s.Conditions {
		out += fmt.Sprintf("\n%s %s %s: %s", c.Type, c.Status, c.Reason, c.Message)
	}
	return out
}

func TestReplicaSetScales(t *testing.T) {
	tests := []struct {
		name      string
		initial   int32
		readyIdx  []int // pods the fake kubelet makes ready before the scale
		orphan    bool  // a matching pod without owner exists before the first sync
		scaleTo   int32
		survivors []int // indexes (creation order) of the pods left after the scale
		pods      string
		status    string
	}{
		{name: "scale up from zero", initial: 0, scaleTo: 3,
			pods: `app=web ready=false owners=[apps/v1/ReplicaSet web controller=true block=true]
app=web ready=false owners=[apps/v1/ReplicaSet web controller=true block=true]
app=web ready=false owners=[apps/v1/ReplicaSet web controller=true block=true]`,
			status: "replicas=3 fullyLabeled=3 ready=0 available=0 observedGeneration=2"},
		{name: "scale down deletes not-ready pods first", initial: 3, readyIdx: []int{1}, scaleTo: 1, survivors: []int{1},
			pods:   `app=web ready=true owners=[apps/v1/ReplicaSet web controller=true block=true]`,
			status: "replicas=1 fullyLabeled=1 ready=1 available=1 observedGeneration=4"},
		{name: "scale down deletes the younger of ready pods", initial: 3, readyIdx: []int{0, 1, 2}, scaleTo: 2, survivors: []int{0, 1},
			pods: `app=web ready=true owners=[apps/v1/ReplicaSet web controller=true block=true]
app=web ready=true owners=[apps/v1/ReplicaSet web controller=true block=true]`,
			status: "replicas=2 fullyLabeled=2 ready=2 available=2 observedGeneration=4"},
		{name: "orphan adopted", initial: 2, orphan: true, scaleTo: 2, survivors: []int{0, 1},
			pods: `app=web ready=false owners=[apps/v1/ReplicaSet web controller=true block=true]
app=web ready=false owners=[apps/v1/ReplicaSet web controller=true block=true]`,
			status: "replicas=2 fullyLabeled=2 ready=0 available=0 observedGeneration=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if tt.orphan {
				p := podFromTemplate(replicaSetObj("web", 1))
				p.OwnerReferences = nil
				e.create(resource.Pods, p)
				e.clk.Advance(time.Hour)
			}
			e.create(resource.ReplicaSets, replicaSetObj("web", min(tt.initial, 1)))
			e.settle()
			// Pods created an hour apart, so that age decides among ready ones.
			for n := int32(2); n <= tt.initial; n++ {
				e.clk.Advance(time.Hour)
				e.update(resource.ReplicaSets, "web", "", func(obj runtime.Object) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n })
				e.settle()
			}
			before := e.pods()
			for _, i := range tt.readyIdx {
				e.makeReady(before[i])
			}
			e.update(resource.ReplicaSets, "web", "", func(obj runtime.Object) {
				n := tt.scaleTo
				obj.(*appsv1.ReplicaSet).Spec.Replicas = &n
			})
			e.settle()
			after := e.pods()
			if got := describePods(t, after); got != tt.pods {
				t.Errorf("pods:\n%s\nwant:\n%s", got, tt.pods)
			}
			for i, s := range tt.survivors {
				if i < len(after) && after[i].UID != before[s].UID {
					t.Errorf("survivor %d is %s, want %s", i, after[i].Name, before[s].Name)
				}
			}
			if got := rsStatus(e.replicaSet("web")); got != tt.status {
				t.Errorf("status:\n%s\nwant:\n%s", got, tt.status)
			}
		})
	}
}

// rejectPods is an admission hook standing in for a quota: every pod create fails.
type rejectPods struct{}

func (rejectPods) PrepareUpdate(obj, old runtime.Object) {}
func (rejectPods) AdmitCreate(obj runtime.Object) (registry.Txn, error) {
	return nil, apierrors.NewForbidden(resource.Pods.GroupResource(), accessor(obj).GetName(), fmt.Errorf("exceeded quota: compute"))
}
func (rejectPods) AdmitUpdate(obj, old runtime.Object) (registry.Txn, error) { return nil, nil }
func (rejectPods) AdmitDelete(old runtime.Object) (registry.Txn, error)      { return nil, nil }

func TestReplicaSetReportsCreateFailure(t *testing.T) {
	e := newEnv(t, map[schema.GroupVersionResource]registry.Hook{resource.Pods.GVR: rejectPods{}})
	e.create(resource.ReplicaSets, replicaSetObj("web", 2))
	err := e.c.syncReplicaSet(e.ctx, "default", "web")
	want := "replicas=0 fullyLabeled=0 ready=0 available=0 observedGeneration=1\n" +
		`ReplicaFailure True FailedCreate: pods "web-" is forbidden: exceeded quota: compute`
	if !apierrors.IsForbidden(err) {
		t.Errorf("sync error = %v, want the Forbidden create error", err)
	}
	// The generated name is random: normalise it in the message.
	got := regexp.MustCompile(`"web-[a-z0-9]{5}"`).ReplaceAllString(rsStatus(e.replicaSet("web")), `"web-"`)
	if got != want {
		t.Errorf("status:\n%s\nwant:\n%s", got, want)
	}
}

// TestReplicaSetReplacesDeletedPod runs the controllers for real: a deleted pod comes back.
func TestReplicaSetReplacesDeletedPod(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	e.create(resource.ReplicaSets, replicaSetObj("web", 2))
	first := e.waitPods(2, nil)
	if _, _, err := e.reg.Delete(e.ctx, resource.Pods, "default", first[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	after := e.waitPods(2, func(p []*corev1.Pod) bool { return p[0].Name != first[0].Name && p[1].Name != first[0].Name })
	if after[0].Name != first[1].Name && after[1].Name != first[1].Name {
		t.Errorf("the pod left alone was replaced too: before %s %s, after %s %s", first[0].Name, first[1].Name, after[0].Name, after[1].Name)
	}
}

// waitPods waits until there are n pods (and ok holds, when given).
func (e *env) waitPods(n int, ok func([]*corev1.Pod) bool) []*corev1.Pod {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pods := e.pods()
		if len(pods) == n && (ok == nil || ok(pods)) {
			return pods
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %d pods; have %d", n, len(pods))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
