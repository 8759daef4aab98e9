package printers

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var podColumns = []metav1.TableColumnDefinition{
	nameColumn(),
	column("Ready", "The aggregate readiness state of this pod for accepting traffic."),
	column("Status", "The aggregate status of the containers in this pod."),
	column("Restarts", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
	ageColumn(),
	wide(column("IP", corev1.PodStatus{}.SwaggerDoc()["podIP"])),
	wide(column("Node", corev1.PodSpec{}.SwaggerDoc()["nodeName"])),
	wide(column("Nominated Node", corev1.PodStatus{}.SwaggerDoc()["nominatedNodeName"])),
	wide(column("Readiness Gates", corev1.PodSpec{}.SwaggerDoc()["readinessGates"])),
}

// nodeLostReason is the pod status reason the node lifecycle controller sets
// when a node stops reporting; such pods print as Unknown while deleted.
const nodeLostReason = "NodeLost"

var (
	podSucceededConditions = []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: string(corev1.PodSucceeded), Message: "The pod has completed successfully."}}
	podFailedConditions    = []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: string(corev1.PodFailed), Message: "The pod failed."}}
)

// podSummary is what the READY, STATUS and RESTARTS cells are made of.
type podSummary struct {
	ready, total int
	reason       string
	restarts     int
	lastRestart  metav1.Time
	// restartable init containers (sidecars) keep counting once the pod is
	// initialised; the others stop mattering.
	sidecarRestarts    int
	sidecarLastRestart metav1.Time
}

func podRow(pod *corev1.Pod, now time.Time) metav1.TableRow {
	s := summarisePod(pod)
	row := metav1.TableRow{Cells: []any{
		pod.Name,
		fmt.Sprintf("%d/%d", s.ready, s.total),
		s.reason,
		restartsCell(s, now),
		age(pod.CreationTimestamp, now),
		orNone(podIP(pod)),
		orNone(pod.Spec.NodeName),
		orNone(pod.Status.NominatedNodeName),
		readinessGatesCell(pod),
	}}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		row.Conditions = podSucceededConditions
	case corev1.PodFailed:
		row.Conditions = podFailedConditions
	}
	return row
}

func summarisePod(pod *corev1.Pod) podSummary {
	s := podSummary{total: len(pod.Spec.Containers), reason: podBaseReason(pod)}
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			s.total++
		}
	}
	initializing := summariseInitContainers(pod, &s)
	if !initializing || podInitialized(pod) {
		summariseContainers(pod, &s)
	}
	s.reason = deletionReason(pod, s.reason)
	return s
}

// podBaseReason is the status before looking at containers: the phase, or
// the pod's own reason (Evicted, NodeLost, ...), or SchedulingGated.
func podBaseReason(pod *corev1.Pod) string {
	reason := string(pod.Status.Phase)
	if pod.Status.Reason != "" {
		reason = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			reason = corev1.PodReasonSchedulingGated
		}
	}
	return reason
}

// summariseInitContainers walks init containers in order until the first one
// that has not finished successfully, and reports whether the pod is still
// initialising because of it.
func summariseInitContainers(pod *corev1.Pod, s *podSummary) bool {
	specs := make(map[string]*corev1.Container, len(pod.Spec.InitContainers))
	for i := range pod.Spec.InitContainers {
		specs[pod.Spec.InitContainers[i].Name] = &pod.Spec.InitContainers[i]
	}
	for i, cs := range pod.Status.InitContainerStatuses {
		sidecar := isSidecar(specs[cs.Name])
		countRestarts(cs, &s.restarts, &s.lastRestart)
		if sidecar {
			countRestarts(cs, &s.sidecarRestarts, &s.sidecarLastRestart)
		}
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			continue
		case sidecar && cs.Started != nil && *cs.Started:
			if cs.Ready {
				s.ready++
			}
			continue
		default:
			s.reason = initReason(cs, i, len(pod.Spec.InitContainers))
			return true
		}
	}
	return false
}

// initReason describes the init container that holds the pod back.
func initReason(cs corev1.ContainerStatus, index, count int) string {
	switch {
	case cs.State.Terminated != nil:
		return "Init:" + terminatedReason(cs.State.Terminated)
	case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
		return "Init:" + cs.State.Waiting.Reason
	default:
		return fmt.Sprintf("Init:%d/%d", index, count)
	}
}

// terminatedReason names a termination without a reason by its signal or
// exit code.
func terminatedReason(t *corev1.ContainerStateTerminated) string {
	switch {
	case t.Reason != "":
		return t.Reason
	case t.Signal != 0:
		return fmt.Sprintf("Signal:%d", t.Signal)
	default:
		return fmt.Sprintf("ExitCode:%d", t.ExitCode)
	}
}

// summariseContainers lets the app containers decide the status. They are
// walked last to first so that the first container's state wins, as upstream.
func summariseContainers(pod *corev1.Pod, s *podSummary) {
	s.restarts, s.lastRestart = s.sidecarRestarts, s.sidecarLastRestart
	hasRunning := false
	for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
		cs := pod.Status.ContainerStatuses[i]
		countRestarts(cs, &s.restarts, &s.lastRestart)
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			s.reason = cs.State.Waiting.Reason
		case cs.State.Terminated != nil:
			s.reason = terminatedReason(cs.State.Terminated)
		case cs.Ready && cs.State.Running != nil:
			hasRunning = true
			s.ready++
		}
	}
	// A pod whose finished container reported Completed but that still has a
	// running one is not done yet.
	if s.reason == "Completed" && hasRunning {
		if podReady(pod) {
			s.reason = "Running"
		} else {
			s.reason = "NotReady"
		}
	}
}

func deletionReason(pod *corev1.Pod, reason string) string {
	if pod.DeletionTimestamp == nil {
		return reason
	}
	if pod.Status.Reason == nodeLostReason {
		return "Unknown"
	}
	if pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		return "Terminating"
	}
	return reason
}

func countRestarts(cs corev1.ContainerStatus, restarts *int, last *metav1.Time) {
	*restarts += int(cs.RestartCount)
	if t := cs.LastTerminationState.Terminated; t != nil && last.Before(&t.FinishedAt) {
		*last = t.FinishedAt
	}
}

// restartsCell reads "5 (3m ago)" once the last restart time is known.
func restartsCell(s podSummary, now time.Time) string {
	if s.restarts != 0 && !s.lastRestart.IsZero() {
		return fmt.Sprintf("%d (%s ago)", s.restarts, age(s.lastRestart, now))
	}
	return strconv.Itoa(s.restarts)
}

func isSidecar(c *corev1.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func podInitialized(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodInitialized {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// podIP prefers podIPs, the dual-stack list, falling back to podIP for
// statuses written with only the legacy field.
func podIP(pod *corev1.Pod) string {
	if len(pod.Status.PodIPs) > 0 {
		return pod.Status.PodIPs[0].IP
	}
	return pod.Status.PodIP
}

func readinessGatesCell(pod *corev1.Pod) string {
	if len(pod.Spec.ReadinessGates) == 0 {
		return "<none>"
	}
	met := 0
	for _, gate := range pod.Spec.ReadinessGates {
		for _, c := range pod.Status.Conditions {
			if c.Type == gate.ConditionType {
				if c.Status == corev1.ConditionTrue {
					met++
				}
				break
			}
		}
	}
	return fmt.Sprintf("%d/%d", met, len(pod.Spec.ReadinessGates))
}
