package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podnet/podnet/services/dns"
)

// The cluster state of the DNS section, beside the services section's selectorless fillers
// (fill-NNNNN, 2 endpoints each): headless services as StatefulSets make them, each endpoint
// with a hostname.
const (
	headlessEndpoints = 3
	clusterZone       = "cluster.local."
)

func headlessName(i int) string { return fmt.Sprintf("hl-%03d", i) }

// headlessObjects is the i-th headless Service and its EndpointSlice: endpoints from
// 10.244.80.0 up (clear of the fillers', which end below 10.244.72.0 for 2,000 of them),
// hostnames hl-NNN-0.. as a StatefulSet's pods have.
func headlessObjects(i int) (*corev1.Service, *discoveryv1.EndpointSlice) {
	name := headlessName(i)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: svcNamespace, Labels: map[string]string{"app": "dnsbench-headless"}},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{
			Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	pname, proto, port := "http", corev1.ProtocolTCP, int32(8080)
	ready, serving, terminating := true, true, false
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-1", Namespace: svcNamespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: name, "app": "dnsbench-headless"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &pname, Protocol: &proto, Port: &port}},
	}
	for j := 0; j < headlessEndpoints; j++ {
		host := fmt.Sprintf("%s-%d", name, j)
		ip := addr4(10<<24 | 244<<16 | 80<<8 + uint32(4*i+j))
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip.String()}, Hostname: &host,
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating}})
	}
	return svc, sl
}

// fillHeadless creates headless services 0..n-1 with their slices.
func (n *svcNode) fillHeadless(ctx context.Context, count int) error {
	return n.parallel(ctx, 0, count, func(i int) error {
		svc, sl := headlessObjects(i)
		if _, err := n.cs.CoreV1().Services(svcNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create service %s: %w", svc.Name, err)
		}
		if _, err := n.cs.DiscoveryV1().EndpointSlices(svcNamespace).Create(ctx, sl, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create slice of %s: %w", svc.Name, err)
		}
		return nil
	})
}

// query is one line of a dnsperf data file.
type query struct {
	name  string
	qtype uint16
}

func (q query) String() string { return q.name + " " + mdns.TypeToString[q.qtype] }

// clusterQueries is the cluster-name mix, lines long, in a fixed pseudo-random order: what pods
// ask of cluster DNS once their search path has found the name (A, and the AAAA that glibc
// asks beside it), SRV of named ports, PTR of ClusterIPs and endpoints, and headless names (all
// endpoints, or one by its hostname). clusterIPs are the fillers' by index.
func clusterQueries(lines int, clusterIPs []string, headless int) []query {
	rng := rand.New(rand.NewPCG(1, 2))
	svc := func() (int, string) {
		i := rng.IntN(len(clusterIPs))
		return i, fmt.Sprintf("fill-%05d.%s.svc.%s", i, svcNamespace, clusterZone)
	}
	out := make([]query, 0, lines)
	for len(out) < lines {
		switch p := rng.IntN(100); {
		case p < 60:
			_, name := svc()
			out = append(out, query{name, mdns.TypeA})
		case p < 75:
			_, name := svc()
			out = append(out, query{name, mdns.TypeAAAA})
		case p < 83:
			_, name := svc()
			out = append(out, query{"_http._tcp." + name, mdns.TypeSRV})
		case p < 88:
			i, _ := svc()
			rev, _ := mdns.ReverseAddr(clusterIPs[i])
			out = append(out, query{rev, mdns.TypePTR})
		case p < 90:
			ep := fillerService(rng.IntN(len(clusterIPs))).endpoints[0].Addr().String()
			rev, _ := mdns.ReverseAddr(ep)
			out = append(out, query{rev, mdns.TypePTR})
		case p < 96:
			out = append(out, query{fmt.Sprintf("%s.%s.svc.%s", headlessName(rng.IntN(headless)), svcNamespace, clusterZone), mdns.TypeA})
		default:
			h := headlessName(rng.IntN(headless))
			out = append(out, query{fmt.Sprintf("%s-%d.%s.%s.svc.%s", h, rng.IntN(headlessEndpoints), h, svcNamespace, clusterZone), mdns.TypeA})
		}
	}
	return out
}

// externalQueries is every external name's A, lines long, in a fixed pseudo-random order.
func externalQueries(lines, names int) []query {
	rng := rand.New(rand.NewPCG(3, 4))
	out := make([]query, 0, lines)
	for i := range lines {
		n := i % names
		if i >= names {
			n = rng.IntN(names)
		}
		out = append(out, query{externalName(n), mdns.TypeA})
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func writeQueries(path string, qs []query) error {
	var b strings.Builder
	for _, q := range qs {
		b.WriteString(q.String())
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// fillerClusterIPs is the ClusterIP of each filler service, by index, as the API allocated them.
func (n *svcNode) fillerClusterIPs(ctx context.Context, count int) ([]string, error) {
	list, err := n.cs.CoreV1().Services(svcNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=svcbench-fill"})
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	ips := make([]string, count)
	for _, s := range list.Items {
		var i int
		if _, err := fmt.Sscanf(s.Name, "fill-%05d", &i); err == nil && i < count {
			ips[i] = s.Spec.ClusterIP
		}
	}
	for i, ip := range ips {
		if ip == "" {
			return nil, fmt.Errorf("service fill-%05d has no ClusterIP", i)
		}
	}
	return ips, nil
}

// compared is what the verification pass found.
type compared struct {
	asked   int      // distinct questions
	differ  []string // questions the two servers answer differently
	failed  []string // questions either server did not answer NOERROR (or NXDOMAIN where both agree)
	rcodeOK int      // answers with records
}

// verifyAndWarm asks both servers every distinct question of qs once: the servers' caches are
// warm afterwards (the external names fetched from the upstream), and the two must give the
// same answers (records and additional section, TTLs aside; the authority's SOA serial is each
// server's own) or the throughput figures would not compare.
func verifyAndWarm(servers [2]string, qs []query) (compared, error) {
	seen := map[query]bool{}
	var c compared
	client := &mdns.Client{Net: "udp", Timeout: 2 * time.Second, UDPSize: mdns.DefaultMsgSize}
	for _, q := range qs {
		if seen[q] {
			continue
		}
		seen[q] = true
		c.asked++
		var got [2]string
		for i, s := range servers {
			m := new(mdns.Msg)
			m.SetQuestion(q.name, q.qtype)
			m.RecursionDesired = true
			in, _, err := client.Exchange(m, s)
			if err != nil {
				return c, fmt.Errorf("%s from %s: %w", q, s, err)
			}
			got[i] = normalized(in)
			if in.Rcode != mdns.RcodeSuccess {
				c.failed = append(c.failed, fmt.Sprintf("%s: %s from %s", q, mdns.RcodeToString[in.Rcode], s))
			} else if i == 0 && len(in.Answer) > 0 {
				c.rcodeOK++
			}
		}
		if got[0] != got[1] {
			c.differ = append(c.differ, fmt.Sprintf("%s:\n  %s\n  %s", q, strings.ReplaceAll(got[0], "\n", "\n  "), strings.ReplaceAll(got[1], "\n", "\n  ")))
		}
	}
	return c, nil
}

// normalized renders a reply for comparison: rcode, then the answer and additional records
// sorted, TTLs zeroed, OPT left out.
func normalized(in *mdns.Msg) string {
	var lines []string
	for _, sec := range [][]mdns.RR{in.Answer, in.Extra} {
		for _, rr := range sec {
			if rr.Header().Rrtype == mdns.TypeOPT {
				continue
			}
			rr = mdns.Copy(rr)
			rr.Header().Ttl = 0
			lines = append(lines, strings.ReplaceAll(rr.String(), "\t", " "))
		}
	}
	slices.Sort(lines)
	return mdns.RcodeToString[in.Rcode] + "\n" + strings.Join(lines, "\n")
}

// dnsHeap is what podnet's DNS data costs in Go heap, measured in this process on a
// services/dns Server of its own fed the same objects: the index (primary maps and the
// snapshot queries read), then the caches once every question of the query files has been
// asked over UDP twice (the forwarded answers and the packed replies kept for repeats).
type dnsHeap struct {
	index, caches float64 // MB
}

// heapMB is the Go heap in use after a full collection, in MB.
func heapMB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// measureDNSHeap lists the node's objects, feeds them to a fresh dns.Server serving UDP on
// loopback, builds its snapshot with one query, then asks it every distinct question of qs
// twice. The listed objects are dropped before the index is measured, so that only what the
// index keeps counts; the questions are live throughout, so that they count in neither figure.
func (n *svcNode) measureDNSHeap(ctx context.Context, qs []query) (h dnsHeap, err error) {
	const listen = "127.0.0.1:5354"
	var distinct []query
	seen := map[query]bool{}
	for _, q := range qs {
		if !seen[q] {
			seen[q] = true
			distinct = append(distinct, q)
		}
	}
	defer runtime.KeepAlive(distinct)
	before := heapMB()
	srv, err := dns.New(dns.Config{Upstreams: []netip.AddrPort{upstreamAddr()}, LoopProbes: -1,
		Listen: []netip.AddrPort{netip.MustParseAddrPort(listen)}})
	if err != nil {
		return h, err
	}
	if err := n.feedIndex(ctx, srv.Index()); err != nil {
		return h, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(rctx) }()
	defer func() {
		cancel()
		if rerr := <-done; rerr != nil && err == nil {
			err = fmt.Errorf("in-process dns: %w", rerr)
		}
	}()
	if err := waitAnswer(listen, "kubernetes.default.svc."+clusterZone, mdns.TypeA, 10*time.Second); err != nil {
		return h, fmt.Errorf("in-process dns: %w", err)
	}
	indexed := heapMB()
	h.index = indexed - before
	client := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	for _, q := range distinct {
		for range 2 {
			m := new(mdns.Msg)
			m.SetQuestion(q.name, q.qtype)
			m.RecursionDesired = true
			if _, _, err := client.Exchange(m, listen); err != nil {
				return h, fmt.Errorf("in-process dns: %s: %w", q, err)
			}
		}
	}
	h.caches = heapMB() - indexed
	runtime.KeepAlive(srv)
	return h, nil
}

// feedIndex loads the API's Namespaces, Services, EndpointSlices and Pods into x.
func (n *svcNode) feedIndex(ctx context.Context, x *dns.Index) error {
	nss, err := n.cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list namespaces: %w", err)
	}
	for i := range nss.Items {
		x.SetNamespace(&nss.Items[i])
	}
	svcs, err := n.cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	for i := range svcs.Items {
		x.SetService(&svcs.Items[i])
	}
	sls, err := n.cs.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list endpointslices: %w", err)
	}
	for i := range sls.Items {
		x.SetEndpointSlice(&sls.Items[i])
	}
	pods, err := n.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	for i := range pods.Items {
		x.SetPod(&pods.Items[i])
	}
	return nil
}
