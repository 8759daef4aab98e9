package integration

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podnet/podnet/integration/harness"
)

const shopManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
  namespace: shop
stringData:
  password: hunter2
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: fast
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
`

// kubectlRun is one way of running kubectl: the system's or `podnet kubectl`.
type kubectlRun func(stdin string, args ...string) (stdout, stderr string, err error)

type flavour struct {
	name string
	run  func(n *harness.Node) kubectlRun
}

var flavours = []flavour{
	{"system kubectl", func(n *harness.Node) kubectlRun { return n.KubectlIn }},
	{"podnet kubectl", func(n *harness.Node) kubectlRun { return n.PodnetKubectlIn }},
}

// must runs kubectl and fails the test with its output if it fails.
func must(t *testing.T, k kubectlRun, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := k(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// mustFail runs kubectl, expects it to fail, and returns its stderr.
func mustFail(t *testing.T, k kubectlRun, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := k(stdin, args...)
	if err == nil {
		t.Fatalf("kubectl %s succeeded, want an error\nstdout:\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

func equal(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s:\ngot:\n%s\nwant:\n%s", what, got, want)
	}
}

// table splits kubectl's table output into rows of fields.
func table(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line != "" {
			rows = append(rows, strings.Fields(line))
		}
	}
	return rows
}

var age = regexp.MustCompile(`^[0-9]+(s|m)$`)

// checkRow compares fields with want, where "<age>" matches any age and "<ip>" any address.
func checkRow(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		switch want[i] {
		case "<age>":
			ok = age.MatchString(got[i])
		case "<ip>":
			_, err := netip.ParseAddr(got[i])
			ok = err == nil
		default:
			ok = got[i] == want[i]
		}
	}
	if !ok {
		t.Errorf("%s: row %q, want %q", what, got, want)
	}
}

func TestKubectlWorkflow(t *testing.T) {
	for _, f := range flavours {
		t.Run(f.name, func(t *testing.T) {
			editor := filepath.Join(t.TempDir(), "editor.sh")
			if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/mode: fast/mode: slow/' \"$1\"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			n := harness.StartNode(t, harness.Options{Env: []string{"KUBE_EDITOR=" + editor}})
			k := f.run(n)
			manifest := filepath.Join(t.TempDir(), "shop.yaml")
			if err := os.WriteFile(manifest, []byte(shopManifest), 0o644); err != nil {
				t.Fatal(err)
			}

			equal(t, "apply -f", must(t, k, "", "apply", "-f", manifest), `namespace/shop created
service/web created
deployment.apps/web created
secret/creds created
configmap/settings created
ingress.networking.k8s.io/web created
`)
			// Applying again from stdin with another port patches the Service: the old port goes.
			changed := strings.Replace(shopManifest, "  - port: 80\n", "  - port: 81\n", 1)
			out := must(t, k, changed, "apply", "-f", "-")
			if !strings.Contains(out, "service/web configured\n") || !strings.Contains(out, "deployment.apps/web unchanged\n") {
				t.Errorf("apply -f - with a new port:\n%s", out)
			}
			equal(t, "ports after re-apply", must(t, k, "", "get", "svc", "web", "-n", "shop", "-o", "jsonpath={.spec.ports[*].port}"), "81")

			checkGet(t, k)
			checkChanges(t, k)
			checkDelete(t, k)
		})
	}
}

func checkGet(t *testing.T, k kubectlRun) {
	rows := table(must(t, k, "", "get", "svc", "-n", "shop"))
	checkRow(t, "get svc header", rows[0], "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE")
	checkRow(t, "get svc", rows[1], "web", "ClusterIP", "<ip>", "<none>", "81/TCP", "<age>")
	rows = table(must(t, k, "", "get", "svc", "-n", "shop", "-o", "wide"))
	checkRow(t, "get svc -o wide header", rows[0], "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR")
	checkRow(t, "get svc -o wide", rows[1], "web", "ClusterIP", "<ip>", "<none>", "81/TCP", "<age>", "app=web")
	// The Deployment controller makes its ReplicaSet and pods at once (UP-TO-DATE 2); with no
	// image imported in this test, none becomes available.
	waitFor(t, 30*time.Second, "the deployment's replica set", func() bool {
		rows = table(must(t, k, "", "get", "deploy", "-n", "shop"))
		return len(rows) > 1 && rows[1][2] == "2"
	})
	checkRow(t, "get deploy header", rows[0], "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE")
	checkRow(t, "get deploy", rows[1], "web", "0/2", "2", "0", "<age>")
	rows = table(must(t, k, "", "get", "ingress", "-n", "shop"))
	checkRow(t, "get ingress header", rows[0], "NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE")
	checkRow(t, "get ingress", rows[1], "web", "<none>", "shop.example.com", "80", "<age>")
	rows = table(must(t, k, "", "get", "secret,configmap", "-n", "shop"))
	checkRow(t, "get secret header", rows[0], "NAME", "TYPE", "DATA", "AGE")
	checkRow(t, "get secret", rows[1], "secret/creds", "Opaque", "1", "<age>")
	checkRow(t, "get configmap header", rows[2], "NAME", "DATA", "AGE")
	checkRow(t, "get configmap", rows[3], "configmap/settings", "1", "<age>")
	rows = table(must(t, k, "", "get", "ns"))
	checkRow(t, "get ns header", rows[0], "NAME", "STATUS", "AGE")
	var names []string
	for _, r := range rows[1:] {
		names = append(names, r[0]+"="+r[1])
	}
	equal(t, "namespaces", strings.Join(names, " "), "default=Active kube-node-lease=Active kube-public=Active kube-system=Active shop=Active")
	rows = table(must(t, k, "", "get", "svc", "-A"))
	checkRow(t, "get svc -A header", rows[0], "NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE")
	checkRow(t, "get svc -A kubernetes", rows[1], "default", "kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP", "<age>")
	checkRow(t, "get svc -A kube-dns", rows[2], "kube-system", "kube-dns", "ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP", "<age>")
	checkRow(t, "get svc -A web", rows[3], "shop", "web", "ClusterIP", "<ip>", "<none>", "81/TCP", "<age>")

	equal(t, "-o name", must(t, k, "", "get", "deploy,svc", "-n", "shop", "-o", "name"), "deployment.apps/web\nservice/web\n")
	yaml := must(t, k, "", "get", "cm", "settings", "-n", "shop", "-o", "yaml")
	for _, want := range []string{"apiVersion: v1\n", "kind: ConfigMap\n", "  mode: fast\n", "  name: settings\n", "  namespace: shop\n"} {
		if !strings.Contains(yaml, want) {
			t.Errorf("-o yaml lacks %q:\n%s", want, yaml)
		}
	}
	var list struct {
		Kind  string `json:"kind"`
		Items []struct {
			Data map[string]string `json:"data"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(must(t, k, "", "get", "secrets", "-n", "shop", "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if list.Kind != "List" || len(list.Items) != 1 || list.Items[0].Data["password"] != "aHVudGVyMg==" {
		t.Errorf("-o json: %+v (stringData must be stored as data)", list)
	}
	// The Deployment itself has no labels: "app!=web" selects it, "app=web" does not.
	equal(t, "-l app!=web", must(t, k, "", "get", "deploy", "-A", "-l", "app!=web", "-o", "name"), "deployment.apps/web\n")
	equal(t, "-l app=web", must(t, k, "", "get", "deploy", "-A", "-l", "app=web", "-o", "name"), "")
	stdout, stderr, err := k("", "get", "pods")
	if err != nil || stdout != "" || stderr != "No resources found in default namespace.\n" {
		t.Errorf("get pods: %v %q %q", err, stdout, stderr)
	}

	desc := must(t, k, "", "describe", "svc", "web", "-n", "shop")
	for _, want := range []string{`(?m)^Name:\s+web$`, `(?m)^Namespace:\s+shop$`, `(?m)^Selector:\s+app=web$`,
		`(?m)^Type:\s+ClusterIP$`, `(?m)^IP:\s+10\.`, `(?m)^Port:\s+<unset>\s+81/TCP$`, `(?m)^TargetPort:\s+8080/TCP$`,
		`(?m)^Session Affinity:\s+None$`, `(?m)^Events:\s+<none>$`} {
		if !regexp.MustCompile(want).MatchString(desc) {
			t.Errorf("describe svc lacks %s:\n%s", want, desc)
		}
	}

	res := must(t, k, "", "api-resources")
	for _, want := range []string{`(?m)^services\s+svc\s+v1\s+true\s+Service$`, `(?m)^deployments\s+deploy\s+apps/v1\s+true\s+Deployment$`,
		`(?m)^ingresses\s+ing\s+networking.k8s.io/v1\s+true\s+Ingress$`, `(?m)^namespaces\s+ns\s+v1\s+false\s+Namespace$`,
		`(?m)^endpointslices\s+discovery.k8s.io/v1\s+true\s+EndpointSlice$`} {
		if !regexp.MustCompile(want).MatchString(res) {
			t.Errorf("api-resources lacks %s:\n%s", want, res)
		}
	}
}

func checkChanges(t *testing.T, k kubectlRun) {
	// A watch prints the Service, then each change as it happens.
	var wg sync.WaitGroup
	var watched string
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Long enough for the eight kubectl calls below on a loaded 2-core machine (5 s was not).
		watched, _, _ = k("", "get", "svc", "web", "-n", "shop", "-w", "--request-timeout=15s")
	}()
	time.Sleep(1500 * time.Millisecond)

	equal(t, "label", must(t, k, "", "label", "svc", "web", "-n", "shop", "tier=front"), "service/web labeled\n")
	equal(t, "annotate", must(t, k, "", "annotate", "svc", "web", "-n", "shop", "owner=team-a"), "service/web annotated\n")
	equal(t, "get -l", must(t, k, "", "get", "svc", "-A", "-l", "tier=front", "-o", "name"), "service/web\n")
	equal(t, "--show-labels", table(must(t, k, "", "get", "svc", "web", "-n", "shop", "--show-labels"))[1][6], "tier=front")
	equal(t, "patch merge", must(t, k, "", "patch", "svc", "web", "-n", "shop", "--type=merge",
		"-p", `{"spec":{"ports":[{"port":82,"targetPort":8080}]}}`), "service/web patched\n")
	equal(t, "patch json", must(t, k, "", "patch", "svc", "web", "-n", "shop", "--type=json",
		"-p", `[{"op":"replace","path":"/spec/ports/0/port","value":83}]`), "service/web patched\n")
	equal(t, "patch strategic", must(t, k, "", "patch", "deploy", "web", "-n", "shop",
		"-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}}}`), "deployment.apps/web patched\n")
	equal(t, "after patches", must(t, k, "", "get", "svc", "web", "-n", "shop",
		"-o", `jsonpath={.spec.ports[0].port} {.metadata.labels.tier} {.metadata.annotations.owner}`), "83 front team-a")
	equal(t, "strategic patch kept the ports", must(t, k, "", "get", "deploy", "web", "-n", "shop",
		"-o", `jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort} {.metadata.generation}`),
		"nginx:1.27 8080 2")
	equal(t, "edit", must(t, k, "", "edit", "cm", "settings", "-n", "shop"), "configmap/settings edited\n")
	equal(t, "after edit", must(t, k, "", "get", "cm", "settings", "-n", "shop", "-o", "jsonpath={.data.mode}"), "slow")

	wg.Wait()
	rows := table(watched)
	if len(rows) < 4 || rows[0][0] != "NAME" {
		t.Fatalf("get -w printed:\n%s", watched)
	}
	var ports []string
	for _, r := range rows[1:] {
		ports = append(ports, r[4])
	}
	// Initial state, then label, annotate, two port patches (each a change kubectl prints).
	equal(t, "get -w ports", strings.Join(ports, " "), "81/TCP 81/TCP 81/TCP 82/TCP 83/TCP")
}

func checkDelete(t *testing.T, k kubectlRun) {
	equal(t, "delete svc", must(t, k, "", "delete", "svc", "web", "-n", "shop"), "service \"web\" deleted\n")
	errOut := mustFail(t, k, "", "get", "svc", "web", "-n", "shop")
	equal(t, "get deleted svc", errOut, "Error from server (NotFound): services \"web\" not found\n")

	// delete ns waits until the namespace and everything in it are gone.
	equal(t, "delete ns", must(t, k, "", "delete", "ns", "shop"), "namespace \"shop\" deleted\n")
	errOut = mustFail(t, k, "", "get", "ns", "shop")
	equal(t, "get deleted ns", errOut, "Error from server (NotFound): namespaces \"shop\" not found\n")
	for _, res := range []string{"deployments", "secrets", "configmaps", "ingresses"} {
		out := must(t, k, "", "get", res, "-A", "-o", "name", "--field-selector", "metadata.namespace=shop")
		equal(t, fmt.Sprintf("%s left in deleted namespace", res), out, "")
	}
}
