package node

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/podnet/podnet/api/streaming"
)

var _ streaming.Pods = (*Kubelet)(nil)

// instance finds the current (or, with previous, the one before) attempt of a pod's container.
func (k *Kubelet) instance(pod *corev1.Pod, name string, previous bool) (*ContainerState, error) {
	all, err := k.cfg.Runtime.List()
	if err != nil {
		return nil, err
	}
	var cur, prev *ContainerState
	for _, c := range all {
		if c.PodUID != string(pod.UID) || c.Name != name {
			continue
		}
		switch {
		case cur == nil || c.Attempt > cur.Attempt:
			cur, prev = c, cur
		case prev == nil || c.Attempt > prev.Attempt:
			prev = c
		}
	}
	if previous {
		if prev == nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", name, pod.Name))
		}
		return prev, nil
	}
	if cur == nil {
		reason := "ContainerCreating"
		for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
			if cs.Name == name && cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
				reason = cs.State.Waiting.Reason
			}
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", name, pod.Name, reason))
	}
	return cur, nil
}

// Logs implements streaming.Pods.
func (k *Kubelet) Logs(ctx context.Context, pod *corev1.Pod, container string, opts *corev1.PodLogOptions, w io.Writer) error {
	c, err := k.instance(pod, container, opts.Previous)
	if err != nil {
		return err
	}
	o := LogOptions{Follow: opts.Follow, TailLines: opts.TailLines, Timestamps: opts.Timestamps, LimitBytes: opts.LimitBytes}
	if opts.SinceSeconds != nil {
		o.Since = k.cfg.Now().Add(-time.Duration(*opts.SinceSeconds) * time.Second)
	}
	if opts.SinceTime != nil {
		o.Since = opts.SinceTime.Time
	}
	return k.cfg.Runtime.Log(ctx, c, o, w, w)
}

func (k *Kubelet) running(pod *corev1.Pod, container string) (*ContainerState, error) {
	c, err := k.instance(pod, container, false)
	if err != nil {
		return nil, err
	}
	if !c.Running {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %s is not running (pod %s)", container, pod.Name))
	}
	return c, nil
}

// Exec implements streaming.Pods.
func (k *Kubelet) Exec(ctx context.Context, pod *corev1.Pod, container string, cmd []string, s streaming.Streams) error {
	c, err := k.running(pod, container)
	if err != nil {
		return err
	}
	code, err := k.cfg.Runtime.Exec(ctx, c.ID, cmd, s)
	if err != nil {
		return err
	}
	if code != 0 {
		return &streaming.ExitError{Code: code}
	}
	return nil
}

// Attach implements streaming.Pods.
func (k *Kubelet) Attach(ctx context.Context, pod *corev1.Pod, container string, s streaming.Streams) error {
	c, err := k.running(pod, container)
	if err != nil {
		return err
	}
	return k.cfg.Runtime.Attach(ctx, c.ID, s)
}
