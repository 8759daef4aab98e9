package workload

import (
	"math"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func podReadyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func isPodReady(p *corev1.Pod) bool {
	c := podReadyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// isPodAvailable: ready for at least minReadySeconds.
func isPodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := podReadyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	d := time.Duration(minReadySeconds) * time.Second
	return minReadySeconds == 0 || !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(d).Before(now)
}

// podsToDelete picks the n pods a scale-down removes first, in upstream's order: unscheduled,
// then pending before unknown before running, not ready, ready for less time, more restarts,
// younger. Ready and creation times compare in log2 buckets of their age (upstream's
// LogarithmicScaleDown, on by default), so pods of similar age are picked at random by UID
// rather than always the newest. Upstream's rank by related pods on the same node is left out:
// on one node it is the same for every scheduled pod.
func podsToDelete(active []*corev1.Pod, n int, now time.Time) []*corev1.Pod {
	if n >= len(active) {
		return active
	}
	pods := append([]*corev1.Pod(nil), active...)
	sort.SliceStable(pods, func(i, j int) bool { return deleteFirst(pods[i], pods[j], now) })
	return pods[:n]
}

var phaseOrdinal = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

func deleteFirst(a, b *corev1.Pod, now time.Time) bool {
	if a.Spec.NodeName != b.Spec.NodeName && (a.Spec.NodeName == "" || b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrdinal[a.Status.Phase], phaseOrdinal[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	if ra, rb := isPodReady(a), isPodReady(b); ra != rb {
		return !ra
	}
	if isPodReady(a) && isPodReady(b) {
		ta, tb := podReadyCondition(a).LastTransitionTime, podReadyCondition(b).LastTransitionTime
		if !ta.Equal(&tb) {
			return youngerFirst(a, b, ta, tb, now)
		}
	}
	if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
		return ra > rb
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return youngerFirst(a, b, a.CreationTimestamp, b.CreationTimestamp, now)
	}
	return false
}

// youngerFirst orders by time ta/tb, the later (or unset) one first, by log2 age bucket.
func youngerFirst(a, b *corev1.Pod, ta, tb metav1.Time, now time.Time) bool {
	if ta.IsZero() || tb.IsZero() || now.IsZero() {
		return ta.IsZero() || !tb.IsZero() && ta.After(tb.Time)
	}
	if d := logBucket(now.Sub(ta.Time)) - logBucket(now.Sub(tb.Time)); d != 0 {
		return d < 0
	}
	return a.UID < b.UID
}

func logBucket(d time.Duration) int64 {
	if d <= 0 {
		return -1
	}
	return int64(math.Log2(float64(d)))
}

func maxRestarts(p *corev1.Pod) int32 {
	var m int32
	for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		m = max(m, s.RestartCount)
	}
	return m
}
