package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// dnsOptions sizes the DNS section.
type dnsOptions struct {
	services  int           // ClusterIP services (the services section's fillers, 2 endpoints each)
	headless  int           // headless services, headlessEndpoints endpoints each
	names     int           // external names the upstream answers
	lines     int           // lines of each dnsperf data file
	dur       time.Duration // per dnsperf run
	rounds    int           // runs per server and query file
	clients   int           // dnsperf -c
	rate      int           // dnsperf -Q of the latency runs
	coredns   string        // CoreDNS binary
	podnetBin string
}

// The two query files.
const (
	fileCluster  = "cluster names"
	fileExternal = "cached external names"
)

// dnsTarget is one server under test.
type dnsTarget struct {
	name string
	addr string
	pid  int
}

// dnsFigures is what the DNS section measures.
type dnsFigures struct {
	files    []string
	runs     map[string]map[string][]perfRun // file → server → full-load runs, in order
	paced    map[string]map[string][]perfRun // file → server → runs at opts.rate
	upQ      map[string]int64                // server → queries it sent the upstream during the runs
	verify   map[string]compared             // file → the verification pass
	rssIdle  map[string]float64              // server → VmRSS with the state loaded, before any query
	rssAfter map[string]float64              // server → VmRSS after the runs
	anon     map[string]float64              // server → anonymous memory after the runs
	exe      map[string]float64              // server → its executable's resident pages after the runs
	heap     dnsHeap
}

// benchDNS runs the section: podnet with its node address on the services section's veth, an
// upstream of the bench's own, the cluster state, CoreDNS beside podnet, then dnsperf.
func benchDNS(ctx context.Context, dir string, o dnsOptions) (f dnsFigures, err error) {
	if _, err := os.Stat(o.coredns); err != nil {
		return f, fmt.Errorf("%w (hack/deps.sh builds bin/coredns)", err)
	}
	unlink, err := setupNodeLink()
	if err != nil {
		return f, err
	}
	defer func() { err = errors.Join(err, unlink()) }()
	// On the veth's other end: deleting the link removes the address with it.
	if err := run("ip", "addr", "add", upstreamIP+"/32", "dev", svcPeer); err != nil {
		return f, err
	}
	up, err := startUpstream(o.names)
	if err != nil {
		return f, err
	}
	defer func() { err = errors.Join(err, up.stop()) }()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, err
	}
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver "+upstreamIP+"\n"), 0o644); err != nil {
		return f, err
	}
	n, err := startDNSNode(ctx, o.podnetBin, filepath.Join(dir, "podnet"), resolv)
	if err != nil {
		return f, err
	}
	defer func() { err = errors.Join(err, n.stop()) }()

	slog.Info("dns: loading the cluster state", "services", o.services, "headless", o.headless)
	if err := n.fill(ctx, 0, o.services); err != nil {
		return f, err
	}
	if err := n.fillHeadless(ctx, o.headless); err != nil {
		return f, err
	}
	podnetAddr := net.JoinHostPort(svcNodeIP, "53")
	last := fmt.Sprintf("%s.%s.svc.%s", headlessName(o.headless-1), svcNamespace, clusterZone)
	if err := waitAnswer(podnetAddr, last, mdns.TypeA, time.Minute); err != nil {
		return f, fmt.Errorf("podnet: %w", err)
	}
	core, err := startCoreDNS(o.coredns, filepath.Join(dir, "coredns"), filepath.Join(n.p.dataDir, "kubeconfig"))
	if err != nil {
		return f, err
	}
	defer core.stop()
	if err := waitAnswer(core.addr(), last, mdns.TypeA, time.Minute); err != nil {
		return f, fmt.Errorf("coredns: %w", err)
	}
	targets := []dnsTarget{{"podnet", podnetAddr, n.p.pid()}, {"CoreDNS", core.addr(), core.pid()}}

	time.Sleep(2 * time.Second) // let start-up and loading garbage be collected
	f.rssIdle = map[string]float64{}
	for _, t := range targets {
		f.rssIdle[t.name] = rssMB(t.pid)
	}

	ips, err := n.fillerClusterIPs(ctx, o.services)
	if err != nil {
		return f, err
	}
	files := map[string][]query{
		fileCluster:  clusterQueries(o.lines, ips, o.headless),
		fileExternal: externalQueries(o.lines, o.names),
	}
	f.files = []string{fileCluster, fileExternal}
	paths := map[string]string{}
	f.verify = map[string]compared{}
	for i, name := range f.files {
		paths[name] = filepath.Join(dir, fmt.Sprintf("queries-%d.txt", i))
		if err := writeQueries(paths[name], files[name]); err != nil {
			return f, err
		}
		c, err := verifyAndWarm([2]string{targets[0].addr, targets[1].addr}, files[name])
		if err != nil {
			return f, fmt.Errorf("%s: %w", name, err)
		}
		f.verify[name] = c
		slog.Info("dns: answers compared", "file", name, "questions", c.asked, "differ", len(c.differ), "not NOERROR", len(c.failed))
		for _, d := range c.differ[:min(len(c.differ), 5)] {
			slog.Warn("dns: podnet and CoreDNS differ", "question", d)
		}
	}

	f.runs, f.paced, f.upQ = map[string]map[string][]perfRun{}, map[string]map[string][]perfRun{}, map[string]int64{}
	for _, name := range f.files {
		f.runs[name], f.paced[name] = map[string][]perfRun{}, map[string][]perfRun{}
	}
	for round := 0; round < o.rounds; round++ {
		for fi, name := range f.files {
			order := slices.Clone(targets)
			if (round+fi)%2 == 1 {
				slices.Reverse(order)
			}
			for _, t := range order {
				before := up.queries.Load()
				r, err := runDNSPerf(ctx, t.addr, t.pid, paths[name], o.dur, o.clients, 0, false)
				if err != nil {
					return f, fmt.Errorf("%s, %s: %w", t.name, name, err)
				}
				f.runs[name][t.name] = append(f.runs[name][t.name], r)
				p, err := runDNSPerf(ctx, t.addr, t.pid, paths[name], o.dur, o.clients, o.rate, true)
				if err != nil {
					return f, fmt.Errorf("%s, %s at %d qps: %w", t.name, name, o.rate, err)
				}
				f.paced[name][t.name] = append(f.paced[name][t.name], p)
				f.upQ[t.name] += up.queries.Load() - before
				slog.Info("dns: run", "round", round+1, "file", name, "server", t.name,
					"qps", int(r.qps), "cpu_us_per_query", usPerQuery(r), "dnsperf_cpu_s", r.clientCPU.Seconds(), "lost", r.lost,
					"paced_p99_ms", ms3(p.p99), "paced_cpu_us_per_query", usPerQuery(p), "paced_lost", p.lost)
			}
		}
	}

	f.rssAfter, f.anon, f.exe = map[string]float64{}, map[string]float64{}, map[string]float64{}
	for _, t := range targets {
		f.rssAfter[t.name] = rssMB(t.pid)
		f.anon[t.name] = anonMB(t.pid)
		f.exe[t.name], _, _ = rssByMapping(t.pid)
	}
	core.stop()
	if f.heap, err = n.measureDNSHeap(ctx, append(slices.Clone(files[fileCluster]), files[fileExternal]...)); err != nil {
		return f, err
	}
	return f, nil
}

// startDNSNode is the services section's node (startSvcNode) without images or pods, its DNS
// forwarding to the bench's upstream.
func startDNSNode(ctx context.Context, bin, dir, resolv string) (*svcNode, error) {
	return newSvcNode(ctx, bin, dir, "--dns-resolv-conf", resolv)
}

// medianQPS is the median of the runs' queries per second.
func medianQPS(runs []perfRun) float64 {
	q := make([]float64, len(runs))
	for i, r := range runs {
		q[i] = r.qps
	}
	slices.Sort(q)
	return q[len(q)/2]
}

// ratios is podnet's queries per second over CoreDNS's, round by round: the two runs of a round
// follow each other, so that both see the machine in about the same state (it is shared), and
// the median of these is the figure the goal is read on.
func ratios(ours, peer []perfRun) []float64 {
	r := make([]float64, min(len(ours), len(peer)))
	for i := range r {
		r[i] = ours[i].qps / peer[i].qps
	}
	return r
}

// medianP99 is the median of the runs' p99s.
func medianP99(runs []perfRun) time.Duration {
	d := make([]time.Duration, len(runs))
	for i, r := range runs {
		d[i] = r.p99
	}
	return median(d)
}

func lostOf(runs []perfRun) (lost, sent int) {
	for _, r := range runs {
		lost += r.lost
		sent += r.sent
	}
	return lost, sent
}

// dnsRows is the section's table.
func dnsRows(o dnsOptions, f dnsFigures) []row {
	var rows []row
	for _, name := range f.files {
		rs := slices.Sorted(slices.Values(ratios(f.runs[name]["podnet"], f.runs[name]["CoreDNS"])))
		ratio := rs[len(rs)/2]
		goal := fmt.Sprintf("≥ 2× CoreDNS: %s (%.2f×, rounds %.2f–%.2f×)", metOrNot(ratio >= 2), ratio, rs[0], rs[len(rs)-1])
		rows = append(rows,
			row{fmt.Sprintf("%s: queries/s, median of %d rounds", name, o.rounds),
				count(int(medianQPS(f.runs[name]["podnet"]))), count(int(medianQPS(f.runs[name]["CoreDNS"]))), goal},
			row{fmt.Sprintf("%s: server CPU per query (µs), full-load runs", name),
				cpuPerQuery(f.runs[name]["podnet"]), cpuPerQuery(f.runs[name]["CoreDNS"]), ""},
			row{fmt.Sprintf("%s: dnsperf's CPU per query (µs), same runs", name),
				clientCPUPerQuery(f.runs[name]["podnet"]), clientCPUPerQuery(f.runs[name]["CoreDNS"]), ""},
			row{fmt.Sprintf("%s: p99 (ms) at %s queries/s, median of %d", name, count(o.rate), o.rounds),
				ms3(medianP99(f.paced[name]["podnet"])), ms3(medianP99(f.paced[name]["CoreDNS"])), ""})
	}
	lossRow := row{metric: "queries lost, all runs"}
	for i, srv := range []string{"podnet", "CoreDNS"} {
		var lost, sent int
		for _, name := range f.files {
			l, s := lostOf(f.runs[name][srv])
			pl, ps := lostOf(f.paced[name][srv])
			lost, sent = lost+l+pl, sent+s+ps
		}
		v := fmt.Sprintf("%d of %s", lost, count(sent))
		if i == 0 {
			lossRow.podnet = v
		} else {
			lossRow.peer = v
		}
	}
	rows = append(rows, lossRow,
		row{"upstream queries during the runs", strconv.FormatInt(f.upQ["podnet"], 10), strconv.FormatInt(f.upQ["CoreDNS"], 10), ""},
		row{"RSS with the state loaded, before any query (MB)", mb(f.rssIdle["podnet"]), mb(f.rssIdle["CoreDNS"]), ""},
		row{"RSS after the runs (MB)", mb(f.rssAfter["podnet"]), mb(f.rssAfter["CoreDNS"]),
			"less than CoreDNS: " + metOrNot(f.rssAfter["podnet"] < f.rssAfter["CoreDNS"])},
		row{"  of which anonymous (MB)", mb(f.anon["podnet"]), mb(f.anon["CoreDNS"]), ""},
		row{"  of which executable (MB)", mb(f.exe["podnet"]), mb(f.exe["CoreDNS"]), ""},
		row{"RSS growth over the runs (MB)", mb(f.rssAfter["podnet"] - f.rssIdle["podnet"]), mb(f.rssAfter["CoreDNS"] - f.rssIdle["CoreDNS"]), ""},
		row{"podnet's DNS index of this state, Go heap (MB)", fmt.Sprintf("%.2f", f.heap.index), "-", ""},
		row{"podnet's DNS caches after every question, Go heap (MB)", fmt.Sprintf("%.2f", f.heap.caches), "-", ""})
	return rows
}

func mb(v float64) string { return fmt.Sprintf("%.1f", v) }

func metOrNot(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// printDNS prints the section's header, table and each round's queries per second.
func printDNS(o dnsOptions, f dnsFigures) {
	fmt.Printf("\nDNS: podnet's cluster DNS (services/dns, in the daemon, %s:53) against CoreDNS %s (%s:%d: kubernetes plugin on podnet's API, forward, cache 30), dnsperf %s.\n",
		svcNodeIP, corednsVersion(o.coredns), svcNodeIP, corednsPort, dnsperfVersion())
	fmt.Printf("State: %s ClusterIP services × 2 endpoints, %d headless × %d endpoints with hostnames; upstream: the bench's own server, %s names under %s\n",
		count(o.services), o.headless, headlessEndpoints, count(o.names), strings.TrimSuffix(externalZone, "."))
	fmt.Printf("dnsperf -c %d -l %d (-q 100 outstanding) in %d rounds, each running both servers back to back (which goes first alternates): full load for queries/s and CPU, then -Q %d for the p99 (from dnsperf -v's per-query latencies); medians of the rounds.\n",
		o.clients, int(o.dur/time.Second), o.rounds, o.rate)
	fmt.Printf("Asked of both before the runs (warming the caches):")
	for i, name := range f.files {
		c := f.verify[name]
		sep := ";"
		if i == len(f.files)-1 {
			sep = "."
		}
		fmt.Printf(" %s, %s questions, %d answered differently%s", name, count(c.asked), len(c.differ), sep)
	}
	fmt.Printf("\nRSS: podnet is the whole daemon (API, store, kubelet, proxy, DNS); CoreDNS is DNS alone. Heap rows: a services/dns Server in the bench process fed the same objects.\n\n")
	printRows("podnet", "CoreDNS", dnsRows(o, f))
	fmt.Println()
	for _, name := range f.files {
		ours, peer := f.runs[name]["podnet"], f.runs[name]["CoreDNS"]
		parts := make([]string, 0, len(ours))
		for i, r := range ratios(ours, peer) {
			parts = append(parts, fmt.Sprintf("%s/%s (%.2f×)", count(int(ours[i].qps)), count(int(peer[i].qps)), r))
		}
		fmt.Printf("%s, queries/s podnet/CoreDNS by round: %s\n", name, strings.Join(parts, ", "))
	}
}

// dnsSection has a podnet of its own, on the services section's veth (that section's is gone
// by now), so that its DNS listens on a node address as in the daemon's default setup.
func dnsSection(ctx context.Context, o options, tmp string) error {
	d := dnsOptions{
		services: 1000, headless: 100, names: 1000, lines: 20000,
		dur: o.dur, rounds: 5, clients: 8, rate: 10000,
		coredns: corednsBinary(o.podnet), podnetBin: o.podnet,
	}
	f, err := benchDNS(ctx, filepath.Join(tmp, "dns"), d)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	printDNS(d, f)
	return nil
}

// usPerQuery is the server's CPU time per completed query in the run, in µs.
func usPerQuery(r perfRun) string {
	if r.completed == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(r.serverCPU.Microseconds())/float64(r.completed))
}

// cpuPerQuery is usPerQuery over all runs.
func cpuPerQuery(runs []perfRun) string {
	var sum perfRun
	for _, r := range runs {
		sum.serverCPU += r.serverCPU
		sum.completed += r.completed
	}
	return usPerQuery(sum)
}

// clientCPUPerQuery is dnsperf's CPU time per completed query over all runs, in µs.
func clientCPUPerQuery(runs []perfRun) string {
	var sum perfRun
	for _, r := range runs {
		sum.serverCPU += r.clientCPU
		sum.completed += r.completed
	}
	return usPerQuery(sum)
}
