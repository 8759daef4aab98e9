package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// svcOptions sizes the services section.
type svcOptions struct {
	images   string        // directory holding busybox.tar and nginx.tar (make images)
	max      int           // services present at the largest level; levels are 0, max/10, max
	samples  int           // services created per level for the programming figure
	runs     int           // full syncs timed
	connects int           // sequential connects per first-packet figure
	workers  int           // concurrent HTTP clients
	httpDur  time.Duration // (c): per client and mode
	httpOnly bool          // (c) only from the client and in the mode the goal is read on
	timeout  time.Duration // pod Ready, and one service's programming
}

// svcFigures is what the services section measures.
type svcFigures struct {
	levels  []int
	prog    map[int]latency          // (a) create to first connection, by services present
	full    fullSyncFigures          // (b) podnet's proxy in process
	peer    peerFigures              // (a) and (b) peer: kube-proxy's layout with the same nft
	http    map[string]httpFigures   // (c) by client, mode and target (httpKey)
	connect map[string]connectFigure // (d) by target
	small   int                      // services present for the small first-packet figure
}

// The targets of figures (c) and (d).
const (
	tgtPod       = "pod IP"
	tgtClusterIP = "ClusterIP"
	tgtNodePort  = "NodePort"
)

// benchServices runs the section: the in-process and peer ruleset figures first (nothing else
// runs then), then a podnet with the nginx backend for the figures through the kernel.
func benchServices(ctx context.Context, bin, dir string, o svcOptions) (f svcFigures, err error) {
	unlink, err := setupNodeLink()
	if err != nil {
		return f, err
	}
	defer func() { err = errors.Join(err, unlink()) }()
	nodeIP := netip.MustParseAddr(svcNodeIP)
	f.levels = []int{0, o.max / 10, o.max}
	f.small = 10
	if f.full, err = benchFullSync(ctx, o.max, o.runs, nodeIP); err != nil {
		return f, fmt.Errorf("full sync: %w", err)
	}
	if f.peer, err = benchKubeProxyLayout(ctx, o.samples, f.levels, nodeIP); err != nil {
		return f, err
	}
	n, err := startSvcNode(ctx, bin, dir, o.images)
	if err != nil {
		return f, err
	}
	defer func() { err = errors.Join(err, n.stop()) }()
	podIP, err := n.startWeb(ctx, o.timeout)
	if err != nil {
		return f, err
	}
	defer func() { err = errors.Join(err, n.stopWeb(ctx, time.Minute)) }()
	err = n.measure(ctx, o, podIP, &f)
	return f, errors.Join(err, n.clean(ctx, o))
}

// measure runs (a), (c) and (d) while services are added level by level. "Present" counts
// every Service in the API but the kubernetes one and the one being measured: the NodePort
// service in front of nginx and max-1 selectorless fillers at the last level.
func (n *svcNode) measure(ctx context.Context, o svcOptions, podIP netip.Addr, f *svcFigures) error {
	base, err := n.waitBuiltins(ctx, o.timeout)
	if err != nil {
		return err
	}
	n.base = base
	f.prog, f.http, f.connect = map[int]latency{}, map[string]httpFigures{}, map[string]connectFigure{}
	if err := n.programLevel(ctx, o, 0, base, f); err != nil {
		return err
	}
	web, err := n.cs.CoreV1().Services(svcNamespace).Create(ctx, webService(webName, corev1.ServiceTypeNodePort), metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create service %s: %w", webName, err)
	}
	clusterAddr := net.JoinHostPort(web.Spec.ClusterIP, "80")
	nodeAddr := net.JoinHostPort(svcNodeIP, strconv.Itoa(int(web.Spec.Ports[0].NodePort)))
	podAddr := net.JoinHostPort(podIP.String(), "80")
	if _, err := firstConnect(ctx, clusterAddr, o.timeout); err != nil {
		return err
	}
	present := 1
	grow := func(to int) error {
		if err := n.fill(ctx, present-1, to-1); err != nil {
			return err
		}
		present = to
		return waitProgrammed(ctx, base+present, 2*time.Minute, 200*time.Millisecond)
	}
	if err := grow(f.small); err != nil {
		return err
	}
	if err := n.connectFigures(clusterAddr, podAddr, f.small, o.connects, f); err != nil {
		return err
	}
	for _, level := range f.levels[1:] {
		if err := grow(level); err != nil {
			return err
		}
		if err := n.programLevel(ctx, o, level, base+present, f); err != nil {
			return err
		}
	}
	if err := n.connectFigures(clusterAddr, podAddr, present, o.connects, f); err != nil {
		return err
	}
	return n.httpFigures(ctx, o, map[string]string{tgtPod: podAddr, tgtClusterIP: clusterAddr, tgtNodePort: nodeAddr}, f)
}

func (n *svcNode) programLevel(ctx context.Context, o svcOptions, level, count int, f *svcFigures) error {
	d := make([]time.Duration, 0, o.samples)
	for i := 0; i < o.samples; i++ {
		t, err := n.programLatency(ctx, fmt.Sprintf("prog-%d-%d", level, i), count, o.timeout)
		if err != nil {
			return fmt.Errorf("programming beside %d services: %w", level, err)
		}
		d = append(d, t)
	}
	f.prog[level] = percentiles(d)
	return nil
}

// connectFigures is (d) with present services: the pod IP measured next to the ClusterIP,
// so that both see the same machine.
func (n *svcNode) connectFigures(clusterAddr, podAddr string, present, count int, f *svcFigures) error {
	for _, t := range []struct{ key, addr string }{
		{fmt.Sprintf("%s, %d", tgtPod, present), podAddr},
		{fmt.Sprintf("%s, %d", tgtClusterIP, present), clusterAddr},
	} {
		l, err := connectLatency(t.addr, count)
		if err != nil {
			return err
		}
		f.connect[t.key] = l
	}
	return nil
}

// flushConntrack empties the bench namespace's connection tracking table (its own: conntrack
// is per network namespace) so that one run's closed connections do not fill it for the next.
func flushConntrack() { _ = netlink.ConntrackTableFlush(netlink.ConntrackTable) }

// clean deletes every service the section made and waits until the proxy holds only the
// daemon's own Services again.
func (n *svcNode) clean(ctx context.Context, o svcOptions) error {
	svcs := n.cs.CoreV1().Services(svcNamespace)
	var errs []error
	if err := svcs.Delete(ctx, webName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err)
	}
	errs = append(errs, n.unfill(ctx, 0, o.max))
	errs = append(errs, waitProgrammed(ctx, n.base, 2*time.Minute, 200*time.Millisecond))
	list, err := svcs.List(ctx, metav1.ListOptions{})
	if err == nil && len(list.Items) != 1 {
		err = fmt.Errorf("%d services left in %s, want only kubernetes", len(list.Items), svcNamespace)
	}
	errs = append(errs, err)
	return errors.Join(errs...)
}

// stop ends podnet and removes the table its proxy leaves behind on purpose (so that services
// keep working while the daemon restarts), then checks that no table of the section is left.
func (n *svcNode) stop() error {
	n.p.stop()
	_ = run("nft", "delete", "table", "ip", "podnet")
	out, err := exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft list tables: %v: %s", err, out)
	}
	for _, t := range []string{"ip podnet\n", "ip podnet-bench\n", "ip " + kpTable + "\n"} {
		if strings.Contains(string(out)+"\n", "table "+t) {
			return fmt.Errorf("table %s left behind", strings.TrimSpace(t))
		}
	}
	return nil
}

// svcRows is the section's table.
func svcRows(o svcOptions, f svcFigures) []row {
	var rows []row
	for _, level := range f.levels {
		goal := ""
		if level == o.max {
			goal = "p50 ≤ 50 ms"
		}
		peer := f.peer.addAt[level]
		rows = append(rows,
			row{fmt.Sprintf("(a) service programmed, %s present: p50 (ms)", count(level)), ms(f.prog[level].p50), ms(peer.p50), goal},
			row{fmt.Sprintf("(a) service programmed, %s present: p99 (ms)", count(level)), ms(f.prog[level].p99), ms(peer.p99), ""})
	}
	rows = append(rows,
		row{fmt.Sprintf("(b) full sync %s × 2 endpoints: median of %d (ms)", count(f.full.services), len(f.full.runs)),
			ms(f.full.median()), ms(f.peer.full) + " (one run)", "≤ 1000 ms"},
		row{fmt.Sprintf("(b) full sync %s × 2 endpoints: worst (ms)", count(f.full.services)),
			ms(f.full.worst()), "", ""})
	rows = append(rows, httpRows(o, f)...)
	slow := 0
	for _, key := range []string{
		fmt.Sprintf("%s, %d", tgtPod, f.small), fmt.Sprintf("%s, %d", tgtClusterIP, f.small),
		fmt.Sprintf("%s, %d", tgtPod, o.max), fmt.Sprintf("%s, %d", tgtClusterIP, o.max),
	} {
		target, present, _ := strings.Cut(key, ", ")
		n, _ := strconv.Atoi(present)
		goal := ""
		if target == tgtClusterIP && n == o.max {
			goal = "same as with " + strconv.Itoa(f.small)
		}
		l := f.connect[key]
		rows = append(rows,
			row{fmt.Sprintf("(d) connect to %s, %s present: p50 (ms)", target, count(n)), ms3(l.p50), "-", goal},
			row{fmt.Sprintf("(d) connect to %s, %s present: p99 (ms)", target, count(n)), ms3(l.p99), "-", ""})
		slow += l.slow
	}
	rows = append(rows, row{fmt.Sprintf("(d) connects slower than %s (a SYN lost)", retransmitted), strconv.Itoa(slow), "-", ""})
	return rows
}

// httpRows are figure (c)'s rows: per client and mode, each target's requests per second and
// p99, the ClusterIP and NodePort against the pod IP of the same client and mode.
func httpRows(o svcOptions, f svcFigures) []row {
	var rows []row
	for _, client := range httpClients {
		for _, mode := range httpModes {
			for _, t := range httpTargets {
				k := httpKey(client, mode, t)
				h, ok := f.http[k]
				if !ok {
					continue // not measured (-svc-http-goal-only)
				}
				goal := ""
				switch {
				case t == tgtClusterIP && isHTTPGoal(client, mode):
					goal = fmt.Sprintf("≥ 97%% of direct: %s (%s)", h.ratio.verdict(0.97), h.ratio)
				case t != tgtPod:
					goal = fmt.Sprintf("(%s)", h.ratio)
				}
				rows = append(rows,
					row{fmt.Sprintf("(c) req/s, %d clients %s, %s, %s", o.workers, client, mode, t), fmt.Sprintf("%.0f", h.rps), "-", goal},
					row{fmt.Sprintf("(c) request p99 (ms), %s, %s, %s", client, mode, t), ms(h.p99), "-", ""})
			}
		}
	}
	return rows
}

// count writes n with thousands separators, as the tables do.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func ms3(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d.Nanoseconds())/1e6) }

func median(d []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(d))
	return s[len(s)/2]
}
