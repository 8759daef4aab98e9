package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podnet/podnet/api/streaming"
)

type probeKind string

const (
	probeLiveness  probeKind = "Liveness"
	probeReadiness probeKind = "Readiness"
	probeStartup   probeKind = "Startup"
)

// probeSet runs the probes of a pod's containers, one goroutine per probe, and keeps their
// latest results for the worker (which they kick on every change).
type probeSet struct {
	w  *podWorker
	mu sync.Mutex
	// by container name: the probes of its current container instance
	byName map[string]*containerProbes
}

type containerProbes struct {
	id      string
	cancel  context.CancelFunc
	ready   bool
	started bool
	dead    bool // liveness failed
}

// status is (ready, started) of a running container; without probes both are true.
func (s *probeSet) status(name, id string) (ready, started bool) {
	if s == nil {
		return true, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := s.byName[name]
	if cp == nil || cp.id != id {
		return true, true
	}
	return cp.ready && cp.started, cp.started
}

func (s *probeSet) livenessFailed(name, id string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := s.byName[name]
	return cp != nil && cp.id == id && cp.dead
}

func (s *probeSet) stop() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cp := range s.byName {
		cp.cancel()
	}
	s.byName = map[string]*containerProbes{}
}

// ensureProbes starts the probes of a container instance that has none running yet.
func (w *podWorker) ensureProbes(pod *corev1.Pod, c *corev1.Container, cur *ContainerState) {
	if c.LivenessProbe == nil && c.ReadinessProbe == nil && c.StartupProbe == nil {
		return
	}
	if w.probes == nil {
		w.probes = &probeSet{w: w, byName: map[string]*containerProbes{}}
	}
	s := w.probes
	s.mu.Lock()
	defer s.mu.Unlock()
	if cp := s.byName[c.Name]; cp != nil {
		if cp.id == cur.ID {
			return
		}
		cp.cancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	cp := &containerProbes{id: cur.ID, cancel: cancel, ready: c.ReadinessProbe == nil, started: c.StartupProbe == nil}
	s.byName[c.Name] = cp
	podIP := ""
	if w.sb != nil && len(w.sb.IPs) > 0 {
		podIP = w.sb.IPs[0].String()
	}
	p := &prober{w: w, pod: pod, c: c, id: cur.ID, podIP: podIP}
	if c.StartupProbe != nil {
		go p.loop(ctx, probeStartup, c.StartupProbe, cp)
	}
	if c.LivenessProbe != nil {
		go p.loop(ctx, probeLiveness, c.LivenessProbe, cp)
	}
	if c.ReadinessProbe != nil {
		go p.loop(ctx, probeReadiness, c.ReadinessProbe, cp)
	}
}

type prober struct {
	w     *podWorker
	pod   *corev1.Pod
	c     *corev1.Container
	id    string
	podIP string
}

func orDefault(v, d int32) time.Duration {
	if v <= 0 {
		v = d
	}
	return time.Duration(v) * time.Second
}

// loop runs one probe every period after the initial delay and applies the thresholds.
// Liveness and readiness wait for the startup probe, as kubelet does.
func (p *prober) loop(ctx context.Context, kind probeKind, pr *corev1.Probe, cp *containerProbes) {
	s := p.w.probes
	period := orDefault(pr.PeriodSeconds, 10)
	timeout := orDefault(pr.TimeoutSeconds, 1)
	success := int(max(pr.SuccessThreshold, 1))
	failure := int(max(pr.FailureThreshold, 1))
	if pr.FailureThreshold == 0 {
		failure = 3
	}
	if !sleepCtx(ctx, time.Duration(pr.InitialDelaySeconds)*time.Second) {
		return
	}
	var okRun, failRun int
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		s.mu.Lock()
		started := cp.started
		s.mu.Unlock()
		if kind == probeStartup || started {
			ok, msg := p.run(ctx, pr, timeout)
			if ctx.Err() != nil {
				return
			}
			if ok {
				okRun, failRun = okRun+1, 0
			} else {
				okRun, failRun = 0, failRun+1
				p.w.k.events.event(p.pod, containerPath(p.pod, p.c.Name), corev1.EventTypeWarning, "Unhealthy",
					fmt.Sprintf("%s probe failed: %s", kind, msg))
			}
			if p.apply(kind, cp, okRun >= success, failRun >= failure) {
				p.w.poke()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// apply records a threshold crossing; changed says the worker must look.
func (p *prober) apply(kind probeKind, cp *containerProbes, passed, failed bool) (changed bool) {
	s := p.w.probes
	s.mu.Lock()
	defer s.mu.Unlock()
	switch kind {
	case probeStartup:
		if passed && !cp.started {
			cp.started, changed = true, true
		}
		if failed && !cp.started && !cp.dead {
			cp.dead, changed = true, true
		}
	case probeLiveness:
		if failed && !cp.dead {
			cp.dead, changed = true, true
		}
	case probeReadiness:
		if passed && !cp.ready {
			cp.ready, changed = true, true
		}
		if failed && cp.ready {
			cp.ready, changed = false, true
		}
	}
	return changed
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// run performs one probe; msg says why it failed, in kubelet's words.
func (p *prober) run(ctx context.Context, pr *corev1.Probe, timeout time.Duration) (ok bool, msg string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case pr.Exec != nil:
		var out strings.Builder
		code, err := p.w.k.cfg.Runtime.Exec(ctx, p.id, pr.Exec.Command, streaming.Streams{Stdout: &out, Stderr: &out})
		if err != nil {
			if ctx.Err() != nil {
				return false, fmt.Sprintf("command %q timed out", strings.Join(pr.Exec.Command, " "))
			}
			return false, err.Error()
		}
		return code == 0, out.String()
	case pr.HTTPGet != nil:
		return p.httpGet(ctx, pr.HTTPGet)
	case pr.TCPSocket != nil:
		port, err := p.port(pr.TCPSocket.Port)
		if err != nil {
			return false, err.Error()
		}
		host := pr.TCPSocket.Host
		if host == "" {
			host = p.podIP
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, fmt.Sprintf("dial tcp %s: %v", net.JoinHostPort(host, strconv.Itoa(port)), err)
		}
		conn.Close()
		return true, ""
	}
	return true, ""
}

func (p *prober) httpGet(ctx context.Context, g *corev1.HTTPGetAction) (bool, string) {
	port, err := p.port(g.Port)
	if err != nil {
		return false, err.Error()
	}
	host := g.Host
	if host == "" {
		host = p.podIP
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: g.Path}
	if u.Path == "" {
		u.Path = "/"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "kube-probe/1.32")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // as kubelet: probes do not verify
		DisableKeepAlives: true,
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Sprintf("Get %q: %v", u.String(), err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return true, ""
	}
	return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
}

// port resolves a probe's port, by number or by the name of one of the container's ports.
func (p *prober) port(v intstr.IntOrString) (int, error) {
	if v.Type == intstr.Int {
		return v.IntValue(), nil
	}
	for _, cp := range p.c.Ports {
		if cp.Name == v.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("couldn't find port: %s in container %s", v.StrVal, p.c.Name)
}
