package integration

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/podnet/podnet/integration/harness"
)

// upstream is an outside resolver the test runs in the client's namespace: it knows
// www.example.test and nothing else, and counts the questions it gets.
type upstream struct {
	asked atomic.Int64
}

func (u *upstream) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	u.asked.Add(1)
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	q := r.Question[0]
	switch {
	case strings.EqualFold(q.Name, "www.example.test.") && q.Qtype == mdns.TypeA:
		rr, _ := mdns.NewRR("www.example.test. 60 IN A 192.0.2.10")
		m.Answer = append(m.Answer, rr)
	case strings.EqualFold(q.Name, "www.example.test."):
	default:
		m.Rcode = mdns.RcodeNameError
		soa, _ := mdns.NewRR("example.test. 60 IN SOA ns.example.test. admin.example.test. 1 7200 900 1209600 60")
		m.Ns = append(m.Ns, soa)
	}
	w.WriteMsg(m)
}

// startUpstream serves u on the client's address, port 53, over UDP and TCP.
func startUpstream(t *testing.T, n *harness.Node, u *upstream) {
	t.Helper()
	addr := net.JoinHostPort(n.ClientIP().String(), "53")
	var pc net.PacketConn
	var ln net.Listener
	err := n.InClientNS(func() error {
		var err error
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("upstream resolver: %v", err)
	}
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: u}, {Listener: ln, Handler: u}} {
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
	}
}

// dig runs the real dig in the node's namespace against podnet's DNS and renders what it
// printed: the status and flags, then each section's records (sorted, whitespace collapsed),
// prefixed an/ns/ex.
func dig(t *testing.T, n *harness.Node, args ...string) string {
	t.Helper()
	argv := append([]string{"@" + n.NodeIP().String(), "+noall", "+comments", "+answer", "+authority", "+additional", "+tries=1", "+time=2"}, args...)
	out, errOut, err := n.RunNode("dig", argv...)
	if err != nil {
		t.Fatalf("dig %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	var head string
	sections := map[string][]string{}
	sec := ""
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, ";; ->>HEADER<<-"):
			status := line[strings.Index(line, "status: ")+len("status: "):]
			head = status[:strings.Index(status, ",")]
		case strings.HasPrefix(line, ";; flags:"):
			// ";; flags: qr aa rd ra; QUERY: 1, ANSWER: ..."
			flags := strings.Fields(strings.SplitN(strings.TrimPrefix(line, ";; flags:"), ";", 2)[0])
			for _, f := range flags {
				if f == "aa" || f == "tc" {
					head += " " + f
				}
			}
		case line == ";; ANSWER SECTION:":
			sec = "an"
		case line == ";; AUTHORITY SECTION:":
			sec = "ns"
		case line == ";; ADDITIONAL SECTION:":
			sec = "ex"
		case line == "" || strings.HasPrefix(line, ";"):
		case sec != "":
			sections[sec] = append(sections[sec], sec+" "+strings.Join(strings.Fields(line), " "))
		}
	}
	var b strings.Builder
	b.WriteString(head + "\n")
	for _, s := range []string{"an", "ns", "ex"} {
		sort.Strings(sections[s])
		for _, l := range sections[s] {
			// The SOA serial is the time of the index's last change.
			if f := strings.Fields(l); len(f) == 12 && f[4] == "SOA" {
				f[7] = "<serial>"
				l = strings.Join(f, " ")
			}
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// bigSlice is a selectorless headless service with 60 ready endpoints: its A answer (about
// 1,000 bytes) needs EDNS0 or TCP.
func bigSlice() string {
	var eps strings.Builder
	for i := range 60 {
		fmt.Fprintf(&eps, "- addresses: [\"10.244.%d.%d\"]\n  conditions: {ready: true}\n", 200+i/200, 1+i%200)
	}
	return `apiVersion: v1
kind: Service
metadata: {name: big}
spec:
  clusterIP: None
  ports: [{name: x, port: 1}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: big-1, labels: {kubernetes.io/service-name: big}}
addressType: IPv4
ports: [{name: x, port: 1}]
endpoints:
` + eps.String()
}

// TestClusterDNS: the records of the spec as the real dig sees them from the node (UDP, TCP,
// EDNS0 and truncation), external names through an upstream the test runs in a namespace of its
// own (cached), names from pods with nslookup, a new service resolving and a deleted one gone
// within 1 s, and a pod's UDP flow to the kube-dns Service answering again after a restart of
// the daemon.
func TestClusterDNS(t *testing.T) {
	up := &upstream{}
	n := harness.StartNode(t, harness.Options{ResolvConfFor: func(nw *harness.Network) string {
		return "nameserver " + nw.ClientIP().String() + "\n"
	}})
	startUpstream(t, n, up)
	importImages(t, n)
	k := kubectlRun(n.KubectlIn)
	fixture := strings.ReplaceAll(dnsFixture, "externalName: example.org", "externalName: www.example.test")
	must(t, k, fixture+"---\n"+bigSlice(), "apply", "-f", "-")
	must(t, k, "", "wait", "--for=condition=Ready", "pod/web-1", "pod/db-0", "pod/db-x", "--timeout=60s")
	podIP := func(name string) string {
		return must(t, k, "", "get", "pod", name, "-o", "jsonpath={.status.podIP}")
	}
	web1, db0, dbx := podIP("web-1"), podIP("db-0"), podIP("db-x")
	webIP := clusterIP(t, k, "web")
	waitFor(t, 5*time.Second, "the headless service's endpoints in DNS", func() bool {
		return strings.Count(dig(t, n, "db.default.svc.cluster.local", "A"), " IN A ") == 2
	})
	soa := "ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. <serial> 7200 1800 86400 5\n"
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"web.default.svc.cluster.local", "A"},
			"NOERROR aa\nan web.default.svc.cluster.local. 5 IN A " + webIP + "\n"},
		{[]string{"+tcp", "WEB.Default.svc.cluster.local", "A"},
			"NOERROR aa\nan WEB.Default.svc.cluster.local. 5 IN A " + webIP + "\n"},
		{[]string{"web.default.svc.cluster.local", "AAAA"}, "NOERROR aa\n" + soa},
		{[]string{"nope.default.svc.cluster.local", "A"}, "NXDOMAIN aa\n" + soa},
		{[]string{"_http._tcp.web.default.svc.cluster.local", "SRV"},
			"NOERROR aa\nan _http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local.\n" +
				"ex web.default.svc.cluster.local. 5 IN A " + webIP + "\n"},
		{[]string{"-x", webIP}, "NOERROR aa\nan " + reverse(webIP) + " 5 IN PTR web.default.svc.cluster.local.\n"},
		{[]string{"db.default.svc.cluster.local", "A"}, "NOERROR aa\n" + sortedLines(
			"an db.default.svc.cluster.local. 5 IN A "+db0, "an db.default.svc.cluster.local. 5 IN A "+dbx)},
		{[]string{"db-0.db.default.svc.cluster.local", "A"}, "NOERROR aa\nan db-0.db.default.svc.cluster.local. 5 IN A " + db0 + "\n"},
		{[]string{"-x", db0}, "NOERROR aa\nan " + reverse(db0) + " 5 IN PTR db-0.db.default.svc.cluster.local.\n"},
		{[]string{"empty.default.svc.cluster.local", "A"}, "NXDOMAIN aa\n" + soa},
		{[]string{"ext.default.svc.cluster.local", "CNAME"}, "NOERROR aa\nan ext.default.svc.cluster.local. 5 IN CNAME www.example.test.\n"},
		{[]string{dashed(web1) + ".default.pod.cluster.local", "A"},
			"NOERROR aa\nan " + dashed(web1) + ".default.pod.cluster.local. 5 IN A " + web1 + "\n"},
		{[]string{"dns-version.cluster.local", "TXT"}, "NOERROR aa\nan dns-version.cluster.local. 28800 IN TXT \"1.1.0\"\n"},
		// Forwarded to the test's upstream; the second time from the cache (see below).
		// The upstream's answers come back as it gave them, its aa flag included (as CoreDNS's
		// forward plugin relays them).
		{[]string{"www.example.test", "A"}, "NOERROR aa\nan www.example.test. 60 IN A 192.0.2.10\n"},
		{[]string{"nothing.example.test", "A"},
			"NXDOMAIN aa\nns example.test. 60 IN SOA ns.example.test. admin.example.test. <serial> 7200 900 1209600 60\n"},
	}
	for _, tc := range tests {
		if got := dig(t, n, tc.args...); got != tc.want {
			t.Errorf("dig %s:\ngot:\n%s\nwant:\n%s", strings.Join(tc.args, " "), got, tc.want)
		}
	}

	t.Run("metrics", func(t *testing.T) {
		// The queries above, counted by type and rcode, with the latency histogram: through the
		// API's /metrics, as kubectl reads it.
		out := must(t, k, "", "get", "--raw", "/metrics")
		for _, re := range []string{
			`(?m)^podnet_dns_requests_total\{type="A"\} [1-9][0-9]*$`,
			`(?m)^podnet_dns_requests_total\{type="SRV"\} [1-9][0-9]*$`,
			`(?m)^podnet_dns_responses_total\{rcode="NXDOMAIN"\} [1-9][0-9]*$`,
			`(?m)^podnet_dns_request_duration_seconds_bucket\{le="\+Inf"\} [1-9][0-9]*$`,
		} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("/metrics has no line matching %s:\n%s", re, out)
			}
		}
	})

	t.Run("cache", func(t *testing.T) {
		before := up.asked.Load()
		dig(t, n, "www.example.test", "A")
		dig(t, n, "nothing.example.test", "A")
		if asked := up.asked.Load() - before; asked != 0 {
			t.Errorf("the upstream was asked %d more times for names just answered", asked)
		}
	})

	t.Run("truncation", func(t *testing.T) {
		// Without EDNS0 the answer does not fit 512 bytes: truncated, and over TCP complete;
		// with dig's EDNS0 buffer (1232) it comes whole over UDP.
		if got := dig(t, n, "+noedns", "+ignore", "big.default.svc.cluster.local", "A"); !strings.HasPrefix(got, "NOERROR aa tc\n") {
			t.Errorf("without EDNS0: %s", firstLine(got))
		}
		for _, args := range [][]string{{"+ignore"}, {"+noedns", "+tcp"}} {
			got := dig(t, n, append(args, "big.default.svc.cluster.local", "A")...)
			if !strings.HasPrefix(got, "NOERROR aa\n") || strings.Count(got, " IN A ") != 60 {
				t.Errorf("dig %v: %s with %d A records, want 60", args, firstLine(got), strings.Count(got, " IN A "))
			}
		}
	})

	t.Run("from pods", func(t *testing.T) {
		// Each lookup runs whatever the one before did, so that the logs show all three.
		must(t, k, busyboxPod("lookup", "Never", "nslookup web; nslookup www.example.test; nslookup "+dashed(web1)+".default.pod.cluster.local; true", ""), "apply", "-f", "-")
		waitPod(t, k, "lookup", "{.status.phase}", "Succeeded", 60*time.Second)
		logs := must(t, k, "", "logs", "lookup")
		for _, want := range []string{
			"Name:\tweb.default.svc.cluster.local\nAddress: " + webIP,
			"Name:\twww.example.test\nAddress: 192.0.2.10",
			"Name:\t" + dashed(web1) + ".default.pod.cluster.local\nAddress: " + web1,
		} {
			if !strings.Contains(logs, want) {
				t.Errorf("nslookup in a pod:\n%s\nwant %q", logs, want)
			}
		}
		must(t, k, "", "delete", "pod", "lookup", "--wait", "--timeout=60s")
	})

	t.Run("within 1 s", func(t *testing.T) {
		name := "fresh.default.svc.cluster.local."
		ask := func() int {
			m := new(mdns.Msg)
			m.SetQuestion(name, mdns.TypeA)
			var in *mdns.Msg
			n.InNodeNS(func() error {
				var err error
				in, _, err = (&mdns.Client{Timeout: time.Second}).Exchange(m, net.JoinHostPort(n.NodeIP().String(), "53"))
				return err
			})
			if in == nil {
				return -1
			}
			return in.Rcode
		}
		start := time.Now()
		must(t, k, serviceManifest("fresh", "fresh", "  ports: [{port: 80}]"), "apply", "-f", "-")
		waitFor(t, time.Second+time.Since(start), "a new service in DNS", func() bool { return ask() == mdns.RcodeSuccess })
		t.Logf("new service resolved %v after the create began", time.Since(start).Round(time.Millisecond))
		start = time.Now()
		must(t, k, "", "delete", "svc", "fresh", "--wait=false")
		waitFor(t, time.Second+time.Since(start), "a deleted service gone from DNS", func() bool { return ask() == mdns.RcodeNameError })
		t.Logf("deleted service NXDOMAIN %v after the delete began", time.Since(start).Round(time.Millisecond))
	})

	t.Run("restart", func(t *testing.T) {
		// One UDP socket in the pod, one 5-tuple towards the kube-dns Service for the whole test:
		// its conntrack entry outlives the daemon's restart and must not blackhole the flow.
		uid := must(t, k, "", "get", "pod", "web-1", "-o", "jsonpath={.metadata.uid}")
		var conn *net.UDPConn
		if err := n.InPodNS(uid, func() error {
			var err error
			conn, err = net.DialUDP("udp", nil, &net.UDPAddr{IP: net.ParseIP("10.96.0.10"), Port: 53})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// A lost answer is retried after a second, as resolvers do; a blackholed flow never answers.
		c := &mdns.Client{Timeout: time.Second}
		ask := func() error {
			m := new(mdns.Msg)
			m.SetQuestion("web.default.svc.cluster.local.", mdns.TypeA)
			in, _, err := c.ExchangeWithConn(m, &mdns.Conn{Conn: conn})
			if err == nil && (in.Rcode != mdns.RcodeSuccess || len(in.Answer) != 1) {
				err = fmt.Errorf("answer %s", mdns.RcodeToString[in.Rcode])
			}
			return err
		}
		if err := ask(); err != nil {
			t.Fatalf("before the restart: %v", err)
		}
		var mu sync.Mutex
		var failed int
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				if ask() != nil {
					mu.Lock()
					failed++
					mu.Unlock()
				}
			}
		}()
		n.Restart()
		ready := time.Now()
		close(stop)
		<-done
		waitFor(t, 2*time.Second, "the pod's flow to kube-dns answering after the restart", func() bool { return ask() == nil })
		t.Logf("answered %v after the daemon was ready again; %d queries failed while it restarted",
			time.Since(ready).Round(time.Millisecond), failed)
		for range 40 {
			if err := ask(); err != nil {
				t.Fatalf("after the restart (%v after ready): %v", time.Since(ready).Round(time.Millisecond), err)
			}
		}
	})
	must(t, k, "", "delete", "pod", "web-1", "db-0", "db-x", "--wait", "--timeout=60s")
}

func sortedLines(lines ...string) string {
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }
