package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	apiresource "github.com/podnet/podnet/api/resource"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/streaming"
	"github.com/podnet/podnet/cni"
)

type cniPortMapping = cni.PortMapping

// syncInit runs init containers one after another; blocked says app containers must wait.
func (w *podWorker) syncInit(ctx context.Context, pod *corev1.Pod, vols map[string]string) (next time.Duration, blocked bool) {
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cur := w.current(c.Name)
		switch {
		case cur != nil && cur.Running:
			return 0, true // its exit kicks the worker
		case cur != nil && cur.ExitCode == 0 && cur.Message == "":
			continue
		case cur != nil && pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			delete(w.waits, c.Name)
			return 0, true // the pod has failed
		}
		return w.startWithBackoff(ctx, pod, c, cur, vols), true
	}
	return 0, false
}

// syncApps starts app containers that should run and restarts exited ones per restartPolicy.
func (w *podWorker) syncApps(ctx context.Context, pod *corev1.Pod, vols map[string]string) time.Duration {
	var next time.Duration
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cur := w.current(c.Name)
		if cur != nil && cur.Running {
			w.ensureProbes(pod, c, cur)
			if w.probes.livenessFailed(c.Name, cur.ID) {
				w.k.events.event(pod, containerPath(pod, c.Name), corev1.EventTypeNormal, "Killing",
					fmt.Sprintf("Container %s failed liveness probe, will be restarted", c.Name))
				w.stopOne(ctx, pod, c, cur, gracePeriod(pod))
				w.poke()
			}
			continue
		}
		if cur != nil && !shouldRestart(pod.Spec.RestartPolicy, cur) {
			delete(w.waits, c.Name)
			continue
		}
		next = minPositive(next, w.startWithBackoff(ctx, pod, c, cur, vols))
	}
	return next
}

func shouldRestart(policy corev1.RestartPolicy, c *ContainerState) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return c.ExitCode != 0 || c.Message != ""
	}
	return true
}

func gracePeriod(pod *corev1.Pod) time.Duration {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// startWithBackoff starts c's next attempt unless its restart back-off is still running;
// the result is when to look again.
func (w *podWorker) startWithBackoff(ctx context.Context, pod *corev1.Pod, c *corev1.Container, cur *ContainerState, vols map[string]string) time.Duration {
	key := string(pod.UID) + "/" + c.Name
	attempt := 0
	if cur != nil {
		attempt = cur.Attempt + 1
		now := w.k.cfg.Now()
		if left, wait := w.k.backoff.inBackoff(key, cur.FinishedAt, now); wait {
			d := w.k.backoff.current(key)
			msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", d, c.Name, pod.Name, pod.Namespace, pod.UID)
			if w.waits[c.Name].reason != "CrashLoopBackOff" {
				w.k.events.event(pod, containerPath(pod, c.Name), corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container "+c.Name+" in pod "+pod.Name+"_"+pod.Namespace+"("+string(pod.UID)+")")
			}
			w.waits[c.Name] = waitState{"CrashLoopBackOff", msg}
			return left
		}
		w.k.backoff.next(key, now)
	}
	if err := w.start(ctx, pod, c, attempt, vols); err != nil {
		var ra *retryAfter
		if errors.As(err, &ra) {
			return ra.d
		}
		return w.k.cfg.BackoffInitial
	}
	return 0
}

// retryAfter: not now, look again after d.
type retryAfter struct{ d time.Duration }

func (r *retryAfter) Error() string { return fmt.Sprintf("retry after %s", r.d) }

// start pulls the image, builds the container's request and starts it.
func (w *podWorker) start(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt int, vols map[string]string) error {
	path := containerPath(pod, c.Name)
	ev := func(t, reason, msg string) { w.k.events.event(pod, path, t, reason, msg) }
	pullKey := string(pod.UID) + "/pull/" + c.Name
	if left, wait := w.k.backoff.inBackoff(pullKey, w.pullFailed[c.Name], w.k.cfg.Now()); wait {
		if w.waits[c.Name].reason != "ImagePullBackOff" {
			ev(corev1.EventTypeNormal, "BackOff", fmt.Sprintf("Back-off pulling image %q", c.Image))
		}
		w.waits[c.Name] = waitState{"ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q", c.Image)}
		return &retryAfter{left}
	}
	img, err := w.k.cfg.Runtime.EnsureImage(ctx, c.Image, c.ImagePullPolicy, ev)
	if err != nil {
		now := w.k.cfg.Now()
		w.k.backoff.next(pullKey, now)
		w.pullFailed[c.Name] = now
		ev(corev1.EventTypeWarning, "Failed", fmt.Sprintf("Failed to pull image %q: %v", c.Image, err))
		ev(corev1.EventTypeWarning, "Failed", "Error: ErrImagePull")
		w.waits[c.Name] = waitState{"ErrImagePull", err.Error()}
		return err
	}
	w.k.backoff.forget(pullKey)
	req, err := w.request(pod, c, attempt, img, vols)
	if err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			w.waits[c.Name] = waitState{"CreateContainerConfigError", err.Error()}
		} else {
			w.waits[c.Name] = waitState{"CreateContainerError", err.Error()}
		}
		ev(corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return err
	}
	st, err := w.k.cfg.Runtime.Start(ctx, req)
	if err != nil {
		w.waits[c.Name] = waitState{"RunContainerError", err.Error()}
		ev(corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
		return err
	}
	delete(w.waits, c.Name)
	ev(corev1.EventTypeNormal, "Created", "Created container "+c.Name)
	ev(corev1.EventTypeNormal, "Started", "Started container "+c.Name)
	w.ctrs[c.Name] = append(w.ctrs[c.Name], st)
	if st.Running {
		w.watchExit(st.ID)
	}
	w.pruneAttempts(ctx, c.Name)
	return nil
}

// pruneAttempts keeps the current attempt and the one before it (lastState, logs --previous).
func (w *podWorker) pruneAttempts(ctx context.Context, name string) {
	l := w.ctrs[name]
	for len(l) > 2 {
		if err := w.k.cfg.Runtime.Remove(ctx, l[0].ID); err != nil {
			w.k.log.Warn("kubelet: removing old attempt", "container", name, "err", err)
			break
		}
		l = l[1:]
	}
	w.ctrs[name] = l
}

// request turns the pod's container into what the runtime starts.
func (w *podWorker) request(pod *corev1.Pod, c *corev1.Container, attempt int, img *ImageInfo, vols map[string]string) (*ContainerRequest, error) {
	svcs, err := w.serviceEnv(pod)
	if err != nil {
		return nil, err
	}
	env, err := envFor(pod, c, img.Env, svcs, w.k.reg)
	if err != nil {
		return nil, err
	}
	mounts, err := mountsFor(c, vols)
	if err != nil {
		return nil, err
	}
	if w.sb != nil {
		for _, f := range []string{"hosts", "hostname", "resolv.conf"} {
			mounts = append(mounts, Mount{Source: w.sb.File(f), Destination: "/etc/" + f})
		}
	}
	if c.TerminationMessagePath != "" {
		tm, err := w.terminationLog(pod, c, attempt)
		if err != nil {
			return nil, err
		}
		mounts = append(mounts, Mount{Source: tm, Destination: c.TerminationMessagePath})
	}
	args := commandFor(c, img.Entrypoint, img.Cmd, env.vals)
	if len(args) == 0 {
		return nil, configErrorf("no command specified")
	}
	proc := Process{Args: args, Env: env.strings(), Cwd: c.WorkingDir}
	if proc.Cwd == "" {
		proc.Cwd = img.WorkingDir
	}
	sec, err := securityFor(pod, c, img, &proc)
	if err != nil {
		return nil, err
	}
	return &ContainerRequest{
		PodUID: string(pod.UID), PodNamespace: pod.Namespace, PodName: pod.Name, Name: c.Name,
		Attempt: attempt, Image: img, Sandbox: w.sb,
		LogPath: logPath(w.k.cfg.LogsDir, pod, c.Name, attempt),
		Process: proc, Mounts: mounts, Security: sec, Resources: resourcesFor(c),
		TTY: c.TTY, Stdin: c.Stdin, StdinOnce: c.StdinOnce,
	}, nil
}

func (w *podWorker) terminationLog(pod *corev1.Pod, c *corev1.Container, attempt int) (string, error) {
	dir := filepath.Join(w.k.cfg.PodsDir, string(pod.UID), "containers", c.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	p := filepath.Join(dir, fmt.Sprintf("%d-termination-log", attempt))
	return p, os.WriteFile(p, nil, 0o666)
}

// serviceEnv is the service-link environment of the pod's namespace (and `kubernetes`).
func (w *podWorker) serviceEnv(pod *corev1.Pod) (map[string]string, error) {
	var svcs []*corev1.Service
	add := func(ns string, keep func(*corev1.Service) bool) error {
		objs, _, err := w.k.reg.List(apiresource.Services, ns, registry.ListOptions{Labels: labels.Everything()})
		if err != nil {
			return err
		}
		for _, o := range objs {
			if s := o.(*corev1.Service); keep(s) {
				svcs = append(svcs, s)
			}
		}
		return nil
	}
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	if links {
		if err := add(pod.Namespace, func(s *corev1.Service) bool { return true }); err != nil {
			return nil, err
		}
	}
	if pod.Namespace != "default" || !links {
		if err := add("default", func(s *corev1.Service) bool { return s.Name == "kubernetes" }); err != nil {
			return nil, err
		}
	}
	return serviceEnv(svcs), nil
}

// stopAll stops every running container of the pod at once, preStop hooks first.
func (w *podWorker) stopAll(ctx context.Context, pod *corev1.Pod, grace time.Duration) {
	var wg sync.WaitGroup
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for i := range all {
		c := &all[i]
		cur := w.current(c.Name)
		if cur == nil || !cur.Running {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.stopOne(ctx, pod, c, cur, grace)
		}()
	}
	wg.Wait()
	if w.probes != nil {
		w.probes.stop()
		w.probes = nil
	}
}

// stopOne runs the preStop exec hook (within the grace period), then stops the container.
func (w *podWorker) stopOne(ctx context.Context, pod *corev1.Pod, c *corev1.Container, cur *ContainerState, grace time.Duration) {
	deadline := time.Now().Add(grace)
	if h := c.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Exec != nil && grace > 0 {
		hctx, cancel := context.WithTimeout(ctx, grace)
		code, err := w.k.cfg.Runtime.Exec(hctx, cur.ID, h.PreStop.Exec.Command, streaming.Streams{})
		cancel()
		if err != nil || code != 0 {
			w.k.events.event(pod, containerPath(pod, c.Name), corev1.EventTypeWarning, "FailedPreStopHook",
				fmt.Sprintf("PreStopHook failed: exit code %d %v", code, err))
		}
	}
	w.k.events.event(pod, containerPath(pod, c.Name), corev1.EventTypeNormal, "Killing", "Stopping container "+c.Name)
	if err := w.k.cfg.Runtime.Stop(ctx, cur.ID, max(0, time.Until(deadline))); err != nil {
		w.k.log.Warn("kubelet: stopping container", "container", c.Name, "err", err)
	}
	cur.Running = false
}

// logPath is the container attempt's log: <logs>/<ns>_<pod>_<uid>/<container>/<attempt>.log.
func logPath(logsDir string, pod *corev1.Pod, container string, attempt int) string {
	return filepath.Join(podLogDir(logsDir, pod), container, fmt.Sprintf("%d.log", attempt))
}

func podLogDir(logsDir string, pod *corev1.Pod) string {
	return filepath.Join(logsDir, strings.Join([]string{pod.Namespace, pod.Name, string(pod.UID)}, "_"))
}

func removeLogs(logsDir string, pod *corev1.Pod) {
	os.RemoveAll(podLogDir(logsDir, pod))
}
