package integration

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/podnet/podnet/integration/harness"
)

func TestRunExpose(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	importImages(t, n)
	k := kubectlRun(n.KubectlIn)
	equal(t, "run --expose", must(t, k, "", "run", "nginx", "--image=nginx", "--restart=Never", "--port=80", "--expose"),
		"service/nginx created\npod/nginx created\n")
	out := must(t, k, "", "get", "svc", "nginx")
	m := regexp.MustCompile(`(?m)^nginx\s+ClusterIP\s+(\S+)\s+<none>\s+80/TCP\s+[0-9]+s$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("get svc nginx:\n%s", out)
	}
	if ip, err := netip.ParseAddr(m[1]); err != nil || !netip.MustParsePrefix("10.96.0.0/12").Contains(ip) || ip == netip.MustParseAddr("10.96.0.10") {
		t.Errorf("ClusterIP %s not a dynamic address in 10.96.0.0/12", m[1])
	}
	must(t, k, "", "wait", "--for=condition=Ready", "pod/nginx", "--timeout=60s")
	rows := table(must(t, k, "", "get", "pods", "-o", "wide"))
	checkRow(t, "pods -o wide header", rows[0], "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE", "READINESS", "GATES")
	node := must(t, k, "", "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}")
	ip := must(t, k, "", "get", "pod", "nginx", "-o", "jsonpath={.status.podIP}")
	checkRow(t, "pod", rows[1], "nginx", "1/1", "Running", "0", "<age>", ip, node, "<none>", "<none>")
	// The pod must go before the test ends: the harness counts leftovers as leaks.
	must(t, k, "", "delete", "pod", "nginx", "--wait")
}

func TestBootstrapObjects(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	k := kubectlRun(n.KubectlIn)
	rows := table(must(t, k, "", "get", "nodes", "-o", "wide"))
	checkRow(t, "nodes header", rows[0][:7], "NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP")
	if len(rows) != 2 || rows[1][1] != "Ready" || rows[1][5] != n.NodeIP().String() {
		t.Errorf("node row %q, want Ready with INTERNAL-IP %s", rows[1], n.NodeIP())
	}
	equal(t, "kubernetes endpoints", must(t, k, "", "get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}"),
		n.NodeIP().String()+":6443")
	equal(t, "kubernetes service", must(t, k, "", "get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP} {.spec.ports[0].port}"), "10.96.0.1 443")
	// The Node is Ready only while the CNI plugins answer STATUS: podnet wrote the default netplug
	// conflist for the node's pod range. (netplug makes the bridge at the first pod: TestRunNginx.)
	conf, err := os.ReadFile(filepath.Join(n.DataDir(), "cni", "net.d", "10-podnet.conflist"))
	if err != nil || !strings.Contains(string(conf), `"subnet": "10.244.0.0/24"`) && !strings.Contains(string(conf), `"subnet":"10.244.0.0/24"`) {
		t.Errorf("default conflist: %v\n%s", err, conf)
	}
	desc := must(t, k, "", "describe", "svc", "kubernetes")
	if !regexp.MustCompile(`(?m)^Endpoints:\s+` + regexp.QuoteMeta(n.NodeIP().String()) + `:6443$`).MatchString(desc) {
		t.Errorf("describe svc kubernetes does not show the API endpoint:\n%s", desc)
	}
}

func TestValidationMessages(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	for _, f := range flavours {
		k := f.run(n)
		for _, tc := range []struct {
			name, manifest string
			args           []string
			want           string
		}{
			{"port out of range", svcYAML("bad-port", "ClusterIP", "  - port: 70000\n    targetPort: 80\n"), []string{"apply", "-f", "-"},
				`The Service "bad-port" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive` + "\n"},
			{"unknown field", svcYAML("strict", "ClusterIP", "  - port: 80\n") + "  foo: bar\n", []string{"create", "-f", "-"},
				`Error from server (BadRequest): error when creating "STDIN": Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.foo"` + "\n"},
			{"nodePort out of range", svcYAML("np-low", "NodePort", "  - port: 80\n    nodePort: 80\n"), []string{"apply", "-f", "-"},
				`The Service "np-low" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767` + "\n"},
			{"bad protocol", svcYAML("proto", "ClusterIP", "  - port: 80\n    protocol: FOO\n"), []string{"apply", "-f", "-"},
				`The Service "proto" is invalid: spec.ports[0].protocol: Unsupported value: "FOO": supported values: "SCTP", "TCP", "UDP"` + "\n"},
			{"bad name", svcYAML("Bad_Name", "ClusterIP", "  - port: 80\n"), []string{"apply", "-f", "-"},
				`The Service "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')` + "\n"},
		} {
			t.Run(f.name+"/"+tc.name, func(t *testing.T) {
				equal(t, "error", mustFail(t, k, tc.manifest, tc.args...), tc.want)
			})
		}
	}
	k := kubectlRun(n.KubectlIn)
	must(t, k, svcYAML("np-a", "NodePort", "  - port: 80\n    nodePort: 30080\n"), "apply", "-f", "-")
	equal(t, "nodePort taken", mustFail(t, k, svcYAML("np-b", "NodePort", "  - port: 80\n    nodePort: 30080\n"), "apply", "-f", "-"),
		`The Service "np-b" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated`+"\n")
	must(t, k, svcYAML("ip-a", "ClusterIP", "  - port: 80\n")+"  clusterIP: 10.96.5.5\n", "apply", "-f", "-")
	equal(t, "clusterIP taken", mustFail(t, k, svcYAML("ip-b", "ClusterIP", "  - port: 80\n")+"  clusterIP: 10.96.5.5\n", "apply", "-f", "-"),
		`The Service "ip-b" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.5.5"}: failed to allocate IP 10.96.5.5: provided IP is already allocated`+"\n")
	// Nothing half-applied: the refused Services do not exist.
	for _, name := range []string{"bad-port", "strict", "np-low", "np-b", "ip-b"} {
		equal(t, "refused "+name, mustFail(t, k, "", "get", "svc", name), fmt.Sprintf("Error from server (NotFound): services %q not found\n", name))
	}
}

// svcYAML is a Service manifest ending in its ports list, so that tests can append spec fields.
func svcYAML(name, typ, ports string) string {
	return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\nspec:\n  type: " + typ + "\n  selector:\n    app: x\n  ports:\n" + ports
}

func TestUnauthorized(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	for _, token := range []string{"", "wrong"} {
		cfg := restConfig(t, n)
		cfg.BearerToken = token
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = cs.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
		var se *apierrors.StatusError
		if !apierrors.IsUnauthorized(err) || !asStatus(err, &se) || se.ErrStatus.Message != "Unauthorized" {
			t.Errorf("token %q: %v, want 401 Unauthorized", token, err)
		}
	}
}

func asStatus(err error, se **apierrors.StatusError) bool {
	s, ok := err.(*apierrors.StatusError)
	*se = s
	return ok
}

func nodePortService(name string, port int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: port}}},
	}
}

// TestNodePortChurnAndCrash: allocations are released on delete (1,000 create/delete cycles
// leave the whole range free), and objects, allocations and resourceVersions survive kill -9.
func TestNodePortChurnAndCrash(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	ctx := context.Background()
	svcs := clientset(t, n).CoreV1().Services("default")
	for i := 0; i < 1000; i++ {
		name := fmt.Sprintf("churn-%d", i)
		if _, err := svcs.Create(ctx, nodePortService(name, 0), metav1.CreateOptions{}); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
		if err := svcs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
	}
	// Every port of the range can be allocated again, and then the range is full.
	var lastRV string
	for port := int32(30000); port <= 32767; port++ {
		s, err := svcs.Create(ctx, nodePortService(fmt.Sprintf("np-%d", port), port), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("port %d after churn: %v", port, err)
		}
		lastRV = s.ResourceVersion
	}
	_, err := svcs.Create(ctx, nodePortService("one-too-many", 0), metav1.CreateOptions{})
	if !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "range is full") {
		t.Fatalf("allocation from a full range: %v", err)
	}

	n.Kill9()
	n.Restart()
	svcs = clientset(t, n).CoreV1().Services("default")
	list, err := svcs.List(ctx, metav1.ListOptions{LabelSelector: ""})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(list.Items); got != 2768+1 { // + kubernetes
		t.Fatalf("after kill -9: %d services, want 2769", got)
	}
	// The allocations came back with the objects: the range is still full...
	_, err = svcs.Create(ctx, nodePortService("still-full", 31000), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "provided port is already allocated") {
		t.Fatalf("port 31000 after restart: %v", err)
	}
	// ...and resourceVersions keep growing from where they were.
	if err := svcs.Delete(ctx, "np-31000", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := svcs.Create(ctx, nodePortService("after-restart", 31000), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := strconv.ParseUint(lastRV, 10, 64)
	after, _ := strconv.ParseUint(s.ResourceVersion, 10, 64)
	if after <= before {
		t.Fatalf("resourceVersion went from %d to %d across kill -9", before, after)
	}
}
