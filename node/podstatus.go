package node

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// containerIDScheme prefixes container IDs in status, as containerd's "containerd://".
const containerIDScheme = "podnet://"

// containerView is what the pod worker knows of one of the pod's containers.
type containerView struct {
	cur, prev *ContainerState
	// waitReason/waitMsg say why it is not running when it should be (ContainerCreating,
	// ErrImagePull, ImagePullBackOff, CrashLoopBackOff, CreateContainerConfigError…).
	waitReason, waitMsg string
	ready, started      bool
}

// podView is the pod as the worker sees it, the input of podStatus.
type podView struct {
	podIPs  []string
	hostIP  string
	sandbox bool // the sandbox is ready
	init    map[string]*containerView
	app     map[string]*containerView
	started time.Time // when the worker first saw the pod: status.startTime
}

// podStatus computes the pod's status from what the worker sees, as kubelet's
// generateAPIPodStatus does; old carries over transition times that did not change.
func podStatus(pod *corev1.Pod, v *podView, now time.Time) corev1.PodStatus {
	old := pod.Status
	st := corev1.PodStatus{
		HostIP:   v.hostIP,
		QOSClass: qosClass(pod),
	}
	if v.hostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: v.hostIP}}
	}
	if len(v.podIPs) > 0 {
		st.PodIP = v.podIPs[0]
		for _, ip := range v.podIPs {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
		}
	}
	st.StartTime = old.StartTime
	if st.StartTime == nil && !v.started.IsZero() {
		t := metav1.NewTime(v.started)
		st.StartTime = &t
	}
	initDone := true
	var incompleteInit []string
	for _, c := range pod.Spec.InitContainers {
		cs := containerStatus(c, v.init[c.Name], true)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			initDone = false
			incompleteInit = append(incompleteInit, c.Name)
		}
	}
	var unready []string
	for _, c := range pod.Spec.Containers {
		cv := v.app[c.Name]
		cs := containerStatus(c, cv, false)
		if cs.State.Waiting != nil && cs.State.Waiting.Reason == "ContainerCreating" && !initDone {
			cs.State.Waiting.Reason = "PodInitializing"
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		if !cs.Ready {
			unready = append(unready, c.Name)
		}
	}
	st.Phase = podPhase(pod, &st, initDone)
	st.Conditions = podConditions(pod, old.Conditions, &st, v, initDone, incompleteInit, unready, now)
	return st
}

func containerStatus(c corev1.Container, v *containerView, isInit bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	if v == nil {
		reason := "ContainerCreating"
		if isInit {
			reason = "PodInitializing"
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason}
		f := false
		cs.Started = &f
		return cs
	}
	if v.prev != nil {
		cs.LastTerminationState.Terminated = terminated(v.prev)
	}
	cur := v.cur
	if cur != nil {
		cs.ContainerID = containerIDScheme + cur.ID
		cs.ImageID = cur.ImageID
		cs.RestartCount = int32(cur.Attempt)
	}
	switch {
	case cur != nil && cur.Running:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(cur.StartedAt)}
		cs.Ready = v.ready
	case cur != nil && v.waitReason == "":
		cs.State.Terminated = terminated(cur)
	default:
		// Waiting: never started, or exited and waiting for its next attempt (whose lastState
		// is the attempt that just ended).
		if cur != nil && !cur.Running {
			cs.LastTerminationState.Terminated = terminated(cur)
			cs.RestartCount = int32(cur.Attempt)
		}
		reason := v.waitReason
		if reason == "" {
			reason = "ContainerCreating"
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: v.waitMsg}
	}
	started := cs.State.Running != nil && v.started
	cs.Started = &started
	if isInit {
		// An init container is ready once it has completed, as kubelet reports it.
		cs.Ready = cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
	}
	return cs
}

func terminated(c *ContainerState) *corev1.ContainerStateTerminated {
	reason := "Completed"
	switch {
	case c.OOMKilled:
		reason = "OOMKilled"
	case c.ExitCode != 0:
		reason = "Error"
	}
	if c.StartedAt.IsZero() && c.Message != "" {
		reason = "StartError"
	}
	return &corev1.ContainerStateTerminated{
		ExitCode: int32(c.ExitCode), Reason: reason, Message: c.Message,
		StartedAt: metav1.NewTime(c.StartedAt), FinishedAt: metav1.NewTime(c.FinishedAt),
		ContainerID: containerIDScheme + c.ID,
	}
}

// podPhase is kubelet's getPhase.
func podPhase(pod *corev1.Pod, st *corev1.PodStatus, initDone bool) corev1.PodPhase {
	policy := pod.Spec.RestartPolicy
	if !initDone {
		for _, cs := range st.InitContainerStatuses {
			if t := cs.State.Terminated; t != nil && t.ExitCode != 0 && policy == corev1.RestartPolicyNever {
				return corev1.PodFailed
			}
		}
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, cs := range st.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.LastTerminationState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch policy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyOnFailure:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodRunning
		default:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
	}
	return corev1.PodPending
}

func podConditions(pod *corev1.Pod, old []corev1.PodCondition, st *corev1.PodStatus, v *podView, initDone bool, incompleteInit, unready []string, now time.Time) []corev1.PodCondition {
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg}
		if ok {
			c.Status, c.Reason, c.Message = corev1.ConditionTrue, "", ""
		}
		c.LastTransitionTime = metav1.NewTime(now)
		for _, o := range old {
			if o.Type == t && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		return c
	}
	finished := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	readyReason, readyMsg := "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	if finished {
		readyReason, readyMsg = "PodCompleted", ""
	}
	initReason, initMsg := "ContainersNotInitialized", fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incompleteInit, " "))
	if finished && initDone {
		initReason = "PodCompleted"
	}
	ready := len(unready) == 0 && !finished
	return []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, v.sandbox, "", ""),
		cond(corev1.PodInitialized, initDone, initReason, initMsg),
		cond(corev1.PodReady, ready, readyReason, readyMsg),
		cond(corev1.ContainersReady, ready, readyReason, readyMsg),
		cond(corev1.PodScheduled, true, "", ""),
	}
}

// qosClass is the pod's QoS class by its containers' requests and limits (upstream's
// GetPodQOS): Guaranteed when every container limits cpu and memory and requests equal limits,
// BestEffort when nothing is requested or limited, Burstable otherwise.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	some, guaranteed := false, true
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if (hasReq && !req.IsZero()) || (hasLim && !lim.IsZero()) {
				some = true
			}
			if !hasLim || lim.IsZero() {
				guaranteed = false
				continue
			}
			if hasReq && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !some:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
