package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/podnet/podnet/integration/harness"
)

// corednsBinary is CoreDNS built from the Go module proxy by hack/deps.sh (bin/coredns), or
// $COREDNS.
func corednsBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("COREDNS"); p != "" {
		return p
	}
	p := filepath.Join(repoDir(t), "bin", "coredns")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("PODNET_INTEGRATION") == "1" {
			t.Fatalf("%s missing: run hack/deps.sh", p)
		}
		t.Skipf("%s missing: run hack/deps.sh", p)
	}
	return p
}

// startCoreDNS runs CoreDNS in the node's namespace with its kubernetes plugin reading podnet's
// API through the node's kubeconfig (harness.Corefile), on 127.0.0.1:port.
func startCoreDNS(t *testing.T, n *harness.Node, port int) {
	t.Helper()
	dir := t.TempDir()
	corefile := harness.Corefile{Bind: "127.0.0.1", Port: port, Kubeconfig: n.KubeconfigPath()}.String()
	path := filepath.Join(dir, "Corefile")
	if err := os.WriteFile(path, []byte(corefile), 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(dir, "coredns.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nsenter", "--net="+n.NodeNSPath(), "--", corednsBinary(t), "-conf", path)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("coredns log:\n%s", b)
		}
	})
}

// dnsAnswer asks server (inside the node's namespace) and renders the reply in a form where two
// servers' answers compare: rcode, flags that matter, then each section's records sorted, TTLs
// kept (both should use 5 s).
func dnsAnswer(n *harness.Node, server, name string, qtype uint16) (string, error) {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = true
	var in *mdns.Msg
	err := n.InNodeNS(func() error {
		c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
		var err error
		in, _, err = c.Exchange(m, server)
		return err
	})
	if err != nil {
		return "", err
	}
	return renderMsg(in), nil
}

func renderMsg(in *mdns.Msg) string {
	var b strings.Builder
	b.WriteString(mdns.RcodeToString[in.Rcode])
	if in.Authoritative {
		b.WriteString(" aa")
	}
	b.WriteString("\n")
	for _, sec := range []struct {
		tag string
		rrs []mdns.RR
	}{{"an", in.Answer}, {"ns", in.Ns}, {"ex", in.Extra}} {
		var lines []string
		for _, rr := range sec.rrs {
			if rr.Header().Rrtype == mdns.TypeOPT {
				continue
			}
			if soa, ok := rr.(*mdns.SOA); ok {
				soa.Serial = 0 // both use the time of their last change
			}
			lines = append(lines, sec.tag+" "+strings.ReplaceAll(rr.String(), "\t", " "))
		}
		sort.Strings(lines)
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// dnsFixture is the cluster state both servers answer for: a ClusterIP service with named
// ports, one with a single unnamed port, a headless service whose pods have a hostname and a
// subdomain (and one without), a headless service with no endpoints, and an ExternalName.
const dnsFixture = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080, protocol: TCP}
  - {name: dns, port: 53, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata: {name: single}
spec:
  selector: {app: web}
  ports:
  - {port: 8443}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports:
  - {name: sql, port: 5432}
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  clusterIP: None
  selector: {app: nothing}
  ports:
  - {name: x, port: 1}
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec:
  type: ExternalName
  externalName: example.org
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, labels: {app: web}}
spec: {terminationGracePeriodSeconds: 1, containers: [{name: c, image: busybox, command: [sleep, "3600"]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, labels: {app: db}}
spec: {hostname: db-0, subdomain: db, terminationGracePeriodSeconds: 1, containers: [{name: c, image: busybox, command: [sleep, "3600"]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: db-x, labels: {app: db}}
spec: {terminationGracePeriodSeconds: 1, containers: [{name: c, image: busybox, command: [sleep, "3600"]}]}
`

// reverse is the in-addr.arpa name of an IPv4 address.
func reverse(ip string) string {
	name, err := mdns.ReverseAddr(ip)
	if err != nil {
		panic(err)
	}
	return name
}

func dashed(ip string) string { return strings.ReplaceAll(ip, ".", "-") }

// TestCoreDNSDifferential: CoreDNS's kubernetes plugin, reading podnet's API through the
// kubeconfig (list and watch with client-go), and podnet's own DNS give the same answers for
// every record kind of the spec on the same cluster state.
func TestCoreDNSDifferential(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	importImages(t, n)
	k := kubectlRun(n.KubectlIn)
	must(t, k, dnsFixture, "apply", "-f", "-")
	must(t, k, "", "wait", "--for=condition=Ready", "pod/web-1", "pod/db-0", "pod/db-x", "--timeout=60s")
	const corePort = 1053
	startCoreDNS(t, n, corePort)

	podIP := func(name string) string {
		return must(t, k, "", "get", "pod", name, "-o", "jsonpath={.status.podIP}")
	}
	web1, db0, dbx := podIP("web-1"), podIP("db-0"), podIP("db-x")
	webIP, singleIP := clusterIP(t, k, "web"), clusterIP(t, k, "single")
	z := ".cluster.local."
	questions := []struct {
		name  string
		qtype uint16
	}{
		{"web.default.svc" + z, mdns.TypeA},
		{"WEB.Default.SVC.cluster.LOCAL.", mdns.TypeA},
		{"web.default.svc" + z, mdns.TypeAAAA},
		{"web.default.svc" + z, mdns.TypeSRV},
		{"web.default.svc" + z, mdns.TypeTXT},
		{"_http._tcp.web.default.svc" + z, mdns.TypeSRV},
		{"_dns._udp.web.default.svc" + z, mdns.TypeSRV},
		{"_http._udp.web.default.svc" + z, mdns.TypeSRV},
		{"single.default.svc" + z, mdns.TypeA},
		{"single.default.svc" + z, mdns.TypeSRV},
		{"db.default.svc" + z, mdns.TypeA},
		{"db-0.db.default.svc" + z, mdns.TypeA},
		{dashed(dbx) + ".db.default.svc" + z, mdns.TypeA},
		{"_sql._tcp.db.default.svc" + z, mdns.TypeSRV},
		{"empty.default.svc" + z, mdns.TypeA},
		{"ext.default.svc" + z, mdns.TypeCNAME},
		{"ext.default.svc" + z, mdns.TypeSRV},
		{"nope.default.svc" + z, mdns.TypeA},
		{"web.nons.svc" + z, mdns.TypeA},
		{"default.svc" + z, mdns.TypeA},
		{"svc" + z, mdns.TypeA},
		{"a.b.web.default.svc" + z, mdns.TypeA},
		{"kubernetes.default.svc" + z, mdns.TypeA},
		{"kube-dns.kube-system.svc" + z, mdns.TypeA},
		{"dns-version" + z, mdns.TypeTXT},
		{"cluster.local.", mdns.TypeSOA},
		{"cluster.local.", mdns.TypeA},
		{"web.default.svc" + z, mdns.TypeMX},
		{reverse(webIP), mdns.TypePTR},
		{reverse(singleIP), mdns.TypePTR},
		{reverse(db0), mdns.TypePTR},
		{reverse(dbx), mdns.TypePTR},
		{dashed(web1) + ".default.pod" + z, mdns.TypeA},
		{dashed(web1) + ".kube-system.pod" + z, mdns.TypeA},
		{"10-244-255-254.default.pod" + z, mdns.TypeA},
	}
	podnetAddr := net.JoinHostPort(n.NodeIP().String(), "53")
	coreAddr := fmt.Sprintf("127.0.0.1:%d", corePort)
	// CoreDNS answers once its informers have synced; podnet's index follows the store's watch.
	waitFor(t, 30*time.Second, "CoreDNS to serve the cluster", func() bool {
		got, err := dnsAnswer(n, coreAddr, "db-0.db.default.svc"+z, mdns.TypeA)
		return err == nil && strings.HasPrefix(got, "NOERROR")
	})
	for _, q := range questions {
		label := mdns.TypeToString[q.qtype] + " " + q.name
		var want, got string
		var err error
		// Both follow the API by watch; give them a moment to agree.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if want, err = dnsAnswer(n, coreAddr, q.name, q.qtype); err != nil {
				t.Fatalf("%s: coredns: %v", label, err)
			}
			if got, err = dnsAnswer(n, podnetAddr, q.name, q.qtype); err != nil {
				t.Fatalf("%s: podnet: %v", label, err)
			}
			if got == want || time.Now().After(deadline) {
				break
			}
		}
		if got != want {
			t.Errorf("%s:\npodnet:\n%scoredns:\n%s", label, got, want)
		}
	}
	must(t, k, "", "delete", "pod", "web-1", "db-0", "db-x", "--wait", "--timeout=60s")
}
