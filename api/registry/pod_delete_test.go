package registry

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podnet/podnet/api/resource"
)

func testPod(name, node string, phase corev1.PodPhase, grace *int64) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{NodeName: node, TerminationGracePeriodSeconds: grace,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		Status: corev1.PodStatus{Phase: phase},
	}
}

func podState(t *testing.T, r *Registry, name string) string {
	t.Helper()
	obj, err := r.Get(resource.Pods, "default", name)
	if err != nil {
		return "gone"
	}
	p := obj.(*corev1.Pod)
	if p.DeletionTimestamp == nil {
		return "live"
	}
	return fmt.Sprintf("terminating until %s grace %d", p.DeletionTimestamp.Format("15:04:05"), *p.DeletionGracePeriodSeconds)
}

// Pods a kubelet runs are deleted gracefully: deletionTimestamp is the end of the grace period
// and the kubelet removes the pod with grace 0 once its containers have stopped.
func TestPodGracefulDeletion(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	cases := []struct {
		name    string
		pod     *corev1.Pod
		deletes []*int64 // grace of each DELETE; nil means none in the request
		want    string
	}{
		{"default 30s", testPod("a", "node1", corev1.PodRunning, nil), []*int64{nil}, "terminating until 12:00:30 grace 30"},
		{"spec grace", testPod("a", "node1", corev1.PodRunning, i(5)), []*int64{nil}, "terminating until 12:00:05 grace 5"},
		{"request wins", testPod("a", "node1", corev1.PodRunning, i(5)), []*int64{i(2)}, "terminating until 12:00:02 grace 2"},
		{"shorter second delete", testPod("a", "node1", corev1.PodRunning, nil), []*int64{nil, i(3)}, "terminating until 12:00:03 grace 3"},
		{"longer second delete ignored", testPod("a", "node1", corev1.PodRunning, i(3)), []*int64{nil, i(60)}, "terminating until 12:00:03 grace 3"},
		{"force after graceful", testPod("a", "node1", corev1.PodRunning, nil), []*int64{nil, i(0)}, "gone"},
		{"grace 0 at once", testPod("a", "node1", corev1.PodRunning, nil), []*int64{i(0)}, "gone"},
		{"unscheduled at once", testPod("a", "", corev1.PodPending, nil), []*int64{nil}, "gone"},
		{"succeeded at once", testPod("a", "node1", corev1.PodSucceeded, nil), []*int64{nil}, "gone"},
		{"failed at once", testPod("a", "node1", corev1.PodFailed, nil), []*int64{nil}, "gone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRegistry(t)
			ctx := context.Background()
			phase := tc.pod.Status.Phase // Create resets the status of the object it is given
			if _, err := r.Create(ctx, resource.Pods, "default", tc.pod, WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			// Create resets status, as upstream: the kubelet reports the phase.
			if _, err := r.Update(ctx, resource.Pods, "default", "a", "status", func(cur runtime.Object) (runtime.Object, error) {
				cur.(*corev1.Pod).Status.Phase = phase
				return cur, nil
			}, WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, g := range tc.deletes {
				if _, _, err := r.Delete(ctx, resource.Pods, "default", "a", metav1.DeleteOptions{GracePeriodSeconds: g}); err != nil {
					t.Fatal(err)
				}
			}
			if got := podState(t, r, "a"); got != tc.want {
				t.Errorf("after deletes: %s, want %s", got, tc.want)
			}
		})
	}
}

// The lifecycle controllers' sweep must leave a pod in its grace period to the kubelet.
func TestSweepKeepsTerminatingPods(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	if _, err := r.Create(ctx, resource.Pods, "default", testPod("a", "node1", "", nil), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Delete(ctx, resource.Pods, "default", "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	passes(r, 2)
	if got := podState(t, r, "a"); got != "terminating until 12:00:30 grace 30" {
		t.Errorf("after a sweep: %s", got)
	}
}

// A pod in its grace period stays through updates (the kubelet's status writes, a finalizer
// removed) until a delete with grace 0; with finalizers, that delete sets grace 0 and the last
// finalizer's removal deletes it (kube-apiserver's ShouldDeleteDuringUpdate).
func TestTerminatingPodUpdates(t *testing.T) {
	i := func(v int64) *int64 { return &v }
	status := func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.Pod).Status.Message = "written"
		return cur, nil
	}
	unfinalize := func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.Pod).Finalizers = nil
		return cur, nil
	}
	type step struct {
		del    *int64                                       // a DELETE with this grace
		update func(runtime.Object) (runtime.Object, error) // or an update
		sub    string
	}
	for _, tc := range []struct {
		name       string
		finalizers []string
		steps      []step
		want       string
	}{
		{"status write in the grace period", nil,
			[]step{{del: i(30)}, {update: status, sub: "status"}}, "terminating until 12:00:30 grace 30"},
		{"then the kubelet's delete", nil,
			[]step{{del: i(30)}, {update: status, sub: "status"}, {del: i(0)}}, "gone"},
		{"finalizer removed in the grace period", []string{"example.com/f"},
			[]step{{del: i(30)}, {update: unfinalize}}, "terminating until 12:00:30 grace 30"},
		{"kubelet's delete held by a finalizer", []string{"example.com/f"},
			[]step{{del: i(30)}, {del: i(0)}}, "terminating until 12:00:30 grace 0"},
		{"then the finalizer removed", []string{"example.com/f"},
			[]step{{del: i(30)}, {del: i(0)}, {update: unfinalize}}, "gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRegistry(t)
			ctx := context.Background()
			p := testPod("a", "node1", "", nil)
			p.Finalizers = tc.finalizers
			if _, err := r.Create(ctx, resource.Pods, "default", p, WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.steps {
				var err error
				if s.update != nil {
					_, err = r.Update(ctx, resource.Pods, "default", "a", s.sub, s.update, WriteOptions{})
				} else {
					_, _, err = r.Delete(ctx, resource.Pods, "default", "a", metav1.DeleteOptions{GracePeriodSeconds: s.del})
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := podState(t, r, "a"); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
