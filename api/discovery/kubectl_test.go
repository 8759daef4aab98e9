package discovery

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
)

// kubectl runs the real kubectl in-process against the handler.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	_, cfg := startServer(t)
	return kubectlAt(t, cfg.Host, args...)
}

func kubectlAt(t *testing.T, server string, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	flags := genericclioptions.NewConfigFlags(true)
	cmd := kubectlcmd.NewKubectlCommand(kubectlcmd.KubectlOptions{
		ConfigFlags: flags,
		IOStreams:   genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut},
	})
	cmd.SetArgs(append([]string{"--server", server, "--kubeconfig", "/dev/null", "--cache-dir", t.TempDir()}, args...))
	if err := cmd.Execute(); err != nil || errOut.Len() > 0 {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

func TestKubectlAPIResources(t *testing.T) {
	got := kubectl(t, "api-resources", "--sort-by=name")
	want := `NAME             SHORTNAMES   APIVERSION             NAMESPACED   KIND
configmaps       cm           v1                     true         ConfigMap
deployments      deploy       apps/v1                true         Deployment
endpoints        ep           v1                     true         Endpoints
endpointslices                discovery.k8s.io/v1    true         EndpointSlice
events           ev           v1                     true         Event
ingressclasses                networking.k8s.io/v1   false        IngressClass
ingresses        ing          networking.k8s.io/v1   true         Ingress
namespaces       ns           v1                     false        Namespace
nodes            no           v1                     false        Node
pods             po           v1                     true         Pod
replicasets      rs           apps/v1                true         ReplicaSet
secrets                       v1                     true         Secret
services         svc          v1                     true         Service
`
	if got != want {
		t.Errorf("kubectl api-resources:\n%s\nwant:\n%s", got, want)
	}
}

func TestKubectlExplain(t *testing.T) {
	got := kubectl(t, "explain", "deploy.spec.replicas")
	for _, want := range []string{"GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n", "FIELD: replicas <integer>"} {
		if !strings.Contains(got, want) {
			t.Errorf("kubectl explain lacks %q:\n%s", want, got)
		}
	}
}

// existing is the object the stand-in resource endpoint holds, as client-side apply left it.
func existing() string {
	lastApplied := `{"apiVersion":"v1","data":{"a":"1"},"kind":"ConfigMap","metadata":{"annotations":{},"name":"demo","namespace":"default"}}` + "\n"
	obj := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]string{"a": "1"},
		"metadata": map[string]any{"name": "demo", "namespace": "default",
			"annotations": map[string]string{"kubectl.kubernetes.io/last-applied-configuration": lastApplied}}}
	out, _ := json.Marshal(obj)
	return string(out)
}

// fakeAPI serves the handler plus a stand-in for the configmaps endpoint, recording each call to
// it as "METHOD URI CONTENT-TYPE".
func fakeAPI(t *testing.T) (string, *[]string) {
	discoveryHandler := newTestHandler(t)
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/api/v1/namespaces/") {
			discoveryHandler.ServeHTTP(w, r)
			return
		}
		calls = append(calls, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Content-Type")))
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
			io.Copy(w, r.Body)
			return
		}
		io.WriteString(w, existing())
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &calls
}

func writeManifest(t *testing.T, value string) string {
	manifest := filepath.Join(t.TempDir(), "cm.yaml")
	text := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  namespace: default\ndata:\n  a: \"" + value + "\"\n"
	if err := os.WriteFile(manifest, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return manifest
}

// TestKubectlWrites runs `kubectl create -f` and `kubectl apply -f` on an existing object and
// checks that kubectl leaves field validation to the server (fieldValidation=Strict) and builds
// its apply patch from its own types, without warnings about OpenAPI schemas (kubectlAt fails
// on any stderr output).
func TestKubectlWrites(t *testing.T) {
	tests := []struct {
		args      []string
		wantOut   string
		wantCalls string
	}{
		{[]string{"create", "-f"}, "configmap/demo created\n",
			"POST /api/v1/namespaces/default/configmaps?fieldManager=kubectl-create&fieldValidation=Strict application/json"},
		{[]string{"apply", "-f"}, "configmap/demo configured\n",
			"GET /api/v1/namespaces/default/configmaps/demo | " +
				"PATCH /api/v1/namespaces/default/configmaps/demo?fieldManager=kubectl-client-side-apply&fieldValidation=Strict application/strategic-merge-patch+json"},
	}
	for _, tt := range tests {
		t.Run(tt.args[0], func(t *testing.T) {
			server, calls := fakeAPI(t)
			if got := kubectlAt(t, server, append(tt.args, writeManifest(t, "2"))...); got != tt.wantOut {
				t.Errorf("output %q, want %q", got, tt.wantOut)
			}
			if got := strings.Join(*calls, " | "); got != tt.wantCalls {
				t.Errorf("calls %s\nwant  %s", got, tt.wantCalls)
			}
		})
	}
}
