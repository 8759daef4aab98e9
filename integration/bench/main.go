package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

type options struct {
	podnet    string
	etcd      string
	objects   int
	samples   int
	workers   int
	dur       time.Duration
	cniCycles int
	api       bool
	cni       bool
	pods      bool
	pod       podOptions
	services  bool
	svc       svcOptions
	dns       bool
}

func main() {
	var o options
	flag.StringVar(&o.podnet, "podnet", "bin/podnet", "podnet binary")
	flag.StringVar(&o.etcd, "etcd", "/usr/bin/etcd", "etcd binary for the side-by-side figures (skipped if missing)")
	flag.IntVar(&o.objects, "objects", 10000, "Services held for the memory figure")
	flag.IntVar(&o.samples, "samples", 2000, "sequential requests per latency figure")
	flag.IntVar(&o.workers, "workers", 8, "concurrent clients for the throughput figure")
	flag.DurationVar(&o.dur, "duration", 5*time.Second, "how long each throughput figure of the API and DNS sections runs (services: -svc-http)")
	flag.IntVar(&o.cniCycles, "cni-cycles", 200, "CNI ADD/DEL cycles per plugin chain")
	flag.BoolVar(&o.api, "api", true, "measure the API and memory (podnet against etcd); -api=false skips the section")
	flag.BoolVar(&o.cni, "cni", true, "measure CNI ADD/DEL (netplug against the reference plugins); -cni=false skips the section")
	flag.BoolVar(&o.pods, "pods", true, "measure pods (podnet against podman); -pods=false skips the section")
	flag.BoolVar(&o.services, "services", true, "measure services (proxy programming, full sync, traffic); -services=false skips the section")
	flag.BoolVar(&o.dns, "dns", true, "measure cluster DNS (podnet against CoreDNS, with dnsperf); -dns=false skips the section")
	flag.IntVar(&o.svc.max, "svc-max", 10000, "services present at the largest level (levels: 0, a tenth, all) and in the full sync")
	flag.IntVar(&o.svc.samples, "svc-samples", 20, "services created per level for the programming figure")
	flag.IntVar(&o.svc.connects, "svc-connects", 2000, "sequential connects per first-packet figure")
	flag.DurationVar(&o.svc.httpDur, "svc-http", 90*time.Second, "how long the HTTP figure (c) runs per client and mode (its targets alternate)")
	flag.BoolVar(&o.svc.httpOnly, "svc-http-goal-only", false, "run (c) only from a pod with keep-alive, the figure its goal is read on (for a long -svc-http)")
	flag.StringVar(&o.pod.images, "images", "build/images", "directory holding busybox.tar (make images)")
	flag.IntVar(&o.pod.cap, "pod-cap", 300, "the most-pods figure stops at this many pods")
	flag.DurationVar(&o.pod.timeout, "pod-timeout", time.Minute, "how long a pod (or a batch of them) may take to become Ready")
	o.pod.seq, o.pod.burst, o.pod.batch = 50, 50, 25
	flag.Parse()
	if o.samples < 1 || o.workers < 1 || o.objects < 1 || o.svc.max < 100 || o.svc.samples < 1 || o.svc.connects < 1 {
		fmt.Fprintln(os.Stderr, "bench: -samples, -workers, -objects, -svc-samples and -svc-connects must be at least 1, -svc-max at least 100")
		os.Exit(2)
	}
	o.svc.images, o.svc.workers, o.svc.timeout, o.svc.runs = o.pod.images, o.workers, o.pod.timeout, 3
	var err error
	if os.Getenv(innerEnv) == "" {
		err = outer()
	} else {
		err = inner(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// target is one server under test.
type target interface {
	name() string
	create(ctx context.Context, i int) error
	get(ctx context.Context, i int) error
	list(ctx context.Context) error // one page of 100 objects
	pid() int
	stop()
}

// row is one line of the result table.
type row struct{ metric, podnet, peer, goal string }

func inner(o options) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "podnet-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := run("ip", "link", "set", "lo", "up"); err != nil {
		return err
	}
	if o.api {
		if err := apiSection(ctx, o, tmp); err != nil {
			return err
		}
	}
	if o.cni {
		if err := cniSection(ctx, o, tmp); err != nil {
			return err
		}
	}
	if o.pods {
		if err := podSection(ctx, o, tmp); err != nil {
			return err
		}
	}
	if o.services {
		if err := serviceSection(ctx, o, tmp); err != nil {
			return err
		}
	}
	if o.dns {
		return dnsSection(ctx, o, tmp)
	}
	return nil
}

// apiSection is the API and memory table, podnet against etcd.
func apiSection(ctx context.Context, o options, tmp string) error {
	p, err := startPodnet(ctx, o.podnet, filepath.Join(tmp, "podnet"))
	if err != nil {
		return err
	}
	defer p.stop()
	var peer target
	if _, err := os.Stat(o.etcd); err == nil {
		e, err := startEtcd(ctx, o.etcd, filepath.Join(tmp, "etcd"))
		if err != nil {
			return err
		}
		defer e.stop()
		peer = e
	} else {
		fmt.Fprintf(os.Stderr, "bench: %s missing, measuring podnet alone (hack/deps.sh --bench installs etcd-server)\n", o.etcd)
	}

	time.Sleep(2 * time.Second) // let start-up garbage be collected before the idle figure
	rows := memRows("idle", p, peer, "")
	// Memory first, so that it is measured holding exactly -objects Services; the latency and
	// throughput figures then run against a store of that size.
	for _, t := range targets(p, peer) {
		if err := fill(ctx, t, o.objects, o.workers); err != nil {
			return fmt.Errorf("%s: fill: %w", t.name(), err)
		}
	}
	time.Sleep(3 * time.Second)
	rows = append(rows, memRows(fmt.Sprintf("holding %d services", o.objects), p, peer, "≤ 60 MB")...)
	for _, t := range targets(p, peer) {
		if l, ok := t.(interface{ prepareList(context.Context) error }); ok {
			if err := l.prepareList(ctx); err != nil {
				return fmt.Errorf("%s: %w", t.name(), err)
			}
		}
	}
	lat := map[string]map[string]latency{}
	for _, t := range targets(p, peer) {
		m, err := measureLatencies(ctx, t, o)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name(), err)
		}
		lat[t.name()] = m
	}
	for _, op := range []string{"create", "get", "list100"} {
		goal := ""
		if op == "create" {
			goal = "p50 ≤ 2 ms"
		}
		rows = append(rows,
			row{op + " p50 (ms)", ms(lat["podnet"][op].p50), peerMS(lat, op, true), goal},
			row{op + " p99 (ms)", ms(lat["podnet"][op].p99), peerMS(lat, op, false), ""})
	}
	for _, op := range []string{"create", "get"} {
		r := row{metric: fmt.Sprintf("%s req/s (%d clients)", op, o.workers)}
		for _, t := range targets(p, peer) {
			n, err := throughput(ctx, t, op, o)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name(), err)
			}
			if t == target(p) {
				r.podnet = fmt.Sprintf("%.0f", n)
			} else {
				r.peer = fmt.Sprintf("%.0f", n)
			}
		}
		rows = append(rows, r)
	}
	printTable(o, peer, rows)
	return nil
}

// cniSection is netplug against the reference plugins.
func cniSection(ctx context.Context, o options, tmp string) error {
	dirs, err := pluginDirs(o.podnet)
	if err != nil {
		return err
	}
	cniLat, err := benchCNI(ctx, dirs, filepath.Join(tmp, "cni"), o.cniCycles)
	if err != nil {
		return err
	}
	fmt.Printf("\nCNI: one attachment added and deleted %d times; peer: Debian's reference bridge + host-local plugins\n\n", o.cniCycles)
	printRows("netplug", "reference", cniRows(cniLat))
	return nil
}

// podSection has a podnet of its own (same port, the API section's stopped): its memory is
// then the pods', not the Services' the API figures left in the store.
func podSection(ctx context.Context, o options, tmp string) error {
	ours, pm, peerErr, err := benchPods(ctx, o.podnet, filepath.Join(tmp, "pods"), o.pod)
	if err != nil {
		return fmt.Errorf("pods: %w", err)
	}
	fmt.Printf("\nPods: busybox running `sleep 3600`, image local on both sides (podnet: imported, --offline; podman: podman load).\n")
	fmt.Printf("podnet: from the create call returning to the watch event with Ready=True.\n")
	if peerErr != nil {
		fmt.Printf("podman: not measured: %v\n", peerErr)
	} else {
		fmt.Printf("podman %s: from the start of `podman run -d` (bridge network) until podman says running (run -d returns once started; inspect confirms).\n", podmanVersion())
	}
	fmt.Printf("The %d at once start with the %d sequential ones still running; RSS per shim is read while those %d run.\n", o.pod.burst, o.pod.seq, o.pod.seq)
	fmt.Printf("Most pods: batches of %d until one is not Ready within %s or the cap; stopped by %s.\n\n", o.pod.batch, o.pod.timeout, ours.mostStopped)
	printRows("podnet", "podman", podRows(o.pod, ours, pm, peerErr))
	if peerErr != nil {
		return fmt.Errorf("podman: %w", peerErr)
	}
	return nil
}

func podmanVersion() string {
	out, err := exec.Command("podman", "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "podman version ")
}

func targets(p, peer target) []target {
	if peer == nil {
		return []target{p}
	}
	return []target{p, peer}
}

func peerMS(lat map[string]map[string]latency, op string, p50 bool) string {
	l, ok := lat["etcd"]
	if !ok {
		return "-"
	}
	if p50 {
		return ms(l[op].p50)
	}
	return ms(l[op].p99)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

// memRows reports RSS and, within it, anonymous memory: what the server's own data costs, as
// opposed to its mapped executable and files (which the kernel may map in large pages).
func memRows(when string, p, peer target, goal string) []row {
	rss := row{metric: "RSS " + when + " (MB)", podnet: fmt.Sprintf("%.1f", rssMB(p.pid())), peer: "-", goal: goal}
	anon := row{metric: "  of which anonymous (MB)", podnet: fmt.Sprintf("%.1f", anonMB(p.pid())), peer: "-"}
	exe, files, _ := rssByMapping(p.pid())
	rows := []row{rss, anon,
		{metric: "  of which executable (MB)", podnet: fmt.Sprintf("%.1f", exe), peer: "-"},
		{metric: "  of which other files (MB)", podnet: fmt.Sprintf("%.1f", files), peer: "-"}}
	if peer != nil {
		pexe, pfiles, _ := rssByMapping(peer.pid())
		rows[0].peer = fmt.Sprintf("%.1f", rssMB(peer.pid()))
		rows[1].peer = fmt.Sprintf("%.1f", anonMB(peer.pid()))
		rows[2].peer = fmt.Sprintf("%.1f", pexe)
		rows[3].peer = fmt.Sprintf("%.1f", pfiles)
	}
	return rows
}

func printTable(o options, peer target, rows []row) {
	host, _ := os.Hostname()
	fmt.Printf("podnet bench — %s, %d CPUs, %s, %s\n", host, runtime.NumCPU(), cpuModel(), time.Now().UTC().Format("2006-01-02"))
	peerName := "etcd (not installed)"
	if peer != nil {
		peerName = "etcd " + etcdVersion(o.etcd)
	}
	fmt.Printf("peer: %s, the store under kube-apiserver, driven through its JSON gateway; objects are the same Service JSON\n\n", peerName)
	printRows("podnet", "peer", rows)
}

func printRows(ours, peer string, rows []row) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "metric\t%s\t%s\tgoal\n", ours, peer)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.metric, r.podnet, r.peer, r.goal)
	}
	tw.Flush()
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

func etcdVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return ""
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimPrefix(first, "etcd Version: ")
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// serviceSection has a podnet of its own too, with a node address on a veth for NodePorts.
func serviceSection(ctx context.Context, o options, tmp string) error {
	f, err := benchServices(ctx, o.podnet, filepath.Join(tmp, "services"), o.svc)
	if err != nil {
		return fmt.Errorf("services: %w", err)
	}
	fmt.Printf("\nServices: podnet's proxy (services/proxy, nftables) against kube-proxy's nftables layout loaded with the same nft (%s).\n", nftVersion())
	fmt.Printf("(a) create call to first TCP connect to the ClusterIP (connects of %s, no sleep but %s after a refusal), %d services per level; peer: `nft -f` of one service's chains and element.\n", probeTimeout, refusedPause, o.svc.samples)
	fmt.Printf("(b) podnet: FullSync in process (model, plan, render, one netlink batch that replaces the table), table ip podnet-bench, 3 runs; peer: `nft -f` of kube-proxy's full-sync transaction, table ip %s.\n", kpTable)
	fmt.Printf("(c) HTTP/1.1 GET / to nginx from a pod and from the node, a new connection per request and keep-alive, %d clients, with %s services present: per client and mode %s of one load whose target changes every %s (after %s not counted), in rounds of every order of the targets and back (A B C C B A, A C B B C A, ...); a ratio to the pod IP per round, their geometric mean with its 95%% confidence interval.\n", o.workers, count(o.svc.max), o.svc.httpDur, altSlice, altSettle)
	fmt.Printf("(d) %d sequential connects (SYN to established), closed at once.\n\n", o.svc.connects)
	printRows("podnet", "kube-proxy layout, same nft", svcRows(o.svc, f))
	return nil
}

func nftVersion() string {
	out, err := exec.Command("nft", "--version").Output()
	if err != nil {
		return "nft"
	}
	return strings.TrimSpace(string(out))
}
