package workload

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/internal/regtest"
)

// start is the test clock's first instant.
var start = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a clock the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// env is a real store and registry, the controllers, and a fake kubelet (the test).
type env struct {
	t     *testing.T
	ctx   context.Context
	store *store.Store
	reg   *registry.Registry
	clk   *clock
	c     *Controllers
}

func newEnv(t *testing.T, hooks map[schema.GroupVersionResource]registry.Hook) *env {
	t.Helper()
	clk := &clock{t: start}
	reg, st := regtest.New(t, regtest.Options{Hooks: hooks, Now: clk.Now})
	return &env{t: t, ctx: context.Background(), store: st, reg: reg, clk: clk,
		c: New(Config{Registry: reg, Now: clk.Now, Resync: time.Hour})}
}

func (e *env) create(info *resource.Info, obj runtime.Object) runtime.Object {
	e.t.Helper()
	out, err := e.reg.Create(e.ctx, info, accessor(obj).GetNamespace(), obj, registry.WriteOptions{})
	if err != nil {
		e.t.Fatalf("create %s: %v", info.Kind, err)
	}
	return out
}

func (e *env) update(info *resource.Info, name, sub string, change func(obj runtime.Object)) {
	e.t.Helper()
	_, err := e.reg.Update(e.ctx, info, "default", name, sub, func(cur runtime.Object) (runtime.Object, error) {
		change(cur)
		return cur, nil
	}, registry.WriteOptions{})
	if err != nil {
		e.t.Fatalf("update %s %s: %v", info.Kind, name, err)
	}
}

func (e *env) pods() []*corev1.Pod {
	e.t.Helper()
	objs, _, err := e.reg.List(resource.Pods, "default", registry.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*corev1.Pod
	for _, o := range objs {
		out = append(out, o.(*corev1.Pod))
	}
	sort.Slice(out, func(i, j int) bool { return createdBefore(&out[i].ObjectMeta, &out[j].ObjectMeta) })
	return out
}

func (e *env) replicaSetList() []*appsv1.ReplicaSet {
	e.t.Helper()
	objs, _, err := e.reg.List(resource.ReplicaSets, "default", registry.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*appsv1.ReplicaSet
	for _, o := range objs {
		out = append(out, o.(*appsv1.ReplicaSet))
	}
	byRevision(out)
	return out
}

func (e *env) replicaSet(name string) *appsv1.ReplicaSet {
	e.t.Helper()
	obj, err := e.reg.Get(resource.ReplicaSets, "default", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return obj.(*appsv1.ReplicaSet)
}

func (e *env) deployment(name string) *appsv1.Deployment {
	e.t.Helper()
	obj, err := e.reg.Get(resource.Deployments, "default", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return obj.(*appsv1.Deployment)
}

// settle runs syncs of every ReplicaSet and Deployment until a round writes nothing; time
// stands still meanwhile, so the outcome is exactly one controller "step".
func (e *env) settle() {
	e.t.Helper()
	for round := 0; round < 50; round++ {
		rv := e.store.ResourceVersion()
		for _, rs := range e.replicaSetList() {
			if err := e.c.syncReplicaSet(e.ctx, rs.Namespace, rs.Name); err != nil {
				e.t.Fatalf("sync replicaset %s: %v", rs.Name, err)
			}
		}
		objs, _, err := e.reg.List(resource.Deployments, "default", registry.ListOptions{})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, o := range objs {
			if err := e.c.syncDeployment(e.ctx, "default", accessor(o).GetName()); err != nil {
				e.t.Fatalf("sync deployment %s: %v", accessor(o).GetName(), err)
			}
		}
		if e.store.ResourceVersion() == rv {
			return
		}
	}
	e.t.Fatal("controllers never settled")
}

// makeReady is the fake kubelet: the pod runs and is ready from now on.
func (e *env) makeReady(p *corev1.Pod) {
	e.t.Helper()
	now := metav1.NewTime(e.clk.Now())
	e.update(resource.Pods, p.Name, "status", func(obj runtime.Object) {
		pod := obj.(*corev1.Pod)
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	})
}

// readyOne makes the oldest pod that is not ready ready; false when there is none.
func (e *env) readyOne() bool {
	for _, p := range e.pods() {
		if !isPodReady(p) {
			e.makeReady(p)
			return true
		}
	}
	return false
}

func (e *env) readyAll() {
	for e.readyOne() {
	}
}

// rsSummary renders each ReplicaSet as "image spec/ready".
func (e *env) rsSummary() string {
	var parts []string
	for _, rs := range e.replicaSetList() {
		parts = append(parts, fmt.Sprintf("%s:%d/%d", rs.Spec.Template.Spec.Containers[0].Image,
			replicasOf(rs.Spec.Replicas), rs.Status.ReadyReplicas))
	}
	return strings.Join(parts, " ")
}

func labelsApp() map[string]string { return map[string]string{"app": "web"} }

func template(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labelsApp()},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func replicaSetObj(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labelsApp()},
			Template: template("busybox")},
	}
}

// deploymentObj is a deployment "web"; surge and unavailable are int-or-percent strings ("" for
// the defaults), strategy Recreate when recreate is set.
func deploymentObj(replicas int32, image, surge, unavailable string, recreate bool) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labelsApp()},
			Template: template(image)},
	}
	if recreate {
		d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
		return d
	}
	ru := &appsv1.RollingUpdateDeployment{}
	if surge != "" {
		v := intstr.Parse(surge)
		ru.MaxSurge = &v
	}
	if unavailable != "" {
		v := intstr.Parse(unavailable)
		ru.MaxUnavailable = &v
	}
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: ru}
	return d
}

func setImage(image string) func(runtime.Object) {
	return func(obj runtime.Object) { obj.(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Image = image }
}
