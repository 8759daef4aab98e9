package registry

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
)

func newRegistry(t *testing.T) *Registry {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := New(Config{Store: st, Now: func() time.Time { return time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) }})
	if _, err := r.Create(context.Background(), resource.Namespaces, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return r
}

func mustCreate(t *testing.T, r *Registry, obj runtime.Object) metav1.Object {
	t.Helper()
	info := resource.ConfigMaps
	if _, ok := obj.(*corev1.Secret); ok {
		info = resource.Secrets
	}
	out, err := r.Create(context.Background(), info, "default", obj, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return accessor(out)
}

// passes runs n passes of the namespace and garbage collection controllers.
func passes(r *Registry, n int) {
	for range n {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // an ended context makes RunControllers do one pass and return
		r.RunControllers(ctx, time.Hour)
	}
}

func configMap(name string, finalizers []string, owners ...metav1.Object) *corev1.ConfigMap {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Finalizers: finalizers}}
	for _, o := range owners {
		cm.OwnerReferences = append(cm.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: o.GetName(), UID: o.GetUID(),
			BlockOwnerDeletion: ptr(true)})
	}
	return cm
}

// state renders a ConfigMap as the store holds it: gone, or its deletion mark, finalizers and owners.
func state(t *testing.T, r *Registry, name string) string {
	t.Helper()
	obj, err := r.Get(resource.ConfigMaps, "default", name)
	if apierrors.IsNotFound(err) {
		return name + ": gone"
	}
	if err != nil {
		t.Fatal(err)
	}
	m := accessor(obj)
	var owners []string
	for _, o := range m.GetOwnerReferences() {
		owners = append(owners, o.Name)
	}
	return fmt.Sprintf("%s: deleting=%v finalizers=%v owners=%v", name, m.GetDeletionTimestamp() != nil, m.GetFinalizers(), owners)
}

func TestFinalizersHoldDeletion(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	mustCreate(t, r, configMap("held", []string{"example.com/a", "example.com/b"}))
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"delete marks", func() error {
			_, gone, err := r.Delete(ctx, resource.ConfigMaps, "default", "held", metav1.DeleteOptions{})
			if gone {
				return fmt.Errorf("reported gone")
			}
			return err
		}, "held: deleting=true finalizers=[example.com/a example.com/b] owners=[]"},
		{"no new finalizers while deleting", func() error {
			_, err := r.Update(ctx, resource.ConfigMaps, "default", "held", "", func(cur runtime.Object) (runtime.Object, error) {
				m := accessor(cur)
				m.SetFinalizers(append(m.GetFinalizers(), "example.com/c"))
				return cur, nil
			}, WriteOptions{})
			want := `ConfigMap "held" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted`
			if err == nil || err.Error() != want {
				return fmt.Errorf("got %v, want %s", err, want)
			}
			return nil
		}, "held: deleting=true finalizers=[example.com/a example.com/b] owners=[]"},
		{"first finalizer done", func() error { return r.Finalize(ctx, resource.ConfigMaps, "default", "held", "example.com/a") },
			"held: deleting=true finalizers=[example.com/b] owners=[]"},
		{"last finalizer done", func() error { return r.Finalize(ctx, resource.ConfigMaps, "default", "held", "example.com/b") },
			"held: gone"},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := state(t, r, "held"); got != s.want {
			t.Errorf("%s: got %s, want %s", s.name, got, s.want)
		}
	}
}

func TestFinalizeWithoutDeletionKeepsObject(t *testing.T) {
	r := newRegistry(t)
	mustCreate(t, r, configMap("kept", []string{"example.com/a"}))
	if err := r.Finalize(context.Background(), resource.ConfigMaps, "default", "kept", "example.com/a"); err != nil {
		t.Fatal(err)
	}
	if got, want := state(t, r, "kept"), "kept: deleting=false finalizers=[] owners=[]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestGarbageCollection(t *testing.T) {
	ctx := context.Background()
	orphan := metav1.DeletePropagationOrphan
	tests := []struct {
		name string
		// policy deletes "owner" with this propagation policy (nil: no policy).
		policy *metav1.DeletionPropagation
		want   string
	}{
		{"owner gone: dependents go, unless another owner lives", nil,
			"owner: gone\nsole: gone\nshared: deleting=false finalizers=[] owners=[owner other]\nstranger: gone"},
		{"orphan: dependents lose the reference and stay", &orphan,
			"owner: gone\nsole: deleting=false finalizers=[] owners=[]\nshared: deleting=false finalizers=[] owners=[other]\nstranger: gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRegistry(t)
			owner := mustCreate(t, r, configMap("owner", nil))
			other := mustCreate(t, r, configMap("other", nil))
			mustCreate(t, r, configMap("sole", nil, owner))
			mustCreate(t, r, configMap("shared", nil, owner, other))
			ghost := &metav1.ObjectMeta{Name: "ghost", UID: types.UID("never-existed")}
			mustCreate(t, r, configMap("stranger", nil, ghost))
			if _, _, err := r.Delete(ctx, resource.ConfigMaps, "default", "owner", metav1.DeleteOptions{PropagationPolicy: tt.policy}); err != nil {
				t.Fatal(err)
			}
			passes(r, 3) // one pass must do; more must not do anything else
			var got []string
			for _, n := range []string{"owner", "sole", "shared", "stranger"} {
				got = append(got, state(t, r, n))
			}
			if g := strings.Join(got, "\n"); g != tt.want {
				t.Errorf("after collection:\n%s\nwant\n%s", g, tt.want)
			}
		})
	}
}

func TestForegroundWaitsForDependents(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	owner := mustCreate(t, r, configMap("owner", nil))
	mustCreate(t, r, configMap("dep", []string{"example.com/slow"}, owner))
	fg := metav1.DeletePropagationForeground
	if _, _, err := r.Delete(ctx, resource.ConfigMaps, "default", "owner", metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil {
		t.Fatal(err)
	}
	passes(r, 3)
	want := "owner: deleting=true finalizers=[foregroundDeletion] owners=[]\ndep: deleting=true finalizers=[example.com/slow] owners=[owner]"
	if got := state(t, r, "owner") + "\n" + state(t, r, "dep"); got != want {
		t.Errorf("while the dependent is held:\n%s\nwant\n%s", got, want)
	}
	if err := r.Finalize(ctx, resource.ConfigMaps, "default", "dep", "example.com/slow"); err != nil {
		t.Fatal(err)
	}
	passes(r, 3)
	if got := state(t, r, "owner") + "\n" + state(t, r, "dep"); got != "owner: gone\ndep: gone" {
		t.Errorf("after the dependent's finalizer:\n%s\nwant owner: gone\ndep: gone", got)
	}
}

func TestSecretStringData(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	render := func(obj runtime.Object) string {
		s := obj.(*corev1.Secret)
		var kv []string
		for k, v := range s.Data {
			kv = append(kv, k+"="+string(v))
		}
		slices.Sort(kv)
		return fmt.Sprintf("data=%v stringData=%v", kv, s.StringData)
	}
	created := mustCreate(t, r, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"},
		Data:       map[string][]byte{"a": []byte("1"), "b": []byte("2")},
		StringData: map[string]string{"b": "from-string", "c": "3"}})
	if got, want := render(created.(runtime.Object)), "data=[a=1 b=from-string c=3] stringData=map[]"; got != want {
		t.Errorf("create: got %s, want %s", got, want)
	}
	updated, err := r.Update(ctx, resource.Secrets, "default", "s", "", func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.Secret).StringData = map[string]string{"a": "new"}
		return cur, nil
	}, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := render(updated), "data=[a=new b=from-string c=3] stringData=map[]"; got != want {
		t.Errorf("update: got %s, want %s", got, want)
	}
	stored, err := r.Get(resource.Secrets, "default", "s")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := render(stored), "data=[a=new b=from-string c=3] stringData=map[]"; got != want {
		t.Errorf("stored: got %s, want %s", got, want)
	}
}

// Every Namespace carries kubernetes.io/metadata.name, whatever the client sent, as upstream.
func TestNamespaceNameLabel(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team", Labels: map[string]string{"kubernetes.io/metadata.name": "forged"}}}
	if _, err := r.Create(ctx, resource.Namespaces, "", ns, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := r.Update(ctx, resource.Namespaces, "", "team", "", func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.Namespace).Labels = map[string]string{"env": "dev"}
		return cur, nil
	}, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(out.(*corev1.Namespace).Labels), "map[env:dev kubernetes.io/metadata.name:team]"; got != want {
		t.Errorf("labels %s, want %s", got, want)
	}
}

// Removing the last finalizer deletes the object in the same write: watchers see one DELETED,
// and no crash can leave a finalized object (or a terminating namespace) behind.
func TestLastFinalizerDeletesInOneWrite(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	if _, err := r.Create(ctx, resource.ConfigMaps, "default", configMap("f", []string{"example.com/hold"}), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, gone, err := r.Delete(ctx, resource.ConfigMaps, "default", "f", metav1.DeleteOptions{}); err != nil || gone {
		t.Fatalf("delete with a finalizer: gone=%v err=%v", gone, err)
	}
	w, err := r.Store().Watch(resource.ConfigMaps, "", r.Store().ResourceVersion())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if err := r.Finalize(ctx, resource.ConfigMaps, "default", "f", "example.com/hold"); err != nil {
		t.Fatal(err)
	}
	if e := <-w.Events(); e.Type != "DELETED" {
		t.Fatalf("first event after the last finalizer: %s, want DELETED", e.Type)
	}
	if got := state(t, r, "f"); got != "f: gone" {
		t.Errorf("%s", got)
	}
}

// What a crash could leave before deletions were one transaction: a finalized object still
// stored. A controller pass removes it.
func TestPassPurgesFinalizedLeftovers(t *testing.T) {
	r := newRegistry(t)
	now := metav1.NewTime(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	left := configMap("left", nil)
	left.Namespace, left.UID, left.DeletionTimestamp = "default", "u-left", &now
	if _, err := r.Store().Create(resource.ConfigMaps, left); err != nil {
		t.Fatal(err)
	}
	passes(r, 1)
	if got := state(t, r, "left"); got != "left: gone" {
		t.Errorf("%s", got)
	}
}

// The collector confirms an owner is gone with a fresh read before deleting a dependent.
func TestOwnersGoneReadsTheStore(t *testing.T) {
	r := newRegistry(t)
	ctx := context.Background()
	owner, err := r.Create(ctx, resource.ConfigMaps, "default", configMap("owner", nil), WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uid := accessor(owner).GetUID()
	for _, tt := range []struct {
		name string
		ref  metav1.OwnerReference
		want bool
	}{
		{"owner exists", metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: uid}, false},
		{"same name, other uid", metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "other"}, true},
		{"no such owner", metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "nope", UID: "x"}, true},
		{"kind not served", metav1.OwnerReference{APIVersion: "batch/v1", Kind: "Job", Name: "j", UID: "y"}, true},
	} {
		d := ref{info: resource.ConfigMaps, meta: store.Meta{Name: "dep", Namespace: "default", OwnerReferences: []metav1.OwnerReference{tt.ref}}}
		if got := r.ownersGone(d); got != tt.want {
			t.Errorf("%s: ownersGone = %v, want %v", tt.name, got, tt.want)
		}
	}
}
