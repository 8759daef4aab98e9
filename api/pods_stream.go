package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/streaming"
)

// serveStream serves pods/log, pods/exec and pods/attach with kube-apiserver's checks (options,
// pod, container, node) followed by the kubelet's (container state, stream options).
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, ri *requestInfo) error {
	if s.cfg.Pods == nil {
		return apierrors.NewServiceUnavailable(fmt.Sprintf("pods/%s is not available: no container runtime", ri.subresource))
	}
	switch {
	case ri.subresource == "log" && ri.verb == "get":
		return s.serveLogs(w, r, ri)
	case (ri.subresource == "exec" || ri.subresource == "attach") && (ri.verb == "get" || ri.verb == "create"):
		return s.serveSession(w, r, ri)
	}
	return apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/" + ri.subresource}, ri.verb)
}

// streamContext ends with the request or when the server stops, whichever comes first.
func (s *Server) streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	if s.stop != nil {
		stop := context.AfterFunc(s.stop, cancel)
		return ctx, func() { stop(); cancel() }
	}
	return ctx, cancel
}

func (s *Server) getPod(ri *requestInfo) (*corev1.Pod, error) {
	obj, err := s.reg.Get(resource.Pods, ri.namespace, ri.name)
	if err != nil {
		return nil, err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("pod %s/%s: stored object is a %T", ri.namespace, ri.name, obj)
	}
	return pod, nil
}

// podContainer resolves the container a request names, as kube-apiserver does: empty means
// the pod's only container; a name must be one of the pod's init, regular or ephemeral
// containers. (The default-container annotation is kubectl's business: it sends the name.)
func podContainer(pod *corev1.Pod, name string) (string, error) {
	if name == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s", pod.Name))
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, allContainerNames(pod)))
	}
	for _, n := range allContainerNames(pod) {
		if n == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

func allContainerNames(pod *corev1.Pod) []string {
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	return names
}

func containerStatus(pod *corev1.Pod, name string) (corev1.ContainerStatus, bool) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses,
		pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for _, cs := range list {
			if cs.Name == name {
				return cs, true
			}
		}
	}
	return corev1.ContainerStatus{}, false
}

// serveSession serves exec and attach.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request, ri *requestInfo) error {
	q := r.URL.Query()
	pod, err := s.getPod(ri)
	if err != nil {
		return err
	}
	container, err := podContainer(pod, q.Get("container"))
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	if !httpstream.IsUpgradeRequest(r) {
		return apierrors.NewBadRequest("Upgrade request required")
	}
	// From here on the answers are the kubelet's, which kube-apiserver relays as plain text.
	opts, err := streaming.NormalizeOptions(streaming.Options{
		Stdin: queryBool(q, "stdin"), Stdout: queryBool(q, "stdout"), Stderr: queryBool(q, "stderr"), TTY: queryBool(q, "tty"),
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil
	}
	if cs, ok := containerStatus(pod, container); !ok || cs.State.Running == nil {
		http.Error(w, fmt.Sprintf("container not found (%q)", container), http.StatusInternalServerError)
		return nil
	}
	sess := streaming.Session{Options: opts}
	if ri.subresource == "exec" {
		cmd := q["command"]
		sess.ErrorPrefix = "error executing command in container"
		sess.Run = func(ctx context.Context, st streaming.Streams) error {
			return s.cfg.Pods.Exec(ctx, pod, container, cmd, st)
		}
	} else {
		sess.ErrorPrefix = "error attaching to container"
		sess.Run = func(ctx context.Context, st streaming.Streams) error {
			return s.cfg.Pods.Attach(ctx, pod, container, st)
		}
	}
	cfg := s.cfg.Streaming
	if cfg.Logger == nil {
		cfg.Logger = s.log
	}
	ctx, cancel := s.streamContext(r)
	defer cancel()
	streaming.Serve(ctx, w, r, sess, cfg)
	return nil
}

// queryBool reads a boolean option the way kube-apiserver converts query parameters: present
// means true unless it is "false" or "0".
func queryBool(q url.Values, name string) bool {
	var b bool
	if v, ok := q[name]; ok {
		_ = runtime.Convert_Slice_string_To_bool(&v, &b, nil)
	}
	return b
}

// serveLogs serves pods/log.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request, ri *requestInfo) error {
	opts, err := podLogOptions(r.URL.Query())
	if err != nil {
		return err
	}
	if errs := validatePodLogOptions(opts); len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, ri.name, errs)
	}
	pod, err := s.getPod(ri)
	if err != nil {
		return err
	}
	if opts.Container, err = podContainer(pod, opts.Container); err != nil {
		return err
	}
	lw := newLogWriter(w, opts.Follow, opts.LimitBytes)
	if pod.Spec.NodeName == "" {
		// kube-apiserver has no kubelet to ask and answers with an empty log.
		lw.start()
		return nil
	}
	if err := logsAvailable(pod, opts.Container, opts.Previous); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	ctx, cancel := s.streamContext(r)
	defer cancel()
	err = s.cfg.Pods.Logs(ctx, pod, opts.Container, opts, lw)
	if errors.Is(err, errLogLimit) || ctx.Err() != nil {
		err = nil
	}
	if err != nil && !lw.started() {
		return fmt.Errorf("logs of %s/%s container %s: %w", pod.Namespace, pod.Name, opts.Container, err)
	}
	if err != nil {
		s.log.Warn("log stream ended early", "pod", pod.Namespace+"/"+pod.Name, "container", opts.Container, "err", err)
	}
	lw.start()
	return nil
}

// podLogOptions decodes the query as kube-apiserver converts it into PodLogOptions; a value
// that does not parse is a 400.
func podLogOptions(q url.Values) (*corev1.PodLogOptions, error) {
	opts := &corev1.PodLogOptions{Container: q.Get("container"), Follow: queryBool(q, "follow"),
		Previous: queryBool(q, "previous"), Timestamps: queryBool(q, "timestamps"),
		InsecureSkipTLSVerifyBackend: queryBool(q, "insecureSkipTLSVerifyBackend")}
	for name, dst := range map[string]**int64{"sinceSeconds": &opts.SinceSeconds, "tailLines": &opts.TailLines, "limitBytes": &opts.LimitBytes} {
		if v, ok := q[name]; ok {
			if err := runtime.Convert_Slice_string_To_Pointer_int64(&v, dst, nil); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
		}
	}
	if v := q.Get("sinceTime"); v != "" {
		var t metav1.Time
		if err := t.UnmarshalQueryParameter(v); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		opts.SinceTime = &t
	}
	return opts, nil
}

// validatePodLogOptions holds kube-apiserver's rules and messages.
func validatePodLogOptions(o *corev1.PodLogOptions) field.ErrorList {
	var errs field.ErrorList
	if o.TailLines != nil && *o.TailLines < 0 {
		errs = append(errs, field.Invalid(field.NewPath("tailLines"), *o.TailLines, "must be greater than or equal to 0"))
	}
	if o.LimitBytes != nil && *o.LimitBytes < 1 {
		errs = append(errs, field.Invalid(field.NewPath("limitBytes"), *o.LimitBytes, "must be greater than 0"))
	}
	switch {
	case o.SinceSeconds != nil && o.SinceTime != nil:
		errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
	case o.SinceSeconds != nil && *o.SinceSeconds < 1:
		errs = append(errs, field.Invalid(field.NewPath("sinceSeconds"), *o.SinceSeconds, "must be greater than 0"))
	}
	return errs
}

// logsAvailable is the kubelet's check that a container has a log to show, with its messages.
func logsAvailable(pod *corev1.Pod, container string, previous bool) error {
	cs, ok := containerStatus(pod, container)
	if !ok {
		return fmt.Errorf("container %q in pod %q is not available", container, pod.Name)
	}
	last, st := cs.LastTerminationState.Terminated, cs.State
	switch {
	case previous:
		if last == nil || last.ContainerID == "" {
			return fmt.Errorf("previous terminated container %q in pod %q not found", container, pod.Name)
		}
	case st.Running != nil:
	case st.Terminated != nil:
		if st.Terminated.ContainerID == "" && (last == nil || last.ContainerID == "") {
			return fmt.Errorf("container %q in pod %q is terminated", container, pod.Name)
		}
	case last != nil:
		if last.ContainerID == "" {
			return fmt.Errorf("container %q in pod %q is terminated", container, pod.Name)
		}
	case st.Waiting != nil:
		switch reason := st.Waiting.Reason; reason {
		case "ErrImagePull":
			return fmt.Errorf("container %q in pod %q is waiting to start: image can't be pulled", container, pod.Name)
		case "ImagePullBackOff":
			return fmt.Errorf("container %q in pod %q is waiting to start: trying and failing to pull image", container, pod.Name)
		default:
			return fmt.Errorf("container %q in pod %q is waiting to start: %v", container, pod.Name, reason)
		}
	default:
		return fmt.Errorf("container %q in pod %q is waiting to start - no logs yet", container, pod.Name)
	}
	return nil
}

// errLogLimit ends a log stream that has reached limitBytes.
var errLogLimit = errors.New("limitBytes reached")

// logWriter sends a log as text/plain: the status line goes out with the first byte (so a
// failure before any output can still be a Status), each write is flushed when following,
// and writes stop at limitBytes.
type logWriter struct {
	mu        sync.Mutex
	w         http.ResponseWriter
	flush     bool
	limited   bool
	remaining int64
	begun     bool
}

func newLogWriter(w http.ResponseWriter, follow bool, limit *int64) *logWriter {
	lw := &logWriter{w: w, flush: follow}
	if limit != nil {
		lw.limited, lw.remaining = true, *limit
	}
	return lw
}

func (l *logWriter) start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.startLocked()
}

func (l *logWriter) startLocked() {
	if l.begun {
		return
	}
	l.begun = true
	l.w.Header().Set("Content-Type", "text/plain")
	l.w.WriteHeader(http.StatusOK)
	if l.flush {
		http.NewResponseController(l.w).Flush()
	}
}

func (l *logWriter) started() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.begun
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.limited && l.remaining <= 0 {
		return 0, errLogLimit
	}
	l.startLocked()
	cut := l.limited && int64(len(p)) > l.remaining
	if cut {
		p = p[:l.remaining]
	}
	n, err := l.w.Write(p)
	l.remaining -= int64(n)
	if l.flush {
		http.NewResponseController(l.w).Flush()
	}
	if err != nil {
		return n, fmt.Errorf("write log: %w", err)
	}
	if cut {
		return n, errLogLimit
	}
	return n, nil
}
