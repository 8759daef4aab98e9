package api

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const deployPath = "/apis/apps/v1/namespaces/default/deployments"

const (
	mergePatch     = "application/merge-patch+json"
	strategicPatch = "application/strategic-merge-patch+json"
	jsonPatch      = "application/json-patch+json"
)

func deploymentJSON(name string, replicas int, images ...string) string {
	var cs []string
	for i, img := range images {
		cs = append(cs, fmt.Sprintf(`{"name":"c%d","image":%q}`, i, img))
	}
	return fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q},"spec":{"replicas":%d,`+
		`"selector":{"matchLabels":{"app":%q}},"template":{"metadata":{"labels":{"app":%q}},"spec":{"containers":[%s]}}}}`,
		name, replicas, name, name, strings.Join(cs, ","))
}

// deploySummary renders what matters of a Deployment response: generation, replicas, status
// replicas, labels and containers.
func deploySummary(t *testing.T, r response) string {
	t.Helper()
	if r.code >= 300 {
		return fmt.Sprintf("%d %s", r.code, decode[metav1.Status](t, r.body).Message)
	}
	d := decode[appsv1.Deployment](t, r.body)
	var cs []string
	for _, c := range d.Spec.Template.Spec.Containers {
		cs = append(cs, c.Name+"="+c.Image)
	}
	return fmt.Sprintf("gen=%d replicas=%d status.replicas=%d labels=%v containers=%s",
		d.Generation, *d.Spec.Replicas, d.Status.Replicas, d.Labels, strings.Join(cs, ","))
}

func TestUpdateConflictAndNoop(t *testing.T) {
	e := newEnv(t, envOptions{})
	svc := decode[corev1.Service](t, e.must(201, "POST", svcPath, serviceJSON("x", "ClusterIP", "", 0)).body)
	stale := strings.Replace(serviceJSON("x", "ClusterIP", "", 0), `"name":"x"`, `"name":"x","resourceVersion":"2"`, 1)
	r := e.do("PUT", svcPath+"/x", stale)
	want := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on services \"x\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"x","kind":"services"},"code":409}`
	if r.code != 409 || r.body != want {
		t.Errorf("stale PUT: got %d %s\nwant 409 %s", r.code, r.body, want)
	}

	// Sending back what was read changes nothing, so nothing is written.
	before := e.store.ResourceVersion()
	same := decode[corev1.Service](t, e.must(200, "PUT", svcPath+"/x", e.must(200, "GET", svcPath+"/x", "").body).body)
	if same.ResourceVersion != svc.ResourceVersion || e.store.ResourceVersion() != before {
		t.Errorf("unchanged PUT: resourceVersion %s (store %d), want %s (store %d)",
			same.ResourceVersion, e.store.ResourceVersion(), svc.ResourceVersion, before)
	}
}

func TestStatusSubresourceAndGeneration(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.must(201, "POST", deployPath, deploymentJSON("web", 1, "nginx"))
	withStatus := func(replicas, statusReplicas int, label string) string {
		d := deploymentJSON("web", replicas, "nginx")
		d = strings.Replace(d, `"name":"web"}`, `"name":"web","labels":{"l":"`+label+`"}}`, 1)
		return strings.TrimSuffix(d, "}") + fmt.Sprintf(`,"status":{"replicas":%d}}`, statusReplicas)
	}
	e.must(201, "POST", deployPath, strings.Replace(deploymentJSON("web", 1, "nginx"), `"web"`, `"rep"`, 1))
	rep := strings.Replace(withStatus(1, 9, "m"), `"name":"web"`, `"name":"rep"`, 1)
	steps := []struct {
		name, method, path, body, contentType string
		want                                  string
	}{
		{"status write changes only status", "PUT", deployPath + "/web/status", withStatus(5, 3, "s"), "",
			"gen=1 replicas=1 status.replicas=3 labels=map[] containers=c0=nginx"},
		{"main write keeps status", "PATCH", deployPath + "/web", `{"metadata":{"labels":{"l":"m"}},"status":{"replicas":9}}`, mergePatch,
			"gen=1 replicas=1 status.replicas=3 labels=map[l:m] containers=c0=nginx"},
		{"spec change bumps generation", "PATCH", deployPath + "/web", `{"spec":{"replicas":2}}`, mergePatch,
			"gen=2 replicas=2 status.replicas=3 labels=map[l:m] containers=c0=nginx"},
		{"status patch keeps generation", "PATCH", deployPath + "/web/status", `{"status":{"replicas":2}}`, mergePatch,
			"gen=2 replicas=2 status.replicas=2 labels=map[l:m] containers=c0=nginx"},
		{"get", "GET", deployPath + "/web/status", "", "",
			"gen=2 replicas=2 status.replicas=2 labels=map[l:m] containers=c0=nginx"},
		// kubectl replace sends the manifest as written, without the server's defaults: the spec
		// has not changed, so neither does generation.
		{"replace with the same manifest keeps generation and status", "PUT", deployPath + "/rep", rep, "",
			"gen=1 replicas=1 status.replicas=0 labels=map[l:m] containers=c0=nginx"},
	}
	for _, s := range steps {
		var h []string
		if s.contentType != "" {
			h = []string{"Content-Type", s.contentType}
		}
		if got := deploySummary(t, e.do(s.method, s.path, s.body, h...)); got != s.want {
			t.Errorf("%s: got  %s\nwant %s", s.name, got, s.want)
		}
	}
}

func TestPatch(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.must(201, "POST", deployPath, deploymentJSON("sm", 1, "a:1", "b:1"))
	e.must(201, "POST", deployPath, deploymentJSON("mp", 1, "a:1", "b:1"))
	e.must(201, "POST", cmPath, configMapJSON("jp", "", "1"))
	const containers = `{"spec":{"template":{"spec":{"containers":[{"name":"c1","image":"b:2"}]}}}}`
	tests := []struct {
		name, path, contentType, patch string
		want                           string
	}{
		{"strategic merge keeps other containers", deployPath + "/sm", strategicPatch, containers,
			"gen=2 replicas=1 status.replicas=0 labels=map[] containers=c0=a:1,c1=b:2"},
		{"merge patch replaces the list", deployPath + "/mp", mergePatch, containers,
			"gen=2 replicas=1 status.replicas=0 labels=map[] containers=c1=b:2"},
		{"missing object", deployPath + "/nope", mergePatch, `{"spec":{"replicas":2}}`,
			`404 deployments.apps "nope" not found`},
		{"stale resourceVersion", deployPath + "/sm", mergePatch, `{"metadata":{"resourceVersion":"3"},"spec":{"replicas":4}}`,
			`409 Operation cannot be fulfilled on deployments.apps "sm": the object has been modified; please apply your changes to the latest version and try again`},
		{"server-side apply", deployPath + "/sm", "application/apply-patch+yaml", `{}`,
			"415 server-side apply is not supported by podnet; use client-side kubectl apply"},
	}
	for _, tt := range tests {
		if got := deploySummary(t, e.do("PATCH", tt.path, tt.patch, "Content-Type", tt.contentType)); got != tt.want {
			t.Errorf("%s: got  %s\nwant %s", tt.name, got, tt.want)
		}
	}

	r := e.must(200, "PATCH", cmPath+"/jp",
		`[{"op":"replace","path":"/data/k","value":"2"},{"op":"add","path":"/metadata/labels","value":{"p":"j"}}]`,
		"Content-Type", jsonPatch)
	cm := decode[corev1.ConfigMap](t, r.body)
	if got := fmt.Sprintf("%v %v", cm.Data, cm.Labels); got != "map[k:2] map[p:j]" {
		t.Errorf("JSON patch: got %s, want map[k:2] map[p:j]", got)
	}
	r = e.do("PATCH", cmPath+"/jp", `[{"op":"test","path":"/data/k","value":"9"}]`, "Content-Type", jsonPatch)
	// A patch that is well formed but cannot apply is 422 Invalid, in kube-apiserver's words.
	if got := decode[metav1.Status](t, r.body); r.code != 422 || got.Reason != metav1.StatusReasonInvalid ||
		got.Message != "the server rejected our request due to an error in our request" {
		t.Errorf("failed JSON patch test op: got %d %+v, want 422 Invalid", r.code, got)
	}
}

func TestScaleSubresource(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.must(201, "POST", deployPath, deploymentJSON("web", 1, "nginx"))
	scale := deployPath + "/web/scale"
	steps := []struct {
		name, method, body, contentType string
		wantCode                        int
		want                            string
	}{
		{"get", "GET", "", "", 200,
			`{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"web","namespace":"default","uid":"UID","resourceVersion":"8","creationTimestamp":"2025-03-01T12:00:00Z"},"spec":{"replicas":1},"status":{"replicas":0,"selector":"app=web"}}`},
		{"put", "PUT", `{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web","namespace":"default"},"spec":{"replicas":3}}`, "", 200,
			`{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"web","namespace":"default","uid":"UID","resourceVersion":"9","creationTimestamp":"2025-03-01T12:00:00Z"},"spec":{"replicas":3},"status":{"replicas":0,"selector":"app=web"}}`},
		{"patch", "PATCH", `{"spec":{"replicas":5}}`, mergePatch, 200,
			`{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"web","namespace":"default","uid":"UID","resourceVersion":"10","creationTimestamp":"2025-03-01T12:00:00Z"},"spec":{"replicas":5},"status":{"replicas":0,"selector":"app=web"}}`},
		{"stale put", "PUT", `{"metadata":{"name":"web","resourceVersion":"8"},"spec":{"replicas":2}}`, "", 409,
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"web","group":"apps","kind":"deployments"},"code":409}`},
		{"negative", "PATCH", `{"spec":{"replicas":-1}}`, mergePatch, 422,
			`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Scale.autoscaling \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0","reason":"Invalid","details":{"name":"web","group":"autoscaling","kind":"Scale","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: -1: must be greater than or equal to 0","field":"spec.replicas"}]},"code":422}`},
	}
	for _, s := range steps {
		var h []string
		if s.contentType != "" {
			h = []string{"Content-Type", s.contentType}
		}
		r := e.do(s.method, scale, s.body, h...)
		if got := scrubUIDs(r.body); r.code != s.wantCode || got != s.want {
			t.Errorf("%s: got %d %s\nwant %d %s", s.name, r.code, got, s.wantCode, s.want)
		}
	}
	if got := deploySummary(t, e.do("GET", deployPath+"/web", "")); got != "gen=3 replicas=5 status.replicas=0 labels=map[] containers=c0=nginx" {
		t.Errorf("deployment after scaling: %s", got)
	}
}
