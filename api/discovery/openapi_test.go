package discovery

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// openAPIURLs returns the index's serverRelativeURL of each group-version.
func openAPIURLs(t *testing.T, h http.Handler) map[string]string {
	t.Helper()
	var index struct {
		Paths map[string]struct{ ServerRelativeURL string } `json:"paths"`
	}
	if err := json.Unmarshal(get(h, "GET", "/openapi/v3", "").Body.Bytes(), &index); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for k, v := range index.Paths {
		out[k] = v.ServerRelativeURL
	}
	return out
}

func TestOpenAPICaching(t *testing.T) {
	h := newTestHandler(t)
	current := openAPIURLs(t, h)["api/v1"]
	tests := []struct {
		name, url, accept, ifNoneMatch string
		wantCode                       int
		wantHeaders                    map[string]string
	}{
		{name: "current hash is immutable", url: current, accept: "application/json", wantCode: 200,
			wantHeaders: map[string]string{"Cache-Control": "public, immutable", "Content-Type": "application/json", "Vary": "Accept"}},
		{name: "no hash is not cached", url: "/openapi/v3/api/v1", wantCode: 200,
			wantHeaders: map[string]string{"Cache-Control": "", "Content-Type": "application/json"}},
		{name: "stale hash redirects", url: "/openapi/v3/api/v1?hash=0123", wantCode: 301,
			wantHeaders: map[string]string{"Location": current}},
		{name: "protobuf only is not acceptable", url: current, accept: "application/com.github.proto-openapi.spec.v3@v1.0+protobuf", wantCode: 406},
		{name: "unknown group-version", url: "/openapi/v3/apis/batch/v1", wantCode: 404},
		{name: "etag revalidation", url: "/openapi/v3/api/v1", ifNoneMatch: `"` + strings.TrimPrefix(current, "/openapi/v3/api/v1?hash=") + `"`, wantCode: 304},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.url, nil)
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			if tt.ifNoneMatch != "" {
				r.Header.Set("If-None-Match", tt.ifNoneMatch)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.wantCode {
				t.Fatalf("code %d, want %d; body %s", w.Code, tt.wantCode, w.Body.String())
			}
			for k, v := range tt.wantHeaders {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestOpenAPIStable checks that documents are identical across constructions, so their hashes
// (and the URLs clients cache them under) survive a restart.
func TestOpenAPIStable(t *testing.T) {
	first, second := openAPIURLs(t, newTestHandler(t)), openAPIURLs(t, newTestHandler(t))
	if len(first) != 4 {
		t.Fatalf("index has %d group-versions, want 4: %v", len(first), first)
	}
	for k, v := range first {
		if second[k] != v {
			t.Errorf("%s: %s then %s", k, v, second[k])
		}
	}
}

func TestComponentSchemas(t *testing.T) {
	h := newTestHandler(t)
	tests := []struct {
		doc, schema, want string
	}{
		{"api/v1", "io.k8s.api.core.v1.Service", `"x-kubernetes-group-version-kind":[{"group":"","kind":"Service","version":"v1"}]`},
		{"api/v1", "io.k8s.api.core.v1.Service", `"type":"object"`},
		{"api/v1", "io.k8s.api.core.v1.ServiceList", `"x-kubernetes-group-version-kind":[{"group":"","kind":"ServiceList","version":"v1"}]`},
		{"api/v1", "io.k8s.api.core.v1.ServicePort", `"required":["port"]`},
		{"api/v1", "io.k8s.api.core.v1.ServiceSpec", `"ports":{"description":"The list of ports that are exposed by this service. More info: https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-and-service-proxies","type":"array","items":{"$ref":"#/components/schemas/io.k8s.api.core.v1.ServicePort"},"x-kubernetes-patch-merge-key":"port","x-kubernetes-patch-strategy":"merge"}`},
		{"api/v1", "io.k8s.apimachinery.pkg.apis.meta.v1.Time", `{"description":"Time is a timestamp in RFC 3339 form, to the second.","type":"string","format":"date-time"}`},
		{"api/v1", "io.k8s.apimachinery.pkg.util.intstr.IntOrString", `"format":"int-or-string","oneOf":[{"type":"integer","format":"int64"},{"type":"string"}]`},
		{"api/v1", "io.k8s.api.core.v1.Secret", `"data":{"description":"Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4","type":"object","additionalProperties":{"type":"string","format":"byte"}}`},
		{"apis/apps/v1", "io.k8s.api.autoscaling.v1.Scale", `"x-kubernetes-group-version-kind":[{"group":"autoscaling","kind":"Scale","version":"v1"}]`},
		{"apis/apps/v1", "io.k8s.api.apps.v1.Deployment", `"metadata":{"description":"Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata","allOf":[{"$ref":"#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]}`},
	}
	docs := map[string]map[string]json.RawMessage{}
	for _, tt := range tests {
		if docs[tt.doc] == nil {
			var doc struct {
				Components struct{ Schemas map[string]json.RawMessage } `json:"components"`
			}
			if err := json.Unmarshal(get(h, "GET", "/openapi/v3/"+tt.doc, "").Body.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			docs[tt.doc] = doc.Components.Schemas
		}
		got := string(docs[tt.doc][tt.schema])
		if !strings.Contains(got, tt.want) {
			t.Errorf("%s %s lacks %s:\n%s", tt.doc, tt.schema, tt.want, got)
		}
	}
}
