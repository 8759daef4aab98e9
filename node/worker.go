package node

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podnet/podnet/api/registry"
	apiresource "github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/runtime/sandbox"
)

// podWorker reconciles one pod. Everything but the latest pod object and the kick channel is
// owned by its run goroutine.
type podWorker struct {
	k    *Kubelet
	uid  types.UID
	kick chan struct{}

	mu      sync.Mutex
	pod     *corev1.Pod // latest from the API; nil once deleted from it
	deleted bool

	sb         *sandbox.Sandbox
	ctrs       map[string][]*ContainerState // by container name, oldest attempt first
	waits      map[string]waitState
	pullFailed map[string]time.Time // when each container's image pull last failed
	probes     *probeSet
	started    time.Time
	watching   map[string]bool // container IDs whose exit is being waited for
	lastStatus *corev1.PodStatus
}

type waitState struct {
	reason, msg string
}

func newPodWorker(k *Kubelet, uid types.UID) *podWorker {
	return &podWorker{
		k: k, uid: uid, kick: make(chan struct{}, 1),
		ctrs: map[string][]*ContainerState{}, waits: map[string]waitState{}, pullFailed: map[string]time.Time{}, watching: map[string]bool{},
	}
}

func (w *podWorker) set(pod *corev1.Pod) {
	w.mu.Lock()
	if pod == nil {
		w.deleted = true
	} else if !w.deleted {
		w.pod = pod
	}
	w.mu.Unlock()
	w.poke()
}

func (w *podWorker) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *podWorker) latest() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.deleted
}

// run syncs on every kick (pod change, container exit, probe result) and when a back-off or
// grace period runs out, until the pod is gone.
func (w *podWorker) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() {
		if w.probes != nil {
			w.probes.stop()
		}
	}()
	for {
		next, done := w.sync(ctx)
		if done || ctx.Err() != nil {
			return
		}
		if !w.wait(ctx, next) {
			return
		}
	}
}

// wait returns at the next kick or after d (never, for d 0); false when ctx has ended.
func (w *podWorker) wait(ctx context.Context, d time.Duration) bool {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-w.kick:
	case <-timeout:
	}
	return true
}

func (w *podWorker) logf(pod *corev1.Pod) []any {
	return []any{"pod", pod.Namespace + "/" + pod.Name}
}

// sync is one reconciliation; next is when to look again without a kick (0: only on a kick).
func (w *podWorker) sync(ctx context.Context) (next time.Duration, done bool) {
	pod, deleted := w.latest()
	if pod == nil {
		return 0, deleted
	}
	if err := w.refresh(); err != nil {
		w.k.log.Warn("kubelet: reading containers", append(w.logf(pod), "err", err)...)
	}
	if deleted {
		// Gone from the API without a graceful deletion (force-deleted): kill now, and keep at
		// it until nothing of the pod is left (nothing else would remove it before a restart).
		if err := w.terminate(ctx, pod, 0); err != nil {
			w.k.log.Warn("kubelet: tearing down a deleted pod, retrying", append(w.logf(pod), "err", err)...)
			return terminateRetry, false
		}
		return 0, true
	}
	if pod.DeletionTimestamp != nil {
		return w.finishDeletion(ctx, pod)
	}
	if w.finished(pod) {
		// A finished pod keeps its status and its exited containers (for logs) but gives back
		// its network and IP, as kubelet kills the sandbox of a completed pod.
		w.releaseSandbox(ctx, pod)
		return 0, false
	}
	if w.started.IsZero() {
		w.started = w.k.cfg.Now()
	}
	next = w.syncRunning(ctx, pod)
	w.writeStatus(ctx, pod)
	if w.finished(pod) {
		w.releaseSandbox(ctx, pod)
	}
	return next, false
}

// finished: the pod reached a terminal phase (the status this worker last wrote, or what the
// API says after a restart of the daemon).
func (w *podWorker) finished(pod *corev1.Pod) bool {
	phase := pod.Status.Phase
	if w.lastStatus != nil {
		phase = w.lastStatus.Phase
	}
	return phase == corev1.PodSucceeded || phase == corev1.PodFailed
}

func (w *podWorker) syncRunning(ctx context.Context, pod *corev1.Pod) time.Duration {
	if err := w.ensureSandbox(ctx, pod); err != nil {
		w.k.events.event(pod, "", corev1.EventTypeWarning, "FailedCreatePodSandBox",
			fmt.Sprintf("Failed to create pod sandbox: %v", err))
		w.k.log.Warn("kubelet: pod sandbox", append(w.logf(pod), "err", err)...)
		return w.k.cfg.BackoffInitial
	}
	vols, err := w.k.volumes.setup(pod)
	if err != nil {
		w.k.events.event(pod, "", corev1.EventTypeWarning, "FailedMount", err.Error())
		for _, c := range pod.Spec.Containers {
			w.waits[c.Name] = waitState{"ContainerCreating", ""}
		}
		return w.k.cfg.BackoffInitial
	}
	next, blocked := w.syncInit(ctx, pod, vols)
	if blocked {
		return next
	}
	return minPositive(next, w.syncApps(ctx, pod, vols))
}

func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

// refresh reloads this pod's containers from the runtime and waits for the running ones to exit.
func (w *podWorker) refresh() error {
	all, err := w.k.cfg.Runtime.List()
	if err != nil {
		return err
	}
	ctrs := map[string][]*ContainerState{}
	for _, c := range all {
		if c.PodUID == string(w.uid) {
			ctrs[c.Name] = append(ctrs[c.Name], c)
		}
	}
	for name := range ctrs {
		sort.Slice(ctrs[name], func(i, j int) bool { return ctrs[name][i].Attempt < ctrs[name][j].Attempt })
	}
	w.ctrs = ctrs
	for _, list := range ctrs {
		for _, c := range list {
			if c.Running && !w.watching[c.ID] {
				w.watchExit(c.ID)
			}
		}
	}
	return nil
}

// watchExit kicks the worker when a container exits.
func (w *podWorker) watchExit(id string) {
	w.watching[id] = true
	go func() {
		w.k.cfg.Runtime.Wait(context.Background(), id)
		w.poke()
	}()
}

func (w *podWorker) current(name string) *ContainerState {
	l := w.ctrs[name]
	if len(l) == 0 {
		return nil
	}
	return l[len(l)-1]
}

func (w *podWorker) previous(name string) *ContainerState {
	l := w.ctrs[name]
	if len(l) < 2 {
		return nil
	}
	return l[len(l)-2]
}

func (w *podWorker) ensureSandbox(ctx context.Context, pod *corev1.Pod) error {
	if w.sb != nil {
		return nil
	}
	sb, err := w.k.cfg.Sandboxes.Get(string(pod.UID))
	if err == nil && !sb.Ready {
		// Left half-made by a crash: start over.
		if err := w.k.cfg.Sandboxes.Remove(ctx, string(pod.UID)); err != nil {
			return err
		}
		err = sandbox.ErrNotFound
	}
	if errors.Is(err, sandbox.ErrNotFound) {
		// A new sandbox means new namespaces: containers of an old one cannot join it.
		w.stopAll(ctx, pod, 0)
		sb, err = w.k.cfg.Sandboxes.Create(ctx, sandbox.Spec{
			PodUID: string(pod.UID), Namespace: pod.Namespace, Name: pod.Name,
			Hostname: podHostname(pod), PortMappings: portMappings(pod),
		})
	}
	if err != nil {
		return err
	}
	ips := make([]string, len(sb.IPs))
	for i, ip := range sb.IPs {
		ips[i] = ip.String()
	}
	files := map[string][]byte{
		"hosts":       []byte(hostsFileFor(pod, ips, podHostname(pod), w.k.cfg.DNS.ClusterDomain)),
		"resolv.conf": []byte(resolvConfFor(pod, w.k.cfg.DNS)),
		"hostname":    []byte(podHostname(pod) + "\n"),
	}
	if err := sb.WriteFiles(files); err != nil {
		return err
	}
	w.sb = sb
	return nil
}

// releaseSandbox tears down the network of a finished pod.
func (w *podWorker) releaseSandbox(ctx context.Context, pod *corev1.Pod) {
	w.stopAll(ctx, pod, 0)
	if err := w.k.cfg.Sandboxes.Remove(ctx, string(pod.UID)); err != nil {
		w.k.log.Warn("kubelet: removing sandbox", append(w.logf(pod), "err", err)...)
		return
	}
	w.sb = nil
}

func portMappings(pod *corev1.Pod) []cniPortMapping {
	var out []cniPortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := "tcp"
			switch p.Protocol {
			case corev1.ProtocolUDP:
				proto = "udp"
			case corev1.ProtocolSCTP:
				proto = "sctp"
			}
			out = append(out, cniPortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, HostIP: p.HostIP})
		}
	}
	return out
}

// writeStatus writes the pod's status when it changed.
func (w *podWorker) writeStatus(ctx context.Context, pod *corev1.Pod) {
	st := podStatus(pod, w.view(pod), w.k.cfg.Now())
	if w.lastStatus != nil && equality.Semantic.DeepEqual(*w.lastStatus, st) {
		return
	}
	out, err := w.k.reg.Update(ctx, apiresource.Pods, pod.Namespace, pod.Name, "status", func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*corev1.Pod)
		if p.UID != pod.UID {
			return nil, apierrors.NewNotFound(apiresource.Pods.GroupResource(), pod.Name)
		}
		p.Status = podStatus(p, w.view(p), w.k.cfg.Now())
		return p, nil
	}, registry.WriteOptions{})
	if err != nil {
		w.k.log.Debug("kubelet: writing pod status", append(w.logf(pod), "err", err)...)
		return
	}
	p := out.(*corev1.Pod)
	w.lastStatus = &p.Status
	w.mu.Lock()
	if !w.deleted && w.pod != nil && w.pod.ResourceVersion < p.ResourceVersion {
		w.pod = p
	}
	w.mu.Unlock()
}

func (w *podWorker) view(pod *corev1.Pod) *podView {
	v := &podView{hostIP: w.k.cfg.NodeIP.String(), started: w.started,
		init: map[string]*containerView{}, app: map[string]*containerView{}}
	if w.sb != nil {
		v.sandbox = true
		for _, ip := range w.sb.IPs {
			v.podIPs = append(v.podIPs, ip.String())
		}
	}
	fill := func(m map[string]*containerView, cs []corev1.Container) {
		for _, c := range cs {
			cur := w.current(c.Name)
			wt, waiting := w.waits[c.Name]
			if cur == nil && !waiting {
				continue
			}
			cv := &containerView{cur: cur, prev: w.previous(c.Name), waitReason: wt.reason, waitMsg: wt.msg}
			if cur != nil && cur.Running {
				cv.ready, cv.started = w.probes.status(c.Name, cur.ID)
			}
			m[c.Name] = cv
		}
	}
	fill(v.init, pod.Spec.InitContainers)
	fill(v.app, pod.Spec.Containers)
	return v
}

// finishDeletion kills the pod's containers within its grace period, removes everything it
// had, and deletes the Pod object for good.
func (w *podWorker) finishDeletion(ctx context.Context, pod *corev1.Pod) (time.Duration, bool) {
	grace := time.Duration(0)
	if pod.DeletionGracePeriodSeconds != nil {
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	if err := w.terminate(ctx, pod, grace); err != nil {
		// As kubelet: the object stays (Terminating) until the pod's resources are gone, so
		// that a failed teardown is retried, not forgotten with its veth and IP.
		w.k.log.Warn("kubelet: tearing down a pod, retrying", append(w.logf(pod), "err", err)...)
		return terminateRetry, false
	}
	zero := int64(0)
	_, _, err := w.k.reg.Delete(ctx, apiresource.Pods, pod.Namespace, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		w.k.log.Warn("kubelet: deleting pod", append(w.logf(pod), "err", err)...)
		return time.Second, false
	}
	// With finalizers the object stays; the watch ends this worker when it goes.
	return 0, apierrors.IsNotFound(err) || err == nil && len(pod.Finalizers) == 0
}

// terminateRetry is how soon a failed teardown is tried again.
const terminateRetry = time.Second

// terminate stops every container (preStop hooks first, within grace) and removes the pod's
// containers, sandbox and volumes. Logs stay until the pod's log directory is removed with it.
// What failed to go is kept for the next call, which may repeat what succeeded (each step is
// idempotent); the error joins every failure.
func (w *podWorker) terminate(ctx context.Context, pod *corev1.Pod, grace time.Duration) error {
	w.stopAll(ctx, pod, grace)
	var errs []error
	for name, list := range w.ctrs {
		var left []*ContainerState
		for _, c := range list {
			if err := w.k.cfg.Runtime.Remove(ctx, c.ID); err != nil {
				errs = append(errs, fmt.Errorf("removing container %s: %w", c.Name, err))
				left = append(left, c)
			}
		}
		if len(left) == 0 {
			delete(w.ctrs, name)
		} else {
			w.ctrs[name] = left
		}
	}
	if err := w.k.cfg.Sandboxes.Remove(ctx, string(pod.UID)); err != nil {
		errs = append(errs, fmt.Errorf("removing sandbox: %w", err))
	} else {
		w.sb = nil
	}
	if err := teardownVolumes(w.k.cfg.PodsDir, string(pod.UID)); err != nil {
		errs = append(errs, fmt.Errorf("removing volumes: %w", err))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	removeLogs(w.k.cfg.LogsDir, pod)
	w.k.backoff.forget(string(pod.UID) + "/")
	return nil
}
