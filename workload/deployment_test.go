package workload

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podnet/podnet/api/resource"
)

// TestComputeHash pins the hash against upstream. The expected values were printed by a scratch
// program (outside this repository) running kube-controller-manager's ComputeHash and its
// original spew-based DeepHashObject verbatim, with k8s.io/api v0.32.11, on these templates.
func TestComputeHash(t *testing.T) {
	grace := int64(30)
	defaulted := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27",
				TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				ImagePullPolicy: corev1.PullIfNotPresent}},
			RestartPolicy: corev1.RestartPolicyAlways, TerminationGracePeriodSeconds: &grace,
			DNSPolicy: corev1.DNSClusterFirst, SecurityContext: &corev1.PodSecurityContext{},
			SchedulerName: "default-scheduler",
		},
	}
	one := int32(1)
	tests := []struct {
		name      string
		template  corev1.PodTemplateSpec
		collision *int32
		want      string
	}{
		{"defaulted nginx template", defaulted, nil, "796cf5c97c"},
		{"same template after one collision", defaulted, &one, "78cd7cf8dd"},
		{"empty template", corev1.PodTemplateSpec{}, nil, "6f75fc469d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ComputeHash(&tt.template, tt.collision); got != tt.want {
				t.Errorf("ComputeHash = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDeploymentCreatesReplicaSet(t *testing.T) {
	e := newEnv(t, nil)
	e.create(resource.Deployments, deploymentObj(2, "nginx:1", "", "", false))
	e.settle()
	d := e.deployment("web")
	hash := ComputeHash(&d.Spec.Template, nil)
	rsList := e.replicaSetList()
	if len(rsList) != 1 {
		t.Fatalf("got %d replicasets, want 1", len(rsList))
	}
	rs := rsList[0]
	got := fmt.Sprintf("name=%s\nlabels=%v\nselector=%v\ntemplateLabels=%v\nannotations=%v\nowner=%s/%s %s controller=%v\nreplicas=%d\ndeploymentRevision=%s",
		rs.Name, rs.Labels, rs.Spec.Selector.MatchLabels, rs.Spec.Template.Labels, rs.Annotations,
		rs.OwnerReferences[0].APIVersion, rs.OwnerReferences[0].Kind, rs.OwnerReferences[0].Name, *rs.OwnerReferences[0].Controller,
		*rs.Spec.Replicas, d.Annotations[RevisionAnnotation])
	want := strings.ReplaceAll(`name=web-HASH
labels=map[app:web pod-template-hash:HASH]
selector=map[app:web pod-template-hash:HASH]
templateLabels=map[app:web pod-template-hash:HASH]
annotations=map[deployment.kubernetes.io/desired-replicas:2 deployment.kubernetes.io/max-replicas:3 deployment.kubernetes.io/revision:1]
owner=apps/v1/Deployment web controller=true
replicas=2
deploymentRevision=1`, "HASH", hash)
	if got != want {
		t.Errorf("replicaset:\n%s\nwant:\n%s", got, want)
	}
	for _, p := range e.pods() {
		if p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || !strings.HasPrefix(p.Name, rs.Name+"-") {
			t.Errorf("pod %s labels %v: want name %s-… and pod-template-hash %s", p.Name, p.Labels, rs.Name, hash)
		}
	}
}

// rollout records the ReplicaSets after every controller step while the fake kubelet readies one
// pod at a time, and checks maxSurge and maxUnavailable at each step.
func rollout(t *testing.T, e *env, replicas, surge, unavailable int32, to string) []string {
	t.Helper()
	e.update(resource.Deployments, "web", "", setImage(to))
	var steps []string
	for i := 0; i < 40; i++ {
		e.settle()
		steps = append(steps, e.rsSummary())
		pods := e.pods()
		ready := 0
		for _, p := range pods {
			if isPodReady(p) {
				ready++
			}
		}
		if int32(len(pods)) > replicas+surge {
			t.Errorf("step %d: %d pods, more than %d+%d", i, len(pods), replicas, surge)
		}
		if int32(ready) < replicas-unavailable {
			t.Errorf("step %d: %d ready pods, fewer than %d-%d", i, ready, replicas, unavailable)
		}
		if d := e.deployment("web"); deploymentComplete(d, &d.Status) {
			return steps
		}
		e.readyOne()
	}
	t.Fatal("rollout never completed")
	return nil
}

func TestRollingUpdateSteps(t *testing.T) {
	tests := []struct {
		name                 string
		replicas             int32
		surge, unavailable   string
		maxSurge, maxUnavail int32
		want                 string
	}{
		{name: "defaults 25% of 4: surge 1, unavailable 1", replicas: 4, maxSurge: 1, maxUnavail: 1,
			want: `A:3/3 B:2/0
A:2/2 B:3/1
A:1/1 B:4/2
A:0/0 B:4/3
A:0/0 B:4/4`},
		{name: "surge 0, unavailable 1 of 3", replicas: 3, surge: "0", unavailable: "1", maxSurge: 0, maxUnavail: 1,
			want: `A:2/2 B:1/0
A:1/1 B:2/1
A:0/0 B:3/2
A:0/0 B:3/3`},
		{name: "surge 50% of 3 rounds up to 2, unavailable 0", replicas: 3, surge: "50%", unavailable: "0", maxSurge: 2, maxUnavail: 0,
			want: `A:3/3 B:2/0
A:2/2 B:3/1
A:1/1 B:3/2
A:0/0 B:3/3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.create(resource.Deployments, deploymentObj(tt.replicas, "A", tt.surge, tt.unavailable, false))
			e.settle()
			e.readyAll()
			e.settle()
			got := strings.Join(rollout(t, e, tt.replicas, tt.maxSurge, tt.maxUnavail, "B"), "\n")
			if got != tt.want {
				t.Errorf("steps (image:spec/ready per replicaset):\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestRecreate(t *testing.T) {
	e := newEnv(t, nil)
	e.create(resource.Deployments, deploymentObj(2, "A", "", "", true))
	e.settle()
	e.readyAll()
	e.settle()
	got := strings.Join(rollout(t, e, 2, 0, 2, "B"), "\n")
	want := `A:0/0 B:2/0
A:0/0 B:2/1
A:0/0 B:2/2`
	if got != want {
		t.Errorf("steps:\n%s\nwant:\n%s", got, want)
	}
}

// revisions renders each ReplicaSet's image, revision and revision history, and the deployment's.
func (e *env) revisions() string {
	var parts []string
	for _, rs := range e.replicaSetList() {
		part := fmt.Sprintf("%s rev=%s", rs.Spec.Template.Spec.Containers[0].Image, rs.Annotations[RevisionAnnotation])
		if h := rs.Annotations[RevisionHistoryAnnotation]; h != "" {
			part += " history=" + h
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, "; ") + " | deployment rev=" + e.deployment("web").Annotations[RevisionAnnotation]
}

func TestRevisionsAndHistoryLimit(t *testing.T) {
	e := newEnv(t, nil)
	d := deploymentObj(1, "A", "", "", false)
	limit := int32(1)
	d.Spec.RevisionHistoryLimit = &limit
	e.create(resource.Deployments, d)
	var got []string
	for _, image := range []string{"A", "B", "C", "B"} {
		e.update(resource.Deployments, "web", "", setImage(image))
		for i := 0; i < 10; i++ {
			e.settle()
			e.readyAll()
		}
		e.settle()
		got = append(got, image+": "+e.revisions())
	}
	want := `A: A rev=1 | deployment rev=1
B: A rev=1; B rev=2 | deployment rev=2
C: B rev=2; C rev=3 | deployment rev=3
B: C rev=3; B rev=4 history=2 | deployment rev=4`
	if s := strings.Join(got, "\n"); s != want {
		t.Errorf("revisions:\n%s\nwant:\n%s", s, want)
	}
}

func conditions(d *appsv1.Deployment) string {
	var lines []string
	for _, c := range d.Status.Conditions {
		lines = append(lines, fmt.Sprintf("%s %s %s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	s := d.Status
	lines = append(lines, fmt.Sprintf("replicas=%d updated=%d ready=%d available=%d unavailable=%d observedGeneration=%d",
		s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas, s.UnavailableReplicas, s.ObservedGeneration))
	return strings.Join(lines, "\n")
}

func TestDeploymentConditions(t *testing.T) {
	e := newEnv(t, nil)
	d := deploymentObj(2, "A", "", "", false)
	deadline := int32(60)
	d.Spec.ProgressDeadlineSeconds = &deadline
	e.create(resource.Deployments, d)
	var got []string
	step := func(what string) {
		e.settle()
		got = append(got, "# "+what, strings.ReplaceAll(conditions(e.deployment("web")), ComputeHash(&e.deployment("web").Spec.Template, nil), "HASH"))
	}
	step("created")
	e.readyOne()
	step("one pod ready")
	e.readyOne()
	step("all ready")
	e.update(resource.Deployments, "web", "", func(obj runtime.Object) { obj.(*appsv1.Deployment).Spec.Paused = true })
	step("paused")
	e.update(resource.Deployments, "web", "", func(obj runtime.Object) { obj.(*appsv1.Deployment).Spec.Paused = false })
	step("resumed")
	e.update(resource.Deployments, "web", "", setImage("B"))
	step("new image")
	e.clk.Advance(61 * time.Second)
	step("deadline passed")
	want := `# created
Available False MinimumReplicasUnavailable: Deployment does not have minimum availability.
Progressing True ReplicaSetUpdated: ReplicaSet "web-HASH" is progressing.
replicas=2 updated=2 ready=0 available=0 unavailable=2 observedGeneration=1
# one pod ready
Available False MinimumReplicasUnavailable: Deployment does not have minimum availability.
Progressing True ReplicaSetUpdated: ReplicaSet "web-HASH" is progressing.
replicas=2 updated=2 ready=1 available=1 unavailable=1 observedGeneration=1
# all ready
Available True MinimumReplicasAvailable: Deployment has minimum availability.
Progressing True NewReplicaSetAvailable: ReplicaSet "web-HASH" has successfully progressed.
replicas=2 updated=2 ready=2 available=2 unavailable=0 observedGeneration=1
# paused
Available True MinimumReplicasAvailable: Deployment has minimum availability.
Progressing Unknown DeploymentPaused: Deployment is paused
replicas=2 updated=2 ready=2 available=2 unavailable=0 observedGeneration=2
# resumed
Available True MinimumReplicasAvailable: Deployment has minimum availability.
Progressing True NewReplicaSetAvailable: ReplicaSet "web-HASH" has successfully progressed.
replicas=2 updated=2 ready=2 available=2 unavailable=0 observedGeneration=3
# new image
Available True MinimumReplicasAvailable: Deployment has minimum availability.
Progressing True ReplicaSetUpdated: ReplicaSet "web-HASH" is progressing.
replicas=3 updated=1 ready=2 available=2 unavailable=1 observedGeneration=4
# deadline passed
Available True MinimumReplicasAvailable: Deployment has minimum availability.
Progressing False ProgressDeadlineExceeded: ReplicaSet "web-HASH" has timed out progressing.
replicas=3 updated=1 ready=2 available=2 unavailable=1 observedGeneration=4`
	if s := strings.Join(got, "\n"); s != want {
		t.Errorf("conditions:\n%s\nwant:\n%s", s, want)
	}
}
