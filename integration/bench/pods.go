package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

const podLabel = "app=podbench"

// podOptions sizes the pod figures.
type podOptions struct {
	images  string        // directory holding busybox.tar (make images)
	seq     int           // pods created one after another
	burst   int           // pods created at once, on top of the sequential ones
	cap     int           // the most-pods figure stops here
	batch   int           // pods created at once per step of the most-pods figure
	timeout time.Duration // how long a pod (or a batch) may take to become Ready
}

// podFigures is what the pod section measures on one side (podnet or podman).
type podFigures struct {
	seq, burst  latency
	rssMean     float64 // per shim (podnet) or conmon (podman), while the sequential pods run
	rssMax      float64
	rssCount    int
	idle        float64 // podnet serve before any pod
	daemon      float64 // podnet serve with seq+burst pods running
	running     int     // pods running when daemon was read
	most        int
	mostStopped string // why the most-pods figure stopped
}

// podBench drives pods through the API of a podnet started for this section alone (so that its
// memory is the pods', not the Services' of the API section) and watches them become Ready.
type podBench struct {
	p     *podnet
	pods  typedcorev1.PodInterface
	mu    sync.Mutex
	ready map[string]time.Time // when the watch first delivered Ready=True
	seen  map[string]bool      // present in the API, as the watch last said
	next  int
}

func newPodBench(ctx context.Context, p *podnet) (*podBench, error) {
	cs, err := kubernetes.NewForConfig(&rest.Config{
		Host: podnetURL, BearerToken: p.token, TLSClientConfig: rest.TLSClientConfig{CAData: p.ca},
		QPS: 1000, Burst: 1000, // client-go's default throttling would serialise the burst
	})
	if err != nil {
		return nil, err
	}
	b := &podBench{p: p, pods: cs.CoreV1().Pods("default"), ready: map[string]time.Time{}, seen: map[string]bool{}}
	list, err := b.pods.List(ctx, metav1.ListOptions{LabelSelector: podLabel})
	if err != nil {
		return nil, err
	}
	go b.watch(ctx, list.ResourceVersion)
	return b, nil
}

// watch keeps ready and seen current; it stamps each pod the moment its Ready event arrives.
func (b *podBench) watch(ctx context.Context, rv string) {
	for ctx.Err() == nil {
		w, err := b.pods.Watch(ctx, metav1.ListOptions{LabelSelector: podLabel, ResourceVersion: rv})
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for ev := range w.ResultChan() {
			now := time.Now()
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				if ev.Type == watch.Error { // expired: start again from a fresh list
					rv = b.relist(ctx)
				}
				continue
			}
			rv = pod.ResourceVersion
			b.observe(pod, ev.Type == watch.Deleted, now)
		}
		w.Stop()
	}
}

func (b *podBench) relist(ctx context.Context) string {
	list, err := b.pods.List(ctx, metav1.ListOptions{LabelSelector: podLabel})
	if err != nil {
		return ""
	}
	b.mu.Lock()
	b.seen = map[string]bool{}
	b.mu.Unlock()
	for i := range list.Items {
		b.observe(&list.Items[i], false, time.Now())
	}
	return list.ResourceVersion
}

func (b *podBench) observe(pod *corev1.Pod, deleted bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if deleted {
		delete(b.seen, pod.Name)
		return
	}
	b.seen[pod.Name] = true
	if _, done := b.ready[pod.Name]; done {
		return
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			b.ready[pod.Name] = now
		}
	}
}

// create makes one busybox pod and returns its name and when the create call returned.
func (b *podBench) create(ctx context.Context, name string) (time.Time, error) {
	grace := int64(1) // sleep is PID 1 and ignores SIGTERM: deletion waits for the grace period
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "podbench"}},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{{
			Name: "c", Image: "busybox:latest", ImagePullPolicy: corev1.PullIfNotPresent,
			Command: []string{"sleep", "3600"},
		}}},
	}
	if _, err := b.pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return time.Time{}, fmt.Errorf("create pod %s: %w", name, err)
	}
	return time.Now(), nil
}

func (b *podBench) newName() string {
	b.next++
	return fmt.Sprintf("bench-%03d", b.next)
}

// waitReady waits until every pod of names is Ready and returns their create-to-Ready times.
func (b *podBench) waitReady(names []string, created map[string]time.Time, timeout time.Duration) ([]time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		b.mu.Lock()
		var d []time.Duration
		for _, n := range names {
			if at, ok := b.ready[n]; ok {
				d = append(d, max(0, at.Sub(created[n])))
			}
		}
		b.mu.Unlock()
		if len(d) == len(names) {
			return d, nil
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("%d of %d pods not Ready after %s", len(names)-len(d), len(names), timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// createAtOnce creates n pods concurrently and waits for all of them to become Ready.
func (b *podBench) createAtOnce(ctx context.Context, n int, timeout time.Duration) ([]time.Duration, error) {
	names := make([]string, n)
	for i := range names {
		names[i] = b.newName()
	}
	created := make(map[string]time.Time, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at, err := b.create(ctx, name)
			mu.Lock()
			created[name], errs[i] = at, err
			mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return b.waitReady(names, created, timeout)
}

// run measures podnet's side of the pod table.
func (b *podBench) run(ctx context.Context, o podOptions) (podFigures, error) {
	f := podFigures{idle: rssMB(b.p.pid())}
	var seq []time.Duration
	for i := 0; i < o.seq; i++ {
		name := b.newName()
		at, err := b.create(ctx, name)
		if err != nil {
			return f, err
		}
		d, err := b.waitReady([]string{name}, map[string]time.Time{name: at}, o.timeout)
		if err != nil {
			return f, fmt.Errorf("sequential pod %d: %w", i+1, err)
		}
		seq = append(seq, d...)
	}
	f.seq = percentiles(seq)
	time.Sleep(time.Second) // let the shims settle after their start-up work
	f.rssMean, f.rssMax, f.rssCount = procsRSS("podnet-shim", b.p.runDir)
	burst, err := b.createAtOnce(ctx, o.burst, o.timeout)
	if err != nil {
		return f, fmt.Errorf("%d pods at once: %w", o.burst, err)
	}
	f.burst = percentiles(burst)
	time.Sleep(3 * time.Second) // as for the API figures: let start-up garbage be collected
	f.daemon, f.running = rssMB(b.p.pid()), o.seq+o.burst

	f.most, f.mostStopped = f.running, fmt.Sprintf("the cap of %d", o.cap)
	for f.most < o.cap {
		n := min(o.batch, o.cap-f.most)
		d, err := b.createAtOnce(ctx, n, o.timeout)
		f.most += len(d)
		if err != nil {
			f.mostStopped = err.Error()
			break
		}
	}
	return f, nil
}

// deleteAll deletes every bench pod and waits until the API, the shims and the container
// bundles are all gone.
func (b *podBench) deleteAll(ctx context.Context, timeout time.Duration) error {
	list, err := b.pods.List(ctx, metav1.ListOptions{LabelSelector: podLabel})
	if err != nil {
		return err
	}
	jobs := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range jobs {
				if err := b.pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("delete %s: %w", name, err))
					mu.Unlock()
				}
			}
		}()
	}
	for _, p := range list.Items {
		jobs <- p.Name
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		left, err := b.pods.List(ctx, metav1.ListOptions{LabelSelector: podLabel})
		if err != nil {
			return err
		}
		state := leftState(b.p)
		if len(left.Items) == 0 && state == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %d pods still in the API; %s", timeout, len(left.Items), state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// leftState names what the node still holds for pods: shims, sandboxes, bundles, mounts.
func leftState(p *podnet) string {
	var left []string
	for _, d := range []string{filepath.Join(p.runDir, "shims"), filepath.Join(p.runDir, "pods"), filepath.Join(p.dataDir, "containers")} {
		if e, _ := os.ReadDir(d); len(e) > 0 {
			left = append(left, fmt.Sprintf("%d entries in %s", len(e), d))
		}
	}
	if n := mountsUnder(filepath.Dir(p.dataDir)); n > 0 {
		left = append(left, fmt.Sprintf("%d mounts under %s", n, filepath.Dir(p.dataDir)))
	}
	if _, _, n := procsRSS("podnet-shim", p.runDir); n > 0 {
		left = append(left, fmt.Sprintf("%d shims running", n))
	}
	return strings.Join(left, ", ")
}

// mountsUnder counts this mount namespace's mounts at or below dir.
func mountsUnder(dir string) int {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			n++
		}
	}
	return n
}

// procsRSS reads VmRSS of every process whose executable is named exe and whose command line
// mentions marker (the bench's own directories, so that other users of the binary are not
// counted): mean and max in MB, and how many there are.
func procsRSS(exe, marker string) (mean, maxMB float64, n int) {
	entries, _ := os.ReadDir("/proc")
	var sum float64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		path, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || filepath.Base(strings.TrimSuffix(path, " (deleted)")) != exe {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if !strings.Contains(string(cmdline), marker) {
			continue
		}
		rss := rssMB(pid)
		if rss < 0 {
			continue
		}
		sum += rss
		maxMB = max(maxMB, rss)
		n++
	}
	if n == 0 {
		return 0, 0, 0
	}
	return sum / float64(n), maxMB, n
}

// benchPods runs the pod section: podnet, then podman with the same image and counts.
func benchPods(ctx context.Context, bin, dir string, o podOptions) (ours, peer podFigures, peerErr error, err error) {
	image := filepath.Join(o.images, "busybox.tar")
	if _, err := os.Stat(image); err != nil {
		return ours, peer, nil, fmt.Errorf("%w (make images builds it)", err)
	}
	data := filepath.Join(dir, "podnet", "data")
	if err := run(bin, "image", "import", "--data-dir", data, image); err != nil {
		return ours, peer, nil, err
	}
	// --pod-cidr: the default /24 holds 253 pods, which would make addresses, not the machine,
	// the limit of the most-pods figure.
	p, err := startPodnet(ctx, bin, filepath.Join(dir, "podnet"), "--offline", "--pod-cidr", "10.244.0.0/22")
	if err != nil {
		return ours, peer, nil, err
	}
	defer p.stop()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b, err := newPodBench(wctx, p)
	if err != nil {
		return ours, peer, nil, err
	}
	ours, err = b.run(ctx, o)
	if derr := b.deleteAll(ctx, 3*time.Minute); derr != nil {
		err = errors.Join(err, fmt.Errorf("cleaning up podnet's pods: %w", derr))
	}
	if err != nil {
		return ours, peer, nil, err
	}
	peer, peerErr = benchPodman(ctx, filepath.Join(dir, "podman"), image, o)
	return ours, peer, peerErr, nil
}

func podRows(o podOptions, ours, peer podFigures, peerErr error) []row {
	pm := func(s string) string {
		if peerErr != nil {
			return "-"
		}
		return s
	}
	return []row{
		{fmt.Sprintf("%d one after another: p50 (ms)", o.seq), ms(ours.seq.p50), pm(ms(peer.seq.p50)), "≤ 100 ms"},
		{fmt.Sprintf("%d one after another: p99 (ms)", o.seq), ms(ours.seq.p99), pm(ms(peer.seq.p99)), ""},
		{fmt.Sprintf("%d at once: p50 (ms)", o.burst), ms(ours.burst.p50), pm(ms(peer.burst.p50)), ""},
		{fmt.Sprintf("%d at once: p99 (ms)", o.burst), ms(ours.burst.p99), pm(ms(peer.burst.p99)), ""},
		{fmt.Sprintf("RSS per shim / conmon, mean of %d (MB)", ours.rssCount), fmt.Sprintf("%.2f", ours.rssMean), pm(fmt.Sprintf("%.2f (%d)", peer.rssMean, peer.rssCount)), "≤ 3 MB"},
		{"RSS per shim / conmon, max (MB)", fmt.Sprintf("%.2f", ours.rssMax), pm(fmt.Sprintf("%.2f", peer.rssMax)), ""},
		{"daemon RSS, no pods (MB)", fmt.Sprintf("%.1f", ours.idle), "(no daemon)", ""},
		{fmt.Sprintf("daemon RSS, %d pods (MB)", ours.running), fmt.Sprintf("%.1f", ours.daemon), "(no daemon)", "≤ 100 MB"},
		{fmt.Sprintf("most pods held (cap %d)", o.cap), strconv.Itoa(ours.most), "(not measured)", "≥ 250"},
	}
}
