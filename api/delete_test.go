package api

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const rsPath = "/apis/apps/v1/namespaces/default/replicasets"

func TestDeletePreconditions(t *testing.T) {
	e := newEnv(t, envOptions{})
	cm := decode[corev1.ConfigMap](t, e.must(201, "POST", cmPath, configMapJSON("a", "", "1")).body)
	r := e.do("DELETE", cmPath+"/a", `{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"0000"}}`)
	want := fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on ConfigMap \"a\": the UID in the precondition (0000) does not match the UID in record (%s). The object might have been deleted and then recreated","reason":"Conflict","details":{"name":"a","kind":"ConfigMap"},"code":409}`, cm.UID)
	if r.code != 409 || r.body != want {
		t.Errorf("wrong uid: got %d %s\nwant 409 %s", r.code, r.body, want)
	}
	e.must(200, "GET", cmPath+"/a", "")
	r = e.do("DELETE", cmPath+"/a", fmt.Sprintf(`{"preconditions":{"uid":%q}}`, cm.UID))
	if want := fmt.Sprintf(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"a","kind":"configmaps","uid":%q}}`, cm.UID); r.code != 200 || r.body != want {
		t.Errorf("right uid: got %d %s\nwant 200 %s", r.code, r.body, want)
	}
	r = e.do("DELETE", cmPath+"/a?propagationPolicy=Sideways", "")
	if want := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"propagationPolicy: Unsupported value: \"Sideways\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"","reason":"BadRequest","code":400}`; r.code != 400 || r.body != want {
		t.Errorf("bad policy: got %d %s\nwant 400 %s", r.code, r.body, want)
	}
}

// ownedReplicaSet creates a Deployment and a ReplicaSet it controls.
func ownedReplicaSet(t *testing.T, e *testEnv, name string) {
	t.Helper()
	d := decode[appsv1.Deployment](t, e.must(201, "POST", deployPath, deploymentJSON(name, 1, "nginx")).body)
	rs := strings.Replace(deploymentJSON(name+"-rs", 1, "nginx"), `"kind":"Deployment"`, `"kind":"ReplicaSet"`, 1)
	rs = strings.Replace(rs, `"metadata":{"name":"`+name+`-rs"}`, fmt.Sprintf(
		`"metadata":{"name":"%s-rs","ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":%q,"uid":%q,"controller":true,"blockOwnerDeletion":true}]}`,
		name, name, d.UID), 1)
	e.must(201, "POST", rsPath, rs)
}

func deletingSummary(t *testing.T, r response) string {
	t.Helper()
	var o struct {
		Kind     string            `json:"kind"`
		Status   any               `json:"status"`
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	looseDecode(r.body, &o)
	if o.Kind == "Status" {
		return fmt.Sprintf("%d Status %v", r.code, o.Status)
	}
	return fmt.Sprintf("%d %s deleting=%v finalizers=%v", r.code, o.Kind, o.Metadata.DeletionTimestamp != nil, o.Metadata.Finalizers)
}

func exists(e *testEnv, path string) bool { return e.do("GET", path, "").code == 200 }

func TestDeletePropagation(t *testing.T) {
	e := newEnv(t, envOptions{controllers: true})
	tests := []struct {
		policy       string
		wantResponse string
		wantRSLeft   bool
	}{
		{"Background", "200 Status Success", false},
		{"Foreground", "200 Deployment deleting=true finalizers=[foregroundDeletion]", false},
		{"Orphan", "200 Deployment deleting=true finalizers=[orphan]", true},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			name := strings.ToLower(tt.policy)
			ownedReplicaSet(t, e, name)
			r := e.do("DELETE", deployPath+"/"+name, fmt.Sprintf(`{"propagationPolicy":%q}`, tt.policy))
			if got := deletingSummary(t, r); got != tt.wantResponse {
				t.Errorf("delete response: got %s, want %s", got, tt.wantResponse)
			}
			eventually(t, "the deployment to go", func() bool { return !exists(e, deployPath+"/"+name) })
			if tt.policy == "Foreground" && exists(e, rsPath+"/"+name+"-rs") {
				t.Error("foreground: the owner went before its dependent")
			}
			if tt.wantRSLeft {
				// Give the collector a few passes to do what it must not.
				for range 5 {
					e.reg.RunControllers(canceled(), time.Hour)
				}
				rs := decode[appsv1.ReplicaSet](t, e.must(200, "GET", rsPath+"/"+name+"-rs", "").body)
				if len(rs.OwnerReferences) != 0 {
					t.Errorf("orphaned replicaset still has owners %v", rs.OwnerReferences)
				}
				return
			}
			eventually(t, "the replicaset to go", func() bool { return !exists(e, rsPath+"/"+name+"-rs") })
		})
	}
}

func TestDeleteNamespace(t *testing.T) {
	e := newEnv(t, envOptions{controllers: true})
	e.must(201, "POST", "/api/v1/namespaces", `{"metadata":{"name":"tmp"}}`)
	e.must(201, "POST", "/api/v1/namespaces/tmp/configmaps", configMapJSON("a", "", "1"))
	e.must(201, "POST", "/api/v1/namespaces/tmp/pods", podJSON("p"))
	ns := decode[corev1.Namespace](t, e.must(200, "DELETE", "/api/v1/namespaces/tmp", "").body)
	if got := fmt.Sprintf("%s deleting=%v spec.finalizers=%v", ns.Status.Phase, ns.DeletionTimestamp != nil, ns.Spec.Finalizers); got != "Terminating deleting=true spec.finalizers=[kubernetes]" {
		t.Errorf("namespace delete answered %s", got)
	}
	eventually(t, "the namespace's contents to go", func() bool {
		return !exists(e, "/api/v1/namespaces/tmp/configmaps/a") && !exists(e, "/api/v1/namespaces/tmp/pods/p")
	})
	eventually(t, "the namespace to go", func() bool { return !exists(e, "/api/v1/namespaces/tmp") })
}

func TestDeleteCollection(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, cm := range []string{
		configMapJSON("a", `"app":"web"`, "1"),
		configMapJSON("b", `"app":"web"`, "1"),
		configMapJSON("c", `"app":"db"`, "1"),
	} {
		e.must(201, "POST", cmPath, cm)
	}
	r := e.must(200, "DELETE", cmPath+"?labelSelector=app%3Dweb", "")
	if got := decode[metav1.TypeMeta](t, r.body).Kind + " " + names(t, r.body); got != "ConfigMapList a,b" {
		t.Errorf("deletecollection answered %s, want ConfigMapList a,b", got)
	}
	if got := names(t, e.must(200, "GET", cmPath, "").body); got != "c" {
		t.Errorf("left after deletecollection: %s, want c", got)
	}
}

func TestNamespaceDeleteRules(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tt := range []struct {
		name, method, path string
		code               int
		message            string
	}{
		{"default is protected", "DELETE", "/api/v1/namespaces/default", 403,
			`namespaces "default" is forbidden: this namespace may not be deleted`},
		{"kube-system is protected", "DELETE", "/api/v1/namespaces/kube-system", 403,
			`namespaces "kube-system" is forbidden: this namespace may not be deleted`},
		{"create team", "POST", "/api/v1/namespaces", 201, ""},
		// A pod keeps the namespace terminating: there is no controller in this test server.
		{"a pod in team", "POST", "/api/v1/namespaces/team/pods", 201, ""},
		{"delete team", "DELETE", "/api/v1/namespaces/team", 200, ""},
		{"delete team again", "DELETE", "/api/v1/namespaces/team", 409,
			`Operation cannot be fulfilled on namespaces "team": The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system.`},
		{"namespace status subresource", "GET", "/api/v1/namespaces/team/status", 200, ""},
		{"delete with a bad dryRun", "DELETE", cmPath + "/nope?dryRun=Maybe", 400, "Invalid dry run value: [Maybe]"},
	} {
		body := ""
		switch tt.name {
		case "create team":
			body = `{"metadata":{"name":"team"}}`
		case "a pod in team":
			body = podJSON("p")
		}
		r := e.do(tt.method, tt.path, body)
		var st struct{ Message string }
		looseDecode(r.body, &st)
		if r.code != tt.code || (tt.message != "" && st.Message != tt.message) {
			t.Errorf("%s: %d %q, want %d %q", tt.name, r.code, st.Message, tt.code, tt.message)
		}
	}
}
