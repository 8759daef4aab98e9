package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/podnet/podnet/integration/harness"
)

// TestClusterDNSSeed: the seed's `wget -O- nginx:80` from a pod resolves the service by its
// short name through the kube-dns Service (podnet's own DNS behind the proxy); nslookup shows
// the ClusterIP for the full name; the kube-dns Service comes back when deleted.
func TestClusterDNSSeed(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	importImages(t, n)
	k := kubectlRun(n.KubectlIn)
	equal(t, "kube-dns", must(t, k, "", "get", "svc", "kube-dns", "-n", "kube-system", "-o",
		`jsonpath={.spec.clusterIP} {.spec.ports[0].name}/{.spec.ports[0].port}/{.spec.ports[0].protocol} {.spec.ports[1].name}/{.spec.ports[1].port}/{.spec.ports[1].protocol}`),
		"10.96.0.10 dns/53/UDP dns-tcp/53/TCP")
	must(t, k, "", "run", "nginx", "--image=nginx", "--restart=Never", "--port=80", "--expose")
	must(t, k, "", "wait", "--for=condition=Ready", "pod/nginx", "--timeout=60s")
	cip := clusterIP(t, k, "nginx")

	out, err := n.KubectlTTY("", "run", "busybox", "--rm", "-it", "--image=busybox", "--restart=Never", "--", "wget", "-O-", "nginx:80")
	if err != nil || !strings.Contains(out, "<title>Welcome to nginx!</title>") {
		t.Errorf("wget nginx:80 from a pod: %v\n%s", err, out)
	}
	must(t, k, busyboxPod("lookup", "Never", "nslookup nginx.default.svc.cluster.local", ""), "apply", "-f", "-")
	waitPod(t, k, "lookup", "{.status.phase}", "Succeeded", 60*time.Second)
	if logs := must(t, k, "", "logs", "lookup"); !strings.Contains(logs, "Address: "+cip) {
		t.Errorf("nslookup from a pod:\n%s\nwant the ClusterIP %s", logs, cip)
	}

	must(t, k, "", "delete", "svc", "kube-dns", "-n", "kube-system")
	waitFor(t, 10*time.Second, "kube-dns back", func() bool {
		out, _, _ := k("", "get", "svc", "kube-dns", "-n", "kube-system", "-o", "jsonpath={.spec.clusterIP}")
		return out == "10.96.0.10"
	})
	must(t, k, "", "delete", "pod", "nginx", "lookup", "--wait", "--timeout=60s")
}
