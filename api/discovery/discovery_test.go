package discovery

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func newTestHandler(t *testing.T) http.Handler {
	t.Helper()
	h, err := NewHandler()
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	return h
}

func get(h http.Handler, method, path, accept string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "https://10.0.0.5:6443"+path, nil)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// clientGoAccept is what client-go v0.32's discovery client sends to /api and /apis.
const clientGoAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

func TestDocuments(t *testing.T) {
	h := newTestHandler(t)
	tests := []struct {
		name, method, path, accept string
		wantCode                   int
		wantType                   string
		// wantBody is the whole body when exact, else fragments that must all appear.
		exact     bool
		wantBody  []string
		forbidden []string
	}{{
		name: "aggregated core group", path: "/api", accept: clientGoAccept,
		wantCode: 200, wantType: ContentTypeAggregated,
		wantBody: []string{
			`{"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","metadata":{},"items":[{"metadata":{"creationTimestamp":null},"versions":[{"version":"v1","resources":[`,
			`{"resource":"services","responseKind":{"group":"","version":"v1","kind":"Service"},"scope":"Namespaced","singularResource":"service","verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"shortNames":["svc"],"categories":["all"],"subresources":[{"subresource":"status","responseKind":{"group":"","version":"v1","kind":"Service"},"verbs":["get","patch","update"]}]}`,
			`{"resource":"namespaces","responseKind":{"group":"","version":"v1","kind":"Namespace"},"scope":"Cluster","singularResource":"namespace",`,
			`{"subresource":"log","responseKind":{"group":"","version":"v1","kind":"Pod"},"verbs":["get"]},{"subresource":"exec","responseKind":{"group":"","version":"v1","kind":"PodExecOptions"},"verbs":["create","get"]},{"subresource":"attach","responseKind":{"group":"","version":"v1","kind":"PodAttachOptions"},"verbs":["create","get"]}`,
			`"freshness":"Current"}]}]}`,
		},
		forbidden: []string{`"name":"apps"`},
	}, {
		name: "aggregated named groups", path: "/apis", accept: ContentTypeAggregated,
		wantCode: 200, wantType: ContentTypeAggregated,
		wantBody: []string{
			`{"metadata":{"name":"apps","creationTimestamp":null},"versions":[{"version":"v1","resources":[{"resource":"deployments","responseKind":{"group":"apps","version":"v1","kind":"Deployment"},"scope":"Namespaced","singularResource":"deployment","verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"shortNames":["deploy"],"categories":["all"],"subresources":[{"subresource":"status","responseKind":{"group":"apps","version":"v1","kind":"Deployment"},"verbs":["get","patch","update"]},{"subresource":"scale","responseKind":{"group":"autoscaling","version":"v1","kind":"Scale"},"verbs":["get","patch","update"]}]}`,
			`{"resource":"ingressclasses","responseKind":{"group":"networking.k8s.io","version":"v1","kind":"IngressClass"},"scope":"Cluster","singularResource":"ingressclass",`,
		},
		forbidden: []string{`"resource":"pods"`},
	}, {
		name: "legacy versions", path: "/api", accept: "application/json, */*",
		wantCode: 200, wantType: "application/json", exact: true,
		wantBody: []string{`{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"10.0.0.5:6443"}]}`},
	}, {
		name: "legacy when only v2beta1 is asked for", path: "/apis",
		accept:   "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList",
		wantCode: 200, wantType: "application/json",
		wantBody: []string{`{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"},"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"10.0.0.5:6443"}]},{"name":"discovery.k8s.io",`},
	}, {
		name: "legacy core resources", path: "/api/v1",
		wantCode: 200, wantType: "application/json",
		wantBody: []string{
			`{"kind":"APIResourceList","groupVersion":"v1","resources":[`,
			`{"name":"services","singularName":"service","namespaced":true,"kind":"Service","verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"shortNames":["svc"],"categories":["all"]},{"name":"services/status","singularName":"","namespaced":true,"kind":"Service","verbs":["get","patch","update"]}`,
			`{"name":"pods/log","singularName":"","namespaced":true,"kind":"Pod","verbs":["get"]},{"name":"pods/exec","singularName":"","namespaced":true,"kind":"PodExecOptions","verbs":["create","get"]},{"name":"pods/attach","singularName":"","namespaced":true,"kind":"PodAttachOptions","verbs":["create","get"]}`,
			`{"name":"nodes","singularName":"node","namespaced":false,"kind":"Node",`,
		},
	}, {
		name: "legacy apps resources with scale in autoscaling", path: "/apis/apps/v1",
		wantCode: 200, wantType: "application/json",
		wantBody: []string{
			`{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apps/v1","resources":[`,
			`{"name":"deployments/scale","singularName":"","namespaced":true,"group":"autoscaling","version":"v1","kind":"Scale","verbs":["get","patch","update"]}`,
		},
	}, {
		name: "legacy group", path: "/apis/networking.k8s.io",
		wantCode: 200, wantType: "application/json", exact: true,
		wantBody: []string{`{"kind":"APIGroup","apiVersion":"v1","name":"networking.k8s.io","versions":[{"groupVersion":"networking.k8s.io/v1","version":"v1"}],"preferredVersion":{"groupVersion":"networking.k8s.io/v1","version":"v1"}}`},
	}, {
		name: "unknown group-version", path: "/apis/batch/v1",
		wantCode: 404, wantType: "application/json", exact: true,
		wantBody: []string{`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server could not find the requested resource","reason":"NotFound","details":{},"code":404}`},
	}, {
		name: "no openapi v2", path: "/openapi/v2", accept: "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
		wantCode: 404, wantType: "application/json",
		wantBody: []string{`"reason":"NotFound"`},
	}, {
		name: "writes are refused", method: "POST", path: "/apis",
		wantCode: 405, wantType: "application/json", exact: true,
		wantBody: []string{`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server does not allow this method on the requested resource","reason":"MethodNotAllowed","details":{},"code":405}`},
	}, {
		name: "openapi index", path: "/openapi/v3",
		wantCode: 200, wantType: "application/json",
		wantBody: []string{`{"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=`, `"apis/apps/v1":{"serverRelativeURL":"/openapi/v3/apis/apps/v1?hash=`,
			`"apis/discovery.k8s.io/v1":{"serverRelativeURL":"/openapi/v3/apis/discovery.k8s.io/v1?hash=`, `"apis/networking.k8s.io/v1":{"serverRelativeURL":"/openapi/v3/apis/networking.k8s.io/v1?hash=`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "GET"
			}
			w := get(h, method, tt.path, tt.accept)
			body := w.Body.String()
			if w.Code != tt.wantCode || w.Header().Get("Content-Type") != tt.wantType {
				t.Fatalf("got %d %q, want %d %q; body %s", w.Code, w.Header().Get("Content-Type"), tt.wantCode, tt.wantType, body)
			}
			if tt.exact && body != tt.wantBody[0] {
				t.Fatalf("body\n%s\nwant\n%s", body, tt.wantBody[0])
			}
			for _, want := range tt.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks\n%s\nbody:\n%s", want, body)
				}
			}
			for _, bad := range tt.forbidden {
				if strings.Contains(body, bad) {
					t.Errorf("body has %s", bad)
				}
			}
		})
	}
}

func TestAggregatedETag(t *testing.T) {
	h := newTestHandler(t)
	first := get(h, "GET", "/apis", ContentTypeAggregated)
	etag := first.Header().Get("Etag")
	if etag == "" || first.Header().Get("Vary") != "Accept" || first.Header().Get("Cache-Control") != "public" {
		t.Fatalf("headers %v", first.Header())
	}
	r := httptest.NewRequest("GET", "/apis", nil)
	r.Header.Set("Accept", ContentTypeAggregated)
	r.Header.Set("If-None-Match", etag)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Fatalf("If-None-Match: got %d with %d bytes, want 304 and none", w.Code, w.Body.Len())
	}
}

func TestWantsAggregated(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{clientGoAccept, true},
		{ContentTypeAggregated, true},
		{"application/json; as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io", true},
		{"application/json", false},
		{"application/json, " + ContentTypeAggregated, false},
		{"application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList," + ContentTypeAggregated, true},
		{"application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := wantsAggregated(tt.accept); got != tt.want {
			t.Errorf("wantsAggregated(%q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

func TestRoutes(t *testing.T) {
	got := strings.Join(Routes(), " ")
	want := "/api /apis /openapi/ /api/v1 /apis/apps /apis/apps/v1 /apis/discovery.k8s.io /apis/discovery.k8s.io/v1 /apis/networking.k8s.io /apis/networking.k8s.io/v1"
	if got != want {
		t.Fatalf("Routes() = %s\nwant        %s", got, want)
	}
}

func TestNaming(t *testing.T) {
	tests := []struct{ group, version, prefix, tag string }{
		{"", "v1", "CoreV1", "core_v1"},
		{"apps", "v1", "AppsV1", "apps_v1"},
		{"networking.k8s.io", "v1", "NetworkingV1", "networking_v1"},
		{"rbac.authorization.k8s.io", "v1beta1", "RbacAuthorizationV1beta1", "rbacAuthorization_v1beta1"},
	}
	for _, tt := range tests {
		gv := schema.GroupVersion{Group: tt.group, Version: tt.version}
		if got := operationPrefix(gv); got != tt.prefix {
			t.Errorf("operationPrefix(%v) = %s, want %s", gv, got, tt.prefix)
		}
		if got := tag(gv); got != tt.tag {
			t.Errorf("tag(%v) = %s, want %s", gv, got, tt.tag)
		}
	}
	if got := schemaName("k8s.io/apimachinery/pkg/apis/meta/v1", "ObjectMeta"); got != "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" {
		t.Errorf("schemaName = %s", got)
	}
}
