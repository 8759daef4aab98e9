package printers

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(4 * time.Minute)}}
}

func terminated(reason string, exitCode, signal int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: exitCode, Signal: signal}}
}

func condition(t corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
	return corev1.PodCondition{Type: t, Status: s}
}

// testPod has one app container "app" and the given status.
func testPod(status corev1.PodStatus) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: meta5m("web"),
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
		Status:     status,
	}
}

// withInit adds init containers named init0, init1, ... and their statuses.
func withInit(pod *corev1.Pod, statuses ...corev1.ContainerStatus) *corev1.Pod {
	for i := range statuses {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: statuses[i].Name, Image: "busybox"})
	}
	pod.Status.InitContainerStatuses = statuses
	return pod
}

func TestPodCells(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	started := true

	deleting := testPod(corev1.PodStatus{Phase: corev1.PodRunning,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}}})
	deleting.DeletionTimestamp = &metav1.Time{Time: testNow}

	nodeLost := testPod(corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost",
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}}})
	nodeLost.DeletionTimestamp = &metav1.Time{Time: testNow}

	deletedDone := testPod(corev1.PodStatus{Phase: corev1.PodSucceeded,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: terminated("Completed", 0, 0)}}})
	deletedDone.DeletionTimestamp = &metav1.Time{Time: testNow}

	twoContainers := func(status corev1.PodStatus) *corev1.Pod {
		p := testPod(status)
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "busybox"})
		return p
	}

	sidecar := withInit(testPod(corev1.PodStatus{Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{condition(corev1.PodInitialized, corev1.ConditionTrue)},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: running(), RestartCount: 1,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: ago(10 * time.Minute)}}}}}),
		corev1.ContainerStatus{Name: "init0", State: terminated("Completed", 0, 0), RestartCount: 4},
		corev1.ContainerStatus{Name: "proxy", Ready: true, Started: &started, State: running(), RestartCount: 2,
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: ago(2 * time.Minute)}}},
	)
	sidecar.Spec.InitContainers[1].RestartPolicy = &always

	scheduled := testPod(corev1.PodStatus{Phase: corev1.PodRunning,
		PodIPs:            []corev1.PodIP{{IP: "10.244.0.7"}, {IP: "fd00::7"}},
		NominatedNodeName: "node-b",
		Conditions: []corev1.PodCondition{
			condition(corev1.PodReady, corev1.ConditionTrue),
			condition("example.com/lb", corev1.ConditionTrue),
			condition("example.com/dns", corev1.ConditionFalse),
		},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}}})
	scheduled.Spec.NodeName = "node-a"
	scheduled.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}

	legacyIP := testPod(corev1.PodStatus{Phase: corev1.PodPending, PodIP: "10.244.0.9"})

	runCellCases(t, schema.GroupKind{Kind: "Pod"}, []cellCase{
		{"pending without statuses", testPod(corev1.PodStatus{Phase: corev1.PodPending}),
			[]any{"web", "0/1", "Pending", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"container creating", testPod(corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: waiting("ContainerCreating")}}}),
			[]any{"web", "0/1", "ContainerCreating", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"running and ready", testPod(corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: running()}}}),
			[]any{"web", "1/1", "Running", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"running not ready", testPod(corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: running()}}}),
			[]any{"web", "0/1", "Running", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"completed", testPod(corev1.PodStatus{Phase: corev1.PodSucceeded,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: terminated("Completed", 0, 0)}}}),
			[]any{"web", "0/1", "Completed", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"error", testPod(corev1.PodStatus{Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: terminated("Error", 1, 0)}}}),
			[]any{"web", "0/1", "Error", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"killed by signal", testPod(corev1.PodStatus{Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: terminated("", 137, 9)}}}),
			[]any{"web", "0/1", "Signal:9", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"exit code without reason", testPod(corev1.PodStatus{Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: terminated("", 3, 0)}}}),
			[]any{"web", "0/1", "ExitCode:3", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"crash loop with last restart", testPod(corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: waiting("CrashLoopBackOff"), RestartCount: 5,
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1, FinishedAt: ago(5 * time.Minute)}}}}}),
			[]any{"web", "0/1", "CrashLoopBackOff", "5 (5m ago)", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"restarts without termination time", testPod(corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: running(), RestartCount: 3}}}),
			[]any{"web", "1/1", "Running", "3", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"evicted", testPod(corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}),
			[]any{"web", "0/1", "Evicted", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"scheduling gated", testPod(corev1.PodStatus{Phase: corev1.PodPending,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulingGated"}}}),
			[]any{"web", "0/1", "SchedulingGated", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"terminating", deleting,
			[]any{"web", "1/1", "Terminating", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"deleted on lost node", nodeLost,
			[]any{"web", "1/1", "Unknown", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"deleted after finishing", deletedDone,
			[]any{"web", "0/1", "Completed", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"init container running", withInit(testPod(corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: waiting("PodInitializing")}}}),
			corev1.ContainerStatus{Name: "init0", State: running()}),
			[]any{"web", "0/1", "Init:0/1", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"second init container waiting to initialise", withInit(testPod(corev1.PodStatus{Phase: corev1.PodPending}),
			corev1.ContainerStatus{Name: "init0", State: terminated("Completed", 0, 0)},
			corev1.ContainerStatus{Name: "init1", State: waiting("PodInitializing")}),
			[]any{"web", "0/1", "Init:1/2", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"init container crash loop", withInit(testPod(corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: waiting("PodInitializing"), RestartCount: 7}}}),
			corev1.ContainerStatus{Name: "init0", State: waiting("CrashLoopBackOff"), RestartCount: 2,
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: ago(time.Minute)}}}),
			[]any{"web", "0/1", "Init:CrashLoopBackOff", "2 (60s ago)", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"init container failed", withInit(testPod(corev1.PodStatus{Phase: corev1.PodFailed}),
			corev1.ContainerStatus{Name: "init0", State: terminated("Error", 1, 0)}),
			[]any{"web", "0/1", "Init:Error", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"init container exit code", withInit(testPod(corev1.PodStatus{Phase: corev1.PodPending}),
			corev1.ContainerStatus{Name: "init0", State: terminated("", 2, 0)}),
			[]any{"web", "0/1", "Init:ExitCode:2", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"init container signal", withInit(testPod(corev1.PodStatus{Phase: corev1.PodPending}),
			corev1.ContainerStatus{Name: "init0", State: terminated("", 143, 15)}),
			[]any{"web", "0/1", "Init:Signal:15", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"sidecar counts towards ready and restarts", sidecar,
			[]any{"web", "2/2", "Running", "3 (2m ago)", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"completed container beside a running one, pod not ready", twoContainers(corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", State: terminated("Completed", 0, 0)},
				{Name: "side", Ready: true, State: running()}}}),
			[]any{"web", "1/2", "NotReady", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"completed container beside a running one, pod ready", twoContainers(corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{condition(corev1.PodReady, corev1.ConditionTrue)},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", State: terminated("Completed", 0, 0)},
				{Name: "side", Ready: true, State: running()}}}),
			[]any{"web", "1/2", "Running", "0", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"first container's state wins", twoContainers(corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "app", State: waiting("ImagePullBackOff")},
				{Name: "side", State: waiting("CrashLoopBackOff"), RestartCount: 1}}}),
			[]any{"web", "0/2", "ImagePullBackOff", "1", "5m", "<none>", "<none>", "<none>", "<none>"}},
		{"wide columns", scheduled,
			[]any{"web", "1/1", "Running", "0", "5m", "10.244.0.7", "node-a", "node-b", "1/2"}},
		{"legacy podIP field", legacyIP,
			[]any{"web", "0/1", "Pending", "0", "5m", "10.244.0.9", "<none>", "<none>", "<none>"}},
	})
}

func TestPodRowConditions(t *testing.T) {
	tests := []struct {
		phase corev1.PodPhase
		want  []metav1.TableRowCondition
	}{
		{corev1.PodRunning, nil},
		{corev1.PodSucceeded, []metav1.TableRowCondition{{Type: "Completed", Status: "True", Reason: "Succeeded", Message: "The pod has completed successfully."}}},
		{corev1.PodFailed, []metav1.TableRowCondition{{Type: "Completed", Status: "True", Reason: "Failed", Message: "The pod failed."}}},
	}
	for _, tt := range tests {
		t.Run(string(tt.phase), func(t *testing.T) {
			table, err := Table(schema.GroupKind{Kind: "Pod"}, []runtime.Object{testPod(corev1.PodStatus{Phase: tt.phase})}, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if got := table.Rows[0].Conditions; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("conditions = %#v, want %#v", got, tt.want)
			}
		})
	}
}
