package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podnet/podnet/api/resource"
)

var configmaps, _ = resource.Lookup(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"})
var namespaces, _ = resource.Lookup(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"})

func open(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func cm(ns, name, v string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data:       map[string]string{"k": v},
	}
}

func rvOf(obj runtime.Object) string { return obj.(metav1.Object).GetResourceVersion() }

func TestCRUDAndResourceVersions(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	steps := []struct {
		name    string
		do      func() (runtime.Object, error)
		wantRV  string
		wantErr func(error) bool
	}{
		{"create a", func() (runtime.Object, error) { return s.Create(configmaps, cm("ns1", "a", "1")) }, "1", nil},
		{"create b", func() (runtime.Object, error) { return s.Create(configmaps, cm("ns2", "b", "1")) }, "2", nil},
		{"create a again", func() (runtime.Object, error) { return s.Create(configmaps, cm("ns1", "a", "2")) }, "", apierrors.IsAlreadyExists},
		{"update a", func() (runtime.Object, error) {
			return s.Update(configmaps, "ns1", "a", func(cur runtime.Object) (runtime.Object, error) {
				cur.(*corev1.ConfigMap).Data["k"] = "2"
				return cur, nil
			})
		}, "3", nil},
		{"update a, no change", func() (runtime.Object, error) {
			return s.Update(configmaps, "ns1", "a", func(runtime.Object) (runtime.Object, error) { return nil, ErrNoChange })
		}, "3", nil},
		{"update missing", func() (runtime.Object, error) {
			return s.Update(configmaps, "ns1", "zz", func(cur runtime.Object) (runtime.Object, error) { return cur, nil })
		}, "", apierrors.IsNotFound},
		{"delete refused", func() (runtime.Object, error) {
			return s.Delete(configmaps, "ns2", "b", func(runtime.Object) error {
				return apierrors.NewConflict(configmaps.GroupResource(), "b", errors.New("no"))
			})
		}, "", apierrors.IsConflict},
		{"delete b", func() (runtime.Object, error) { return s.Delete(configmaps, "ns2", "b", nil) }, "4", nil},
		{"get b", func() (runtime.Object, error) { return s.Get(configmaps, "ns2", "b") }, "", apierrors.IsNotFound},
		{"get a", func() (runtime.Object, error) { return s.Get(configmaps, "ns1", "a") }, "3", nil},
	}
	for _, st := range steps {
		obj, err := st.do()
		if st.wantErr != nil {
			if err == nil || !st.wantErr(err) {
				t.Fatalf("%s: err = %v, want a matching error", st.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := rvOf(obj); got != st.wantRV {
			t.Fatalf("%s: resourceVersion %s, want %s", st.name, got, st.wantRV)
		}
	}
}

func TestListByNamespace(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	for _, c := range []*corev1.ConfigMap{cm("a", "x", ""), cm("ab", "y", ""), cm("a", "z", ""), cm("b", "w", "")} {
		if _, err := s.Create(configmaps, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Create(namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ns   string
		pred Predicate
		want string
	}{
		{"a", nil, "[a/x a/z]"},
		{"ab", nil, "[ab/y]"},
		{"", nil, "[a/x a/z ab/y b/w]"},
		{"", func(o runtime.Object) bool { return o.(*corev1.ConfigMap).Name != "x" }, "[a/z ab/y b/w]"},
	}
	for _, tc := range tests {
		objs, rv, err := s.List(configmaps, tc.ns, tc.pred)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, o := range objs {
			c := o.(*corev1.ConfigMap)
			names = append(names, c.Namespace+"/"+c.Name)
		}
		if got := fmt.Sprint(names); got != tc.want {
			t.Errorf("List(%q) = %s, want %s", tc.ns, got, tc.want)
		}
		if rv != 5 {
			t.Errorf("List rv = %d, want 5", rv)
		}
	}
}

func TestResourceVersionSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Create(configmaps, cm("a", "x", ""))
	s.Create(configmaps, cm("a", "y", ""))
	s.Close()
	s = open(t, path, Options{})
	if got := s.ResourceVersion(); got != 2 {
		t.Fatalf("after reopen rv = %d, want 2", got)
	}
	obj, err := s.Create(configmaps, cm("a", "z", ""))
	if err != nil {
		t.Fatal(err)
	}
	if rvOf(obj) != "3" {
		t.Fatalf("new object rv = %s, want 3", rvOf(obj))
	}
	// History starts empty after a restart: resuming from before it is 410 Gone.
	if _, err := s.Watch(configmaps, "", 1); !apierrors.IsResourceExpired(err) {
		t.Fatalf("watch from 1 after restart: %v, want Expired", err)
	}
}

func eventsOf(t *testing.T, w *Watcher, n int) string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		e, ok := <-w.Events()
		if !ok {
			t.Fatalf("watcher closed after %v: %v", out, w.Err())
		}
		out = append(out, fmt.Sprintf("%s %s/%s@%d", e.Type, e.Namespace, e.Name, e.RV))
	}
	return fmt.Sprint(out)
}

func TestWatch(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{History: 4})
	s.Create(configmaps, cm("a", "x", "")) // 1
	s.Create(configmaps, cm("b", "y", "")) // 2
	w, err := s.Watch(configmaps, "a", 0)  // replays a/x
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	s.Update(configmaps, "a", "x", func(o runtime.Object) (runtime.Object, error) { return o, nil }) // 3
	s.Create(namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}})                // 4, other resource
	s.Delete(configmaps, "a", "x", nil)                                                              // 5
	if got, want := eventsOf(t, w, 3), "[ADDED a/x@1 MODIFIED a/x@3 DELETED a/x@5]"; got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	// History holds 4 events (2..5): from 1 is still complete, from 0 is not.
	if _, err := s.Watch(configmaps, "", 1); err != nil {
		t.Fatalf("watch from 1: %v", err)
	}
	_, err = s.Watch(configmaps, "", 0)
	if !apierrors.IsResourceExpired(err) || err.Error() != "too old resource version: 0 (2)" {
		t.Fatalf("watch from 0: %v, want 410 too old resource version: 0 (2)", err)
	}
	if w2, err := s.Watch(configmaps, "", 3); err != nil || eventsOf(t, w2, 1) != "[DELETED a/x@5]" {
		t.Fatalf("watch from 3: %v", err)
	}
	w.Stop()
	w.Stop() // idempotent
	if _, ok := <-w.Events(); ok || w.Err() != nil {
		t.Fatalf("stopped watcher: open channel or err %v", w.Err())
	}
}

func TestSlowWatcherIsCutOff(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{WatchBuffer: 3})
	w, err := s.Watch(configmaps, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ { // nobody reads: writers must not block
		if _, err := s.Create(configmaps, cm("a", fmt.Sprint(i), "")); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for range w.Events() {
		n++
	}
	if n != 3 || !errors.Is(w.Err(), ErrTooSlow) {
		t.Fatalf("got %d events and err %v, want 3 and ErrTooSlow", n, w.Err())
	}
}

func TestDeletedEventCarriesLastState(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	s.Create(configmaps, cm("a", "x", "v"))
	w, _ := s.Watch(configmaps, "", 1)
	s.Delete(configmaps, "a", "x", nil)
	e := <-w.Events()
	if e.Type != watch.Deleted || e.Object.(*corev1.ConfigMap).Data["k"] != "v" || rvOf(e.Object) != "2" {
		t.Fatalf("deleted event %v %+v", e.Type, e.Object)
	}
}

// A write commits (and a List can see its resourceVersion) before its event is published: a
// watch started from that list must not get the event a second time.
func TestWatchSkipsEventsAtOrBeforeItsStart(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	s.Create(configmaps, cm("a", "x", "")) // 1
	w, err := s.Watch(configmaps, "", 2)   // as if a List had seen RV 2 before its event went out
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	s.hub.publish(&Event{Type: watch.Added, Resource: configmaps, RV: 2, Namespace: "a", Name: "late", Object: cm("a", "late", "")})
	s.Create(configmaps, cm("a", "y", "")) // 2 in the store, published as 2 again: must be skipped too
	s.Create(configmaps, cm("a", "z", "")) // 3
	if got, want := eventsOf(t, w, 1), "[ADDED a/z@3]"; got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
}

// Update can delete instead (ErrDelete): one transaction, one DELETED event with the last state.
func TestUpdateDeleteInstead(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{})
	s.Create(configmaps, cm("a", "x", "v1"))
	w, _ := s.Watch(configmaps, "", 1)
	defer w.Stop()
	out, err := s.Update(configmaps, "a", "x", func(cur runtime.Object) (runtime.Object, error) {
		cur.(*corev1.ConfigMap).Data["k"] = "last"
		return cur, ErrDelete
	})
	if err != nil || out.(*corev1.ConfigMap).Data["k"] != "last" {
		t.Fatalf("Update: %v %v", out, err)
	}
	if got, want := eventsOf(t, w, 1), "[DELETED a/x@2]"; got != want {
		t.Fatalf("events %s, want %s", got, want)
	}
	if _, err := s.Get(configmaps, "a", "x"); !apierrors.IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
}
