package api

import (
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

const cmPath = "/api/v1/namespaces/default/configmaps"

func configMapJSON(name, labels, value string) string {
	l := ""
	if labels != "" {
		l = `,"labels":{` + labels + `}`
	}
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q%s},"data":{"k":%q}}`, name, l, value)
}

// names lists the metadata.name of every item of a list body, comma-separated.
func names(t *testing.T, body string) string {
	t.Helper()
	l := decode[struct {
		Items []struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		} `json:"items"`
	}](t, body)
	var out []string
	for _, i := range l.Items {
		out = append(out, i.Metadata.Name)
	}
	return strings.Join(out, ",")
}

func TestCRUDRoundTrip(t *testing.T) {
	e := newEnv(t, envOptions{})
	created := decode[corev1.ConfigMap](t, e.must(201, "POST", cmPath, configMapJSON("a", "", "1")).body)
	steps := []struct {
		name, method, path, body string
		wantCode                 int
		want                     string // the body, generated UIDs scrubbed
	}{
		{"get", "GET", cmPath + "/a", "", 200,
			`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"default","uid":"UID","resourceVersion":"8","creationTimestamp":"2025-03-01T12:00:00Z"},"data":{"k":"1"}}`},
		{"update", "PUT", cmPath + "/a", configMapJSON("a", "", "2"), 200,
			`{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"default","uid":"UID","resourceVersion":"9","creationTimestamp":"2025-03-01T12:00:00Z"},"data":{"k":"2"}}`},
		{"list", "GET", cmPath, "", 200,
			`{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"default","uid":"UID","resourceVersion":"9","creationTimestamp":"2025-03-01T12:00:00Z"},"data":{"k":"2"}}]}`},
		{"delete", "DELETE", cmPath + "/a", "", 200,
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"a","kind":"configmaps","uid":"UID"}}`},
		{"get after delete", "GET", cmPath + "/a", "", 404,
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \"a\" not found","reason":"NotFound","details":{"name":"a","kind":"configmaps"},"code":404}`},
		{"list after delete", "GET", cmPath, "", 200,
			`{"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"10"},"items":[]}`},
		{"typed ServiceList", "GET", "/api/v1/services?fieldSelector=metadata.name%3Dnone", "", 200,
			`{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"10"},"items":[]}`},
		{"typed DeploymentList", "GET", "/apis/apps/v1/namespaces/default/deployments", "", 200,
			`{"kind":"DeploymentList","apiVersion":"apps/v1","metadata":{"resourceVersion":"10"},"items":[]}`},
	}
	for _, s := range steps {
		r := e.do(s.method, s.path, s.body)
		if got := scrubUIDs(r.body); r.code != s.wantCode || got != s.want {
			t.Errorf("%s: got %d %s\nwant %d %s", s.name, r.code, got, s.wantCode, s.want)
		}
	}
	if string(created.UID) == "" || created.ResourceVersion != "8" {
		t.Errorf("create: uid %q resourceVersion %q, want a uid and 8", created.UID, created.ResourceVersion)
	}
}

func TestListSelectors(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, cm := range []string{
		configMapJSON("a", `"app":"web"`, "1"),
		configMapJSON("b", `"app":"db"`, "1"),
		configMapJSON("c", "", "1"),
	} {
		e.must(201, "POST", cmPath, cm)
	}
	e.must(201, "POST", "/api/v1/namespaces/default/pods", podJSON("p1"))
	e.must(201, "POST", "/api/v1/namespaces/default/pods", podJSON("p2"))
	e.must(200, "PATCH", "/api/v1/namespaces/default/pods/p2/status", `{"status":{"phase":"Running"}}`,
		"Content-Type", "application/merge-patch+json")
	for _, ev := range []string{eventJSON("e1", "p1"), eventJSON("e2", "p2")} {
		e.must(201, "POST", "/api/v1/namespaces/default/events", ev)
	}
	tests := []struct {
		path     string
		wantCode int
		want     string // item names, or the error message
	}{
		{cmPath + "?labelSelector=app%3Dweb", 200, "a"},
		{cmPath + "?labelSelector=app", 200, "a,b"},
		{cmPath + "?labelSelector=app%21%3Dweb", 200, "b,c"},
		{cmPath + "?labelSelector=app+in+(web,db)", 200, "a,b"},
		{cmPath + "?fieldSelector=metadata.name%3Db", 200, "b"},
		{cmPath + "?fieldSelector=metadata.name%21%3Db", 200, "a,c"},
		{"/api/v1/configmaps?fieldSelector=metadata.namespace%3Ddefault,metadata.name%3Dc", 200, "c"},
		{"/api/v1/namespaces/default/pods?fieldSelector=status.phase%3DRunning", 200, "p2"},
		{"/api/v1/namespaces/default/pods?fieldSelector=status.phase%3DPending", 200, "p1"},
		{"/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dp1", 200, "e1"},
		{"/api/v1/namespaces/default/events?fieldSelector=involvedObject.kind%3DPod,involvedObject.name%3Dp2", 200, "e2"},
		{cmPath + "?fieldSelector=foo%3Dbar", 400, "field label not supported: foo"},
		{"/api/v1/namespaces/default/pods?fieldSelector=involvedObject.name%3Dp1", 400, "field label not supported: involvedObject.name"},
	}
	for _, tt := range tests {
		r := e.do("GET", tt.path, "")
		got := ""
		if r.code == 200 {
			got = names(t, r.body)
		} else {
			got = decode[metav1.Status](t, r.body).Message
		}
		if r.code != tt.wantCode || got != tt.want {
			t.Errorf("GET %s: got %d %q, want %d %q", tt.path, r.code, got, tt.wantCode, tt.want)
		}
	}
}

func podJSON(name string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"labels":{"app":%q}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`, name, name)
}

func eventJSON(name, pod string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Event","metadata":{"name":%q},"involvedObject":{"kind":"Pod","namespace":"default","name":%q},"reason":"Started","message":"started","type":"Normal"}`, name, pod)
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.must(201, "POST", cmPath, configMapJSON("a", "", "1"))
	e.must(201, "POST", "/api/v1/namespaces", `{"metadata":{"name":"gone"}}`)
	e.must(200, "DELETE", "/api/v1/namespaces/gone", "")
	tests := []struct {
		name, path, body string
		wantCode         int
		want             string
	}{
		{"namespace missing", "/api/v1/namespaces/nope/configmaps", configMapJSON("x", "", "1"), 404,
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"namespaces \"nope\" not found","reason":"NotFound","details":{"name":"nope","kind":"namespaces"},"code":404}`},
		{"namespace terminating", "/api/v1/namespaces/gone/configmaps", configMapJSON("x", "", "1"), 403,
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \"x\" is forbidden: unable to create new content in namespace gone because it is being terminated","reason":"Forbidden","details":{"name":"x","kind":"configmaps","causes":[{"reason":"NamespaceTerminating","message":"namespace gone is being terminated","field":"metadata.namespace"}]},"code":403}`},
		{"duplicate", cmPath, configMapJSON("a", "", "2"), 409,
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps \"a\" already exists","reason":"AlreadyExists","details":{"name":"a","kind":"configmaps"},"code":409}`},
		{"resourceVersion set", cmPath, `{"metadata":{"name":"rv","resourceVersion":"3"}}`, 400,
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"resourceVersion should not be set on objects to be created","reason":"BadRequest","code":400}`},
		{"no name", cmPath, `{"metadata":{}}`, 422,
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required","reason":"Invalid","details":{"kind":"ConfigMap","causes":[{"reason":"FieldValueRequired","message":"Required value: name or generateName is required","field":"metadata.name"}]},"code":422}`},
		{"wrong kind", cmPath, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`, 400,
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the kind in the data (Secret) does not match the expected kind (ConfigMap)","reason":"BadRequest","code":400}`},
	}
	for _, tt := range tests {
		r := e.do("POST", tt.path, tt.body)
		if r.code != tt.wantCode || r.body != tt.want {
			t.Errorf("%s: got %d %s\nwant %d %s", tt.name, r.code, r.body, tt.wantCode, tt.want)
		}
	}
}

func TestCreateGenerateName(t *testing.T) {
	e := newEnv(t, envOptions{})
	seen := map[string]bool{}
	for range 3 {
		cm := decode[corev1.ConfigMap](t, e.must(201, "POST", cmPath, `{"metadata":{"generateName":"web-"}}`).body)
		if !regexp.MustCompile(`^web-[bcdfghjklmnpqrstvwxz2456789]{5}$`).MatchString(cm.Name) || seen[cm.Name] {
			t.Errorf("generated name %q: want web- and 5 new characters from kube-apiserver's alphabet", cm.Name)
		}
		seen[cm.Name] = true
		if cm.GenerateName != "web-" {
			t.Errorf("generateName = %q, want web-", cm.GenerateName)
		}
	}
}

func TestCreateProtobuf(t *testing.T) {
	e := newEnv(t, envOptions{})
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "pb"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "pb"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}
	body := encodeProtobuf(t, svc)
	r := e.must(201, "POST", "/api/v1/namespaces/default/services", body,
		"Content-Type", "application/vnd.kubernetes.protobuf", "Accept", "application/vnd.kubernetes.protobuf, application/json")
	got := decode[corev1.Service](t, r.body)
	summary := fmt.Sprintf("%s %s %v %d/%s %s", got.Name, got.Spec.Type, inServiceCIDR(got.Spec.ClusterIP), got.Spec.Ports[0].Port,
		got.Spec.Ports[0].Protocol, got.Spec.Ports[0].TargetPort.String())
	if want := "pb ClusterIP true 80/TCP 80"; summary != want {
		t.Errorf("protobuf service created as %q, want %q", summary, want)
	}
}

func inServiceCIDR(ip string) bool {
	a, err := netip.ParseAddr(ip)
	return err == nil && netip.MustParsePrefix("10.96.0.0/12").Contains(a) && ip != "10.96.0.1"
}

func encodeProtobuf(t *testing.T, obj runtime.Object) string {
	t.Helper()
	var b strings.Builder
	if err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Encode(obj, &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestFieldValidation(t *testing.T) {
	const unknown = `{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s"},"spec":{"foo":1,"ports":[{"port":80}]}}`
	const duplicate = `{"apiVersion":"v1","kind":"Service","metadata":{"name":"%s"},"spec":{"type":"ClusterIP","type":"ClusterIP","ports":[{"port":80}]}}`
	tests := []struct {
		name, query, body string
		wantCode          int
		wantWarning       string
		wantMessage       string
	}{
		{"strict unknown", "?fieldValidation=Strict", unknown, 400, "",
			`Service in version "v1" cannot be handled as a Service: strict decoding error: unknown field "spec.foo"`},
		{"strict duplicate", "?fieldValidation=Strict", duplicate, 400, "",
			`Service in version "v1" cannot be handled as a Service: strict decoding error: duplicate field "spec.type"`},
		{"warn unknown", "?fieldValidation=Warn", unknown, 201, `299 - "unknown field \"spec.foo\""`, ""},
		{"default is warn", "", unknown, 201, `299 - "unknown field \"spec.foo\""`, ""},
		{"warn duplicate", "?fieldValidation=Warn", duplicate, 201, `299 - "duplicate field \"spec.type\""`, ""},
		{"ignore", "?fieldValidation=Ignore", unknown, 201, "", ""},
		{"bad value", "?fieldValidation=Loud", unknown, 400, "",
			"fieldValidation parameter unsupported: Loud. Supported parameters include: Ignore, Warn, Strict"},
	}
	e := newEnv(t, envOptions{})
	for i, tt := range tests {
		name := fmt.Sprintf("fv%d", i)
		r := e.do("POST", "/api/v1/namespaces/default/services"+tt.query, fmt.Sprintf(tt.body, name))
		msg := ""
		if r.code >= 400 {
			msg = decode[metav1.Status](t, r.body).Message
		}
		warning := strings.Join(r.header.Values("Warning"), "|")
		if r.code != tt.wantCode || warning != tt.wantWarning || msg != tt.wantMessage {
			t.Errorf("%s: got %d warning %q message %q\nwant %d warning %q message %q",
				tt.name, r.code, warning, msg, tt.wantCode, tt.wantWarning, tt.wantMessage)
		}
	}
}

func TestValidationMessage(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.do("POST", "/api/v1/namespaces/default/services",
		`{"metadata":{"name":"x"},"spec":{"ports":[{"port":70000,"targetPort":8080}]}}`)
	want := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Service \"x\" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive","reason":"Invalid","details":{"name":"x","kind":"Service","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: 70000: must be between 1 and 65535, inclusive","field":"spec.ports[0].port"}]},"code":422}`
	if r.code != http.StatusUnprocessableEntity || r.body != want {
		t.Errorf("got %d %s\nwant 422 %s", r.code, r.body, want)
	}
	// A rejected Service must not keep the address it was given on the way.
	if got := e.do("GET", "/api/v1/namespaces/default/services/x", ""); got.code != 404 {
		t.Errorf("rejected service stored: %d %s", got.code, got.body)
	}
}
