package discovery

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	cliresource "k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/discovery"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/openapi"
	"k8s.io/client-go/openapi3"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/kube-openapi/pkg/spec3"
	explainv2 "k8s.io/kubectl/pkg/explain/v2"

	"github.com/podnet/podnet/api/resource"
)

// recorder counts the requests that reach the handler, by path.
type recorder struct {
	mu    sync.Mutex
	paths []string
	next  http.Handler
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.paths = append(r.paths, req.URL.Path)
	r.mu.Unlock()
	r.next.ServeHTTP(w, req)
}

func startServer(t *testing.T) (*recorder, *rest.Config) {
	t.Helper()
	rec := &recorder{next: newTestHandler(t)}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, &rest.Config{Host: srv.URL}
}

func TestClientGoDiscovery(t *testing.T) {
	rec, cfg := startServer(t)
	client := discovery.NewDiscoveryClientForConfigOrDie(cfg)
	groups, lists, err := client.ServerGroupsAndResources()
	if err != nil {
		t.Fatalf("ServerGroupsAndResources: %v", err)
	}
	// Aggregated discovery answers everything from /api and /apis; a legacy fallback would
	// also fetch /api/v1 and /apis/<group>/<version>.
	if got := strings.Join(rec.paths, " "); got != "/api /apis" {
		t.Fatalf("requests: %s, want /api /apis", got)
	}
	var names []string
	for _, g := range groups {
		names = append(names, g.Name+"="+g.PreferredVersion.GroupVersion)
	}
	if got, want := strings.Join(names, " "), "=v1 apps=apps/v1 discovery.k8s.io=discovery.k8s.io/v1 networking.k8s.io=networking.k8s.io/v1"; got != want {
		t.Errorf("groups %s, want %s", got, want)
	}
	var got []string
	for _, l := range lists {
		for _, r := range l.APIResources {
			got = append(got, l.GroupVersion+" "+r.Name+" "+r.Kind+" "+strings.Join(r.ShortNames, ","))
		}
	}
	for _, want := range []string{
		"v1 services Service svc", "v1 pods Pod po", "v1 pods/status Pod ", "v1 pods/log Pod ",
		"v1 pods/exec PodExecOptions ", "v1 pods/attach PodAttachOptions ", "v1 services/status Service ",
		"apps/v1 deployments/scale Scale ", "networking.k8s.io/v1 ingresses Ingress ing",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("discovery lacks %q; has %q", want, got)
		}
	}
}

// TestShortNames checks what kubectl does with discovery: resolve "svc" and "deploy".
func TestShortNames(t *testing.T) {
	_, cfg := startServer(t)
	client := discovery.NewDiscoveryClientForConfigOrDie(cfg)
	resources, err := restmapper.GetAPIGroupResources(client)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewShortcutExpander(restmapper.NewDiscoveryRESTMapper(resources), client, nil)
	tests := []struct {
		in   string
		want string
	}{
		{"svc", "/v1, Resource=services"},
		{"po", "/v1, Resource=pods"},
		{"deploy", "apps/v1, Resource=deployments"},
		{"ing", "networking.k8s.io/v1, Resource=ingresses"},
		{"endpointslice", "discovery.k8s.io/v1, Resource=endpointslices"},
	}
	for _, tt := range tests {
		gvr, err := mapper.ResourceFor(schema.GroupVersionResource{Resource: tt.in})
		if err != nil || gvr.String() != tt.want {
			t.Errorf("ResourceFor(%s) = %s, %v; want %s", tt.in, gvr, err, tt.want)
		}
	}
}

func openAPIClient(t *testing.T) (*recorder, openapi.Client) {
	rec, cfg := startServer(t)
	return rec, openapi.NewClient(discovery.NewDiscoveryClientForConfigOrDie(cfg).RESTClient())
}

// TestFieldValidationSupported runs kubectl's check for server-side field validation: it must
// pass for every kind podnet serves, so that kubectl sends fieldValidation=Strict.
func TestFieldValidationSupported(t *testing.T) {
	_, client := openAPIClient(t)
	// The verifier looks for CustomResourceDefinitions when a group-version is not served.
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	dynamic := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{crds: "CustomResourceDefinitionList"})
	verifier := cliresource.NewQueryParamVerifierV3(dynamic, client, cliresource.QueryParamFieldValidation)
	for _, info := range resource.All() {
		if err := verifier.HasSupport(info.GVK()); err != nil {
			t.Errorf("HasSupport(%s): %v", info.GVK(), err)
		}
	}
	unserved := schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}
	if err := verifier.HasSupport(unserved); err == nil {
		t.Errorf("HasSupport(%s) succeeded for a kind podnet does not serve", unserved)
	}
}

// TestNoStrategicMergeFromOpenAPI repeats kubectl apply's gvkSupportsPatchOpenAPIV3: every PATCH
// operation of each kind must exist and must not offer strategic merge patch, so that kubectl
// builds its patches from its compiled-in types.
func TestNoStrategicMergeFromOpenAPI(t *testing.T) {
	_, client := openAPIClient(t)
	root := openapi3.NewRoot(client)
	for _, info := range resource.All() {
		doc, err := root.GVSpec(info.GVR.GroupVersion())
		if err != nil {
			t.Fatalf("GVSpec(%s): %v", info.GVR.GroupVersion(), err)
		}
		patches := patchOperations(doc, info.GVK())
		if len(patches) == 0 {
			t.Errorf("%s: no PATCH operation", info.GVK())
		}
		for _, p := range patches {
			if p.RequestBody == nil || p.RequestBody.Content == nil {
				t.Errorf("%s: %s has no request body", info.GVK(), p.OperationId)
				continue
			}
			if _, smp := p.RequestBody.Content["application/strategic-merge-patch+json"]; smp {
				t.Errorf("%s: %s offers strategic merge patch", info.GVK(), p.OperationId)
			}
			if _, merge := p.RequestBody.Content["application/merge-patch+json"]; !merge {
				t.Errorf("%s: %s lacks merge patch", info.GVK(), p.OperationId)
			}
		}
	}
}

func patchOperations(doc *spec3.OpenAPI, gvk schema.GroupVersionKind) []*spec3.Operation {
	var out []*spec3.Operation
	for _, path := range doc.Paths.Paths {
		if path.Patch == nil {
			continue
		}
		var ext map[string]string
		if err := path.Patch.Extensions.GetObject("x-kubernetes-group-version-kind", &ext); err != nil {
			continue
		}
		if ext["group"] == gvk.Group && ext["version"] == gvk.Version && ext["kind"] == gvk.Kind {
			out = append(out, path.Patch)
		}
	}
	return out
}

func TestOperations(t *testing.T) {
	_, client := openAPIClient(t)
	root := openapi3.NewRoot(client)
	tests := []struct {
		gv                     schema.GroupVersion
		path, method           string
		id, action, gvk, query string
	}{
		{schema.GroupVersion{Version: "v1"}, "/api/v1/namespaces/{namespace}/services/{name}", "patch",
			"patchCoreV1NamespacedService", "patch", "/v1, Kind=Service", "dryRun fieldManager fieldValidation force"},
		{schema.GroupVersion{Version: "v1"}, "/api/v1/namespaces/{namespace}/services", "post",
			"createCoreV1NamespacedService", "post", "/v1, Kind=Service", "dryRun fieldManager fieldValidation"},
		{schema.GroupVersion{Version: "v1"}, "/api/v1/namespaces/{namespace}/services", "delete",
			"deleteCoreV1CollectionNamespacedService", "deletecollection", "/v1, Kind=Service", "continue dryRun fieldSelector gracePeriodSeconds labelSelector limit orphanDependents propagationPolicy resourceVersion resourceVersionMatch sendInitialEvents timeoutSeconds"},
		{schema.GroupVersion{Version: "v1"}, "/api/v1/services", "get",
			"listCoreV1ServiceForAllNamespaces", "list", "/v1, Kind=Service", "allowWatchBookmarks continue fieldSelector labelSelector limit resourceVersion resourceVersionMatch sendInitialEvents timeoutSeconds watch"},
		{schema.GroupVersion{Version: "v1"}, "/api/v1/nodes/{name}", "put",
			"replaceCoreV1Node", "put", "/v1, Kind=Node", "dryRun fieldManager fieldValidation"},
		{schema.GroupVersion{Version: "v1"}, "/api/v1/watch/namespaces/{namespace}/pods/{name}", "get",
			"watchCoreV1NamespacedPod", "watch", "/v1, Kind=Pod", ""},
		{schema.GroupVersion{Version: "v1"}, "/api/v1/watch/namespaces", "get",
			"watchCoreV1NamespaceList", "watchlist", "/v1, Kind=Namespace", ""},
		{schema.GroupVersion{Version: "v1"}, "/api/v1/namespaces/{namespace}/pods/{name}/log", "get",
			"readCoreV1NamespacedPodLog", "get", "/v1, Kind=Pod", "container follow limitBytes previous sinceSeconds tailLines timestamps"},
		{schema.GroupVersion{Version: "v1"}, "/api/v1/namespaces/{namespace}/pods/{name}/exec", "post",
			"connectCoreV1PostNamespacedPodExec", "connect", "/v1, Kind=PodExecOptions", "command container stderr stdin stdout tty"},
		{schema.GroupVersion{Version: "v1"}, "/api/v1/namespaces/{name}/status", "patch",
			"patchCoreV1NamespaceStatus", "patch", "/v1, Kind=Namespace", "dryRun fieldManager fieldValidation force"},
		{schema.GroupVersion{Group: "apps", Version: "v1"}, "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale", "put",
			"replaceAppsV1NamespacedDeploymentScale", "put", "autoscaling/v1, Kind=Scale", "dryRun fieldManager fieldValidation"},
		{schema.GroupVersion{Group: "networking.k8s.io", Version: "v1"}, "/apis/networking.k8s.io/v1/ingressclasses", "get",
			"listNetworkingV1IngressClass", "list", "networking.k8s.io/v1, Kind=IngressClass", "allowWatchBookmarks continue fieldSelector labelSelector limit resourceVersion resourceVersionMatch sendInitialEvents timeoutSeconds watch"},
		{schema.GroupVersion{Group: "discovery.k8s.io", Version: "v1"}, "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{name}", "delete",
			"deleteDiscoveryV1NamespacedEndpointSlice", "delete", "discovery.k8s.io/v1, Kind=EndpointSlice", "dryRun gracePeriodSeconds orphanDependents propagationPolicy"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			doc, err := root.GVSpec(tt.gv)
			if err != nil {
				t.Fatal(err)
			}
			path, ok := doc.Paths.Paths[tt.path]
			if !ok {
				t.Fatalf("no path %s", tt.path)
			}
			o := operationOf(path, tt.method)
			if o == nil {
				t.Fatalf("no %s on %s", tt.method, tt.path)
			}
			var gvk map[string]string
			if err := o.Extensions.GetObject("x-kubernetes-group-version-kind", &gvk); err != nil {
				t.Fatal(err)
			}
			action, _ := o.Extensions.GetString("x-kubernetes-action")
			var params []string
			for _, p := range o.Parameters {
				params = append(params, p.Name)
			}
			got := []string{o.OperationId, action, schema.GroupVersionKind{Group: gvk["group"], Version: gvk["version"], Kind: gvk["kind"]}.String(), strings.Join(params, " ")}
			want := []string{tt.id, tt.action, tt.gvk, tt.query}
			if !slices.Equal(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

func operationOf(p *spec3.Path, method string) *spec3.Operation {
	return map[string]*spec3.Operation{"get": p.Get, "put": p.Put, "post": p.Post, "patch": p.Patch, "delete": p.Delete}[method]
}

// TestExplain renders `kubectl explain services.spec.ports` from the served document.
func TestExplain(t *testing.T) {
	_, client := openAPIClient(t)
	var out bytes.Buffer
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "services"}
	if err := explainv2.PrintModelDescription([]string{"spec", "ports"}, &out, client, gvr, false, "plaintext"); err != nil {
		t.Fatalf("explain: %v", err)
	}
	for _, want := range []string{"KIND:       Service\nVERSION:    v1\n", "FIELD: ports <[]ServicePort>", "port\t<integer> -required-", "targetPort\t<IntOrString>"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain output lacks %q:\n%s", want, out.String())
		}
	}
}
