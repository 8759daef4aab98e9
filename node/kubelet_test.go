package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podnet/podnet/api/registry"
	apiresource "github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/api/streaming"
	"github.com/podnet/podnet/runtime/sandbox"
)

// fakeRuntime runs no processes: a started container runs until the test ends it.
type fakeRuntime struct {
	mu    sync.Mutex
	n     int
	ctrs  map[string]*ContainerState
	exits map[string]chan struct{}
	log   []string
	// exitOnTerm: Stop ends the container with this code (143 = SIGTERM honoured).
	exitOnTerm int
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{ctrs: map[string]*ContainerState{}, exits: map[string]chan struct{}{}, exitOnTerm: 143}
}

func (f *fakeRuntime) record(format string, a ...any) {
	f.log = append(f.log, fmt.Sprintf(format, a...))
}

func (f *fakeRuntime) EnsureImage(ctx context.Context, ref string, policy corev1.PullPolicy, ev func(string, string, string)) (*ImageInfo, error) {
	if strings.HasPrefix(ref, "missing") {
		return nil, fmt.Errorf("pulling %s: not found", ref)
	}
	return &ImageInfo{Ref: ref, ID: "sha256:" + ref, Cmd: []string{"run-" + ref}}, nil
}

func (f *fakeRuntime) Start(ctx context.Context, req *ContainerRequest) (*ContainerState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("c%02d", f.n)
	st := &ContainerState{ID: id, PodUID: req.PodUID, Name: req.Name, Attempt: req.Attempt, Image: req.Image.Ref,
		ImageID: req.Image.ID, StartedAt: time.Now(), Running: true}
	f.ctrs[id] = st
	f.exits[id] = make(chan struct{})
	f.record("start %s#%d %s", req.Name, req.Attempt, strings.Join(req.Process.Args, " "))
	c := *st
	return &c, nil
}

func (f *fakeRuntime) List() ([]*ContainerState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*ContainerState
	for _, c := range f.ctrs {
		cc := *c
		out = append(out, &cc)
	}
	return out, nil
}

func (f *fakeRuntime) Wait(ctx context.Context, id string) (*ContainerState, error) {
	f.mu.Lock()
	ch := f.exits[id]
	f.mu.Unlock()
	if ch == nil {
		return nil, fmt.Errorf("no container %s", id)
	}
	select {
	case <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return nil, nil
}

// exit ends the running container named name with code.
func (f *fakeRuntime) exit(name string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, c := range f.ctrs {
		if c.Name == name && c.Running {
			f.end(id, code)
			return
		}
	}
	panic("no running container " + name)
}

func (f *fakeRuntime) end(id string, code int) {
	c := f.ctrs[id]
	c.Running, c.ExitCode, c.FinishedAt = false, code, time.Now()
	close(f.exits[id])
}

func (f *fakeRuntime) Stop(ctx context.Context, id string, grace time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.ctrs[id]; c != nil && c.Running {
		f.record("stop %s grace %s", c.Name, grace.Round(time.Second))
		f.end(id, f.exitOnTerm)
	}
	return nil
}

func (f *fakeRuntime) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.ctrs[id]; c != nil {
		f.record("remove %s#%d", c.Name, c.Attempt)
	}
	delete(f.ctrs, id)
	return nil
}

func (f *fakeRuntime) Exec(ctx context.Context, id string, cmd []string, s streaming.Streams) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("exec %s %s", f.ctrs[id].Name, strings.Join(cmd, " "))
	return 0, nil
}

func (f *fakeRuntime) Attach(ctx context.Context, id string, s streaming.Streams) error { return nil }

func (f *fakeRuntime) events() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.log, "\n")
}

// fakeSandboxes keeps sandboxes in memory.
type fakeSandboxes struct {
	mu  sync.Mutex
	sbs map[string]*sandbox.Sandbox
	dir string
	log []string
	// failRemoves makes Remove fail (a CNI DEL that failed); failedRemoves counts them.
	failRemoves   bool
	failedRemoves int
}

func (f *fakeSandboxes) Create(ctx context.Context, spec sandbox.Spec) (*sandbox.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sb := &sandbox.Sandbox{Dir: filepath.Join(f.dir, spec.PodUID), Record: sandbox.Record{
		ID: "sb-" + spec.Name, PodUID: spec.PodUID, Namespace: spec.Namespace, Name: spec.Name,
		Hostname: spec.Hostname, IPs: []netip.Addr{netip.MustParseAddr("10.244.0.5")}, Ready: true,
	}}
	if err := mkdirAll(filepath.Join(sb.Dir, "etc")); err != nil {
		return nil, err
	}
	f.sbs[spec.PodUID] = sb
	f.log = append(f.log, "create "+spec.Name+" hostname "+spec.Hostname)
	return sb, nil
}

func (f *fakeSandboxes) Get(uid string) (*sandbox.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if sb := f.sbs[uid]; sb != nil {
		return sb, nil
	}
	return nil, sandbox.ErrNotFound
}

func (f *fakeSandboxes) List() ([]*sandbox.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*sandbox.Sandbox
	for _, sb := range f.sbs {
		out = append(out, sb)
	}
	return out, nil
}

func (f *fakeSandboxes) Remove(ctx context.Context, uid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRemoves && f.sbs[uid] != nil {
		f.failedRemoves++
		f.log = append(f.log, "remove "+f.sbs[uid].Name+" failed")
		return errors.New("CNI DEL: plugin failed")
	}
	if sb := f.sbs[uid]; sb != nil {
		f.log = append(f.log, "remove "+sb.Name)
	}
	delete(f.sbs, uid)
	return nil
}

type kubeletEnv struct {
	t   *testing.T
	reg *registry.Registry
	rt  *fakeRuntime
	sbs *fakeSandboxes
	cfg KubeletConfig
	// stop ends the running kubelet and waits for it.
	stop func()
}

func newKubeletEnv(t *testing.T) *kubeletEnv {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(registry.Config{Store: st, Hooks: hooksFor(Scheduler{NodeName: "node1"})})
	ctx := context.Background()
	for _, ns := range []string{"default"} {
		if _, err := reg.Create(ctx, apiresource.Namespaces, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, registry.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	e := &kubeletEnv{t: t, reg: reg, rt: newFakeRuntime(), sbs: &fakeSandboxes{sbs: map[string]*sandbox.Sandbox{}, dir: t.TempDir()}}
	e.cfg = KubeletConfig{
		NodeName: "node1", NodeIP: netip.MustParseAddr("192.0.2.10"), Registry: reg,
		Sandboxes: e.sbs, Runtime: e.rt, PodsDir: t.TempDir(), LogsDir: t.TempDir(),
		DNS:            DNSConfig{ClusterDNS: []string{"10.96.0.10"}, ClusterDomain: "cluster.local"},
		BackoffInitial: 200 * time.Millisecond, BackoffMax: time.Second,
	}
	e.start()
	return e
}

func (e *kubeletEnv) start() {
	k, err := NewKubelet(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { k.Run(ctx); close(done) }()
	e.stop = func() { cancel(); <-done }
	e.t.Cleanup(e.stop)
}

func (e *kubeletEnv) create(pod *corev1.Pod) {
	e.t.Helper()
	if pod.Namespace == "" {
		pod.Namespace = "default"
	}
	if _, err := e.reg.Create(context.Background(), apiresource.Pods, pod.Namespace, pod, registry.WriteOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *kubeletEnv) get(name string) *corev1.Pod {
	obj, err := e.reg.Get(apiresource.Pods, "default", name)
	if err != nil {
		return nil
	}
	return obj.(*corev1.Pod)
}

// podSummary renders what a test checks of a pod's status, one line.
func podSummary(p *corev1.Pod) string {
	if p == nil {
		return "gone"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s ip=%s", p.Status.Phase, p.Status.PodIP)
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady || c.Type == corev1.PodInitialized {
			fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
		}
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		state := "?"
		switch {
		case cs.State.Running != nil:
			state = "running"
		case cs.State.Terminated != nil:
			state = fmt.Sprintf("terminated(%d,%s)", cs.State.Terminated.ExitCode, cs.State.Terminated.Reason)
		case cs.State.Waiting != nil:
			state = "waiting(" + cs.State.Waiting.Reason + ")"
		}
		fmt.Fprintf(&b, " %s:%s/r%d/ready=%t", cs.Name, state, cs.RestartCount, cs.Ready)
		if t := cs.LastTerminationState.Terminated; t != nil {
			fmt.Fprintf(&b, "/last=%d", t.ExitCode)
		}
	}
	return b.String()
}

// eventually waits until the pod's summary is want.
func (e *kubeletEnv) eventually(name, want string) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		if got = podSummary(e.get(name)); got == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("pod %s:\n got  %s\n want %s\nruntime:\n%s", name, got, want, e.rt.events())
}

func pod(name string, policy corev1.RestartPolicy, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{RestartPolicy: policy}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: c + "-image"})
	}
	return p
}

func TestPodRunsAndIsReady(t *testing.T) {
	e := newKubeletEnv(t)
	e.create(pod("web", corev1.RestartPolicyAlways, "nginx", "sidecar"))
	e.eventually("web", "Running ip=10.244.0.5 Initialized=True Ready=True nginx:running/r0/ready=true sidecar:running/r0/ready=true")
	p := e.get("web")
	if p.Spec.NodeName != "node1" || p.Status.HostIP != "192.0.2.10" || p.Status.StartTime == nil || p.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("nodeName %q hostIP %q startTime %v qos %q", p.Spec.NodeName, p.Status.HostIP, p.Status.StartTime, p.Status.QOSClass)
	}
	if got := p.Status.ContainerStatuses[0]; !strings.HasPrefix(got.ContainerID, "podnet://c0") || got.ImageID != "sha256:nginx-image" {
		t.Errorf("container status %+v", got)
	}
	sb, _ := e.sbs.Get(string(p.UID))
	hosts, _ := readFile(sb.File("hosts"))
	if !strings.HasSuffix(hosts, "10.244.0.5\tweb\n") {
		t.Errorf("hosts file:\n%s", hosts)
	}
}

func TestRestartBackoff(t *testing.T) {
	e := newKubeletEnv(t)
	e.create(pod("crash", corev1.RestartPolicyAlways, "app"))
	e.eventually("crash", "Running ip=10.244.0.5 Initialized=True Ready=True app:running/r0/ready=true")
	e.rt.exit("app", 1)
	// The first restart is immediate.
	e.eventually("crash", "Running ip=10.244.0.5 Initialized=True Ready=True app:running/r1/ready=true/last=1")
	e.rt.exit("app", 2)
	e.eventually("crash", "Running ip=10.244.0.5 Initialized=True Ready=False app:waiting(CrashLoopBackOff)/r1/ready=false/last=2")
	msg := e.get("crash").Status.ContainerStatuses[0].State.Waiting.Message
	if !strings.HasPrefix(msg, "back-off 200ms restarting failed container=app pod=crash_default(") {
		t.Errorf("back-off message %q", msg)
	}
	e.eventually("crash", "Running ip=10.244.0.5 Initialized=True Ready=True app:running/r2/ready=true/last=2")
}

func TestRestartPolicies(t *testing.T) {
	cases := []struct {
		policy corev1.RestartPolicy
		code   int
		want   string
	}{
		{corev1.RestartPolicyNever, 0, "Succeeded ip=10.244.0.5 Initialized=True Ready=False app:terminated(0,Completed)/r0/ready=false"},
		{corev1.RestartPolicyNever, 3, "Failed ip=10.244.0.5 Initialized=True Ready=False app:terminated(3,Error)/r0/ready=false"},
		{corev1.RestartPolicyOnFailure, 0, "Succeeded ip=10.244.0.5 Initialized=True Ready=False app:terminated(0,Completed)/r0/ready=false"},
		{corev1.RestartPolicyOnFailure, 3, "Running ip=10.244.0.5 Initialized=True Ready=True app:running/r1/ready=true/last=3"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s-%d", tc.policy, tc.code), func(t *testing.T) {
			e := newKubeletEnv(t)
			e.create(pod("job", tc.policy, "app"))
			e.eventually("job", "Running ip=10.244.0.5 Initialized=True Ready=True app:running/r0/ready=true")
			e.rt.exit("app", tc.code)
			e.eventually("job", tc.want)
			if strings.HasPrefix(tc.want, "Succeeded") || strings.HasPrefix(tc.want, "Failed") {
				// A finished pod gives its network back.
				waitFor(t, func() bool { l, _ := e.sbs.List(); return len(l) == 0 }, "sandbox removed")
			}
		})
	}
}

func TestInitContainers(t *testing.T) {
	e := newKubeletEnv(t)
	p := pod("init", corev1.RestartPolicyAlways, "app")
	p.Spec.InitContainers = []corev1.Container{{Name: "one", Image: "busybox"}, {Name: "two", Image: "busybox"}}
	e.create(p)
	e.eventually("init", "Pending ip=10.244.0.5 Initialized=False Ready=False one:running/r0/ready=false two:waiting(PodInitializing)/r0/ready=false app:waiting(PodInitializing)/r0/ready=false")
	e.rt.exit("one", 0)
	e.eventually("init", "Pending ip=10.244.0.5 Initialized=False Ready=False one:terminated(0,Completed)/r0/ready=true two:running/r0/ready=false app:waiting(PodInitializing)/r0/ready=false")
	e.rt.exit("two", 0)
	e.eventually("init", "Running ip=10.244.0.5 Initialized=True Ready=True one:terminated(0,Completed)/r0/ready=true two:terminated(0,Completed)/r0/ready=true app:running/r0/ready=true")
	if got, want := e.rt.events(), "start one#0 run-busybox\nstart two#0 run-busybox\nstart app#0 run-app-image"; got != want {
		t.Errorf("runtime:\n%s\nwant\n%s", got, want)
	}
}

func TestGracefulDeletion(t *testing.T) {
	e := newKubeletEnv(t)
	p := pod("web", corev1.RestartPolicyAlways, "nginx")
	grace := int64(7)
	p.Spec.TerminationGracePeriodSeconds = &grace
	p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"nginx", "-s", "quit"}}}}
	e.create(p)
	e.eventually("web", "Running ip=10.244.0.5 Initialized=True Ready=True nginx:running/r0/ready=true")
	if _, _, err := e.reg.Delete(context.Background(), apiresource.Pods, "default", "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("web", "gone")
	want := "start nginx#0 run-nginx-image\nexec nginx nginx -s quit\nstop nginx grace 7s\nremove nginx#0"
	if got := e.rt.events(); got != want {
		t.Errorf("runtime:\n%s\nwant\n%s", got, want)
	}
	if l, _ := e.sbs.List(); len(l) != 0 {
		t.Errorf("sandboxes left: %d", len(l))
	}
}

// A failed teardown keeps the pod (Terminating, or its worker when force-deleted) and is tried
// again until the sandbox is gone, so that its veth and IP are not left until a restart.
func TestDeletionRetriesFailedTeardown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		grace *int64
	}{{"graceful", nil}, {"force", new(int64)}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newKubeletEnv(t)
			e.create(pod("web", corev1.RestartPolicyAlways, "nginx"))
			e.eventually("web", "Running ip=10.244.0.5 Initialized=True Ready=True nginx:running/r0/ready=true")
			setFailing := func(on bool) {
				e.sbs.mu.Lock()
				e.sbs.failRemoves = on
				e.sbs.mu.Unlock()
			}
			setFailing(true)
			if _, _, err := e.reg.Delete(context.Background(), apiresource.Pods, "default", "web", metav1.DeleteOptions{GracePeriodSeconds: tc.grace}); err != nil {
				t.Fatal(err)
			}
			// Tried again (the retry is a second away) and still there.
			waitFor(t, func() bool {
				e.sbs.mu.Lock()
				defer e.sbs.mu.Unlock()
				return e.sbs.failedRemoves >= 2
			}, "the teardown retried")
			if l, _ := e.sbs.List(); len(l) != 1 {
				t.Fatalf("sandboxes: %d, want the pod's", len(l))
			}
			if tc.grace == nil && e.get("web") == nil {
				t.Fatal("the pod object went while its sandbox could not be removed")
			}
			setFailing(false)
			waitFor(t, func() bool {
				l, _ := e.sbs.List()
				return len(l) == 0
			}, "the sandbox removed")
			e.eventually("web", "gone")
			e.sbs.mu.Lock()
			got := strings.Join(e.sbs.log, "\n")
			e.sbs.mu.Unlock()
			if !strings.HasPrefix(got, "create web hostname web\nremove web failed\nremove web failed\n") || !strings.HasSuffix(got, "failed\nremove web") {
				t.Errorf("sandboxes:\n%s\nwant a create, failed removes, then one remove", got)
			}
		})
	}
}

// A restarted kubelet adopts running containers (no new start, same restart count) and removes
// what belongs to pods that went while it was down.
func TestRestartAdoptsAndCleansUp(t *testing.T) {
	e := newKubeletEnv(t)
	e.create(pod("keep", corev1.RestartPolicyAlways, "app"))
	e.create(pod("drop", corev1.RestartPolicyAlways, "other"))
	e.eventually("drop", "Running ip=10.244.0.5 Initialized=True Ready=True other:running/r0/ready=true")
	e.eventually("keep", "Running ip=10.244.0.5 Initialized=True Ready=True app:running/r0/ready=true")
	e.rt.exit("app", 1) // restartCount 1 must survive the kubelet's restart
	running := "Running ip=10.244.0.5 Initialized=True Ready=True app:running/r1/ready=true/last=1"
	e.eventually("keep", running)
	e.stop()
	before := e.rt.events()
	// While the kubelet is down, "drop" is force-deleted.
	zero := int64(0)
	if _, _, err := e.reg.Delete(context.Background(), apiresource.Pods, "default", "drop", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	e.start()
	waitFor(t, func() bool { l, _ := e.sbs.List(); return len(l) == 1 }, "orphan sandbox removed")
	waitFor(t, func() bool { return strings.Contains(e.rt.events(), "remove other#0") }, "orphan container removed")
	e.eventually("keep", running)
	if got, want := strings.TrimPrefix(e.rt.events(), before+"\n"), "stop other grace 0s\nremove other#0"; got != want {
		t.Errorf("after the restart the runtime saw:\n%s\nwant:\n%s", got, want)
	}
}

func TestImagePullErrors(t *testing.T) {
	e := newKubeletEnv(t)
	e.create(pod("bad", corev1.RestartPolicyAlways, "missing"))
	// ErrImagePull is what the failed pull reports; the syncs that follow within the back-off
	// report ImagePullBackOff without pulling.
	e.eventually("bad", "Pending ip=10.244.0.5 Initialized=True Ready=False missing:waiting(ImagePullBackOff)/r0/ready=false")
	msg := e.get("bad").Status.ContainerStatuses[0].State.Waiting.Message
	if want := `Back-off pulling image "missing-image"`; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
	evs, _, err := e.reg.List(apiresource.Events, "default", registry.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, o := range evs {
		ev := o.(*corev1.Event)
		reasons = append(reasons, ev.Reason+": "+ev.Message)
	}
	sort.Strings(reasons)
	if got := strings.Join(reasons, "\n"); !strings.Contains(got, `Failed: Failed to pull image "missing-image": pulling missing-image: not found`) ||
		!strings.Contains(got, "Failed: Error: ErrImagePull") || !strings.Contains(got, `BackOff: Back-off pulling image "missing-image"`) {
		t.Errorf("events:\n%s", got)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fakeRuntime) Log(ctx context.Context, c *ContainerState, o LogOptions, stdout, stderr io.Writer) error {
	_, err := fmt.Fprintf(stdout, "log of %s#%d\n", c.Name, c.Attempt)
	return err
}

// After a reboot the run dir is empty: the sandbox of a pod is gone and its containers have
// ended. The restarted kubelet gives the pod a new sandbox and starts its containers in it.
func TestRebootGivesNewSandbox(t *testing.T) {
	e := newKubeletEnv(t)
	e.create(pod("web", corev1.RestartPolicyAlways, "app"))
	e.eventually("web", "Running ip=10.244.0.5 Initialized=True Ready=True app:running/r0/ready=true")
	e.stop()
	e.sbs.mu.Lock()
	clear(e.sbs.sbs)
	e.sbs.mu.Unlock()
	e.rt.mu.Lock()
	for id, c := range e.rt.ctrs {
		if c.Running {
			e.rt.end(id, 137)
		}
	}
	e.rt.mu.Unlock()
	before := e.rt.events()
	e.start()
	e.eventually("web", "Running ip=10.244.0.5 Initialized=True Ready=True app:running/r1/ready=true/last=137")
	e.sbs.mu.Lock()
	creates := strings.Count(strings.Join(e.sbs.log, "\n"), "create web")
	e.sbs.mu.Unlock()
	if creates != 2 {
		t.Errorf("sandbox created %d times, want 2 (a new one after the reboot)", creates)
	}
	if got, want := strings.TrimPrefix(e.rt.events(), before+"\n"), "start app#1 run-app-image"; got != want {
		t.Errorf("after the reboot the runtime saw:\n%s\nwant:\n%s", got, want)
	}
}
